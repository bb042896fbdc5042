"""The delivery pipeline's configuration: config/delivery.yaml, optional.

Without the file the app synthesizes the environments alone (deployed by hand with
`cdk deploy 'dev/*'`). With it, a CDK Pipelines pipeline in a tooling account deploys the
listed environments from git, in the order listed. Nothing here has a default that could
deploy a broken pipeline: the repository, branch and connection must be named.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from config.environment import LOG_RETENTION_DAYS, AccountId, EnvironmentConfig, Region
from config.fields import StrictModel, one_of

#: The file's name inside the config directory; no environment may be called "delivery".
DELIVERY_FILE = "delivery.yaml"

#: A CodeConnections (or its older name, CodeStar Connections) connection ARN.
CONNECTION_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):(?:codeconnections|codestar-connections):(?P<region>[a-z0-9-]+):"
    r"(?P<account>\d{12}):connection/(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
#: owner/name as GitHub, GitLab and Bitbucket spell a repository.
REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}/[A-Za-z0-9_.][A-Za-z0-9_.-]{0,99}$")
#: A branch name git accepts (git check-ref-format, the parts that matter for a config value).
_BAD_BRANCH = re.compile(r"(^[/.-])|([/.]$)|(\.\.)|(//)|(@\{)|([\x00-\x20~^:?*\[\\\x7f])|(\.lock$)|(/\.)")

#: Environments whose name starts with this deploy only after a person approves.
APPROVAL_REQUIRED = "prod"

#: Account ids that stand for "yours" in the shipped config files and in AWS's documentation examples: valid to
#: synthesize (the tests and the emulator use them), never an account a pipeline can deploy to.
PLACEHOLDER_ACCOUNTS = frozenset({"111111111111", "123456789012", "222222222222", "333333333333", "111122223333",
                                  "444455556666"})


def _connection_arn(value: str) -> str:
    if not CONNECTION_ARN.fullmatch(value):
        raise ValueError(
            "not a connection ARN (allowed: arn:aws:codeconnections:<region>:<12-digit account>:connection/<uuid>, "
            "from the console's Developer Tools > Settings > Connections)"
        )
    return value


def _repository(value: str) -> str:
    if not REPOSITORY.fullmatch(value) or value.endswith(".git"):
        raise ValueError("must be owner/name of the repository (e.g. my-org/sagemaker-platform), without .git or a URL")
    return value


def _branch(value: str) -> str:
    if not value or len(value) > 255 or _BAD_BRANCH.search(value):
        raise ValueError("not a git branch name (allowed: e.g. main or release/v2; no spaces, '..', '~^:?*[\\' or '@{')")
    return value


class DeliveryStage(StrictModel):
    """One environment the pipeline deploys, with what guards it."""

    environment: Annotated[str, Field(min_length=1)]
    #: A person approves in CodePipeline before anything of this environment deploys.
    approval: bool = False
    #: After the deploy, the smoke test invokes the environment's endpoint and checks a prediction.
    smoke_test: bool = False


class DeliveryConfig(StrictModel):
    """The pipeline: where it runs, which repository and branch it follows, what it deploys."""

    #: The tooling account and region that hold the pipeline (may equal an environment's).
    account: AccountId
    region: Region
    repository: Annotated[str, AfterValidator(_repository)]
    branch: Annotated[str, AfterValidator(_branch)]
    connection_arn: Annotated[str, AfterValidator(_connection_arn)]
    stages: Annotated[list[DeliveryStage], Field(min_length=1)]
    #: How long CloudWatch Logs keeps each build's log (synth, self-mutation, assets, smoke tests): the record of
    #: what was tested and deployed where. A CloudWatch Logs retention value.
    log_retention_days: Annotated[int, one_of(LOG_RETENTION_DAYS)] = 365

    @model_validator(mode="after")
    def _connection_in_pipeline_account(self) -> DeliveryConfig:
        match = CONNECTION_ARN.fullmatch(self.connection_arn)
        account = match["account"] if match else None  # the field's own check has refused anything else
        if account != self.account:
            raise ValueError(
                f"connection_arn: the connection belongs to account {account}, the pipeline runs in {self.account} "
                "(allowed: a connection created in the pipeline's account)"
            )
        names = [stage.environment for stage in self.stages]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"stages: each environment is deployed once; repeated: {', '.join(repeated)}")
        return self

    def check_environments(self, environments: list[EnvironmentConfig]) -> list[str]:
        """What is wrong with the stages against the environment files, every stage's problems in stage order (empty
        when nothing is): each must name an environment file in the pipeline's region, without cross-region
        replication; prod* environments must wait for approval."""
        known = {env.name: env for env in environments}
        problems = []
        for index, stage in enumerate(self.stages):
            if stage.environment not in known:
                problems.append(
                    f"stages[{index}].environment = {stage.environment!r}: no such environment "
                    f"(allowed: {', '.join(sorted(known))})"
                )
            elif known[stage.environment].region != self.region:
                problems.append(
                    f"stages[{index}].environment: {stage.environment} is in {known[stage.environment].region}, the "
                    f"pipeline in {self.region} (allowed: environments in the pipeline's region; another region needs "
                    "a pipeline of its own)"
                )
            elif (replication := known[stage.environment].data.replication) is not None:
                problems.append(
                    f"stages[{index}].environment: {stage.environment} replicates its model artifacts to "
                    f"{replication.region} (data.replication), a stack in another region, which this pipeline does not "
                    "deploy yet (allowed: an environment without data.replication; deploy that one with cdk deploy)"
                )
            if stage.environment.startswith(APPROVAL_REQUIRED) and not stage.approval:
                problems.append(
                    f"stages[{index}].approval: {stage.environment} deploys to production and must wait for a "
                    "person (allowed: true)"
                )
        return problems


def delivery_file(config_dir: Path) -> Path:
    return Path(config_dir) / DELIVERY_FILE
