"""The delivery pipeline's invariants over whatever config/ holds.

test_delivery_stack checks the pipeline of a fixture delivery.yaml in detail. This module checks what
must hold for any valid one, on the user's own config/: their delivery.yaml when they have committed
one, otherwise one that deploys each of their environments in the first one's region (others first,
prod* last and approved, smoke-tested where an endpoint is served). So a team that edits its
environments or its pipeline finds out in `make unit`, not in its tooling account, whether its
pipeline still deploys every stack of each environment with that environment's own deploy role, in
the order it listed, behind an approval where it asked for one, with smoke tests after the deploy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from config import ConfigError, environment_files, load_delivery, load_environments
from config.delivery import APPROVAL_REQUIRED, DELIVERY_FILE, DeliveryConfig
from tests.helpers.assembly import synth_app
from tests.helpers.delivery import deploy_actions, pipeline_actions, pipeline_grant_and_lint_problems, pipeline_properties
from tests.helpers.paths import USER_CONFIG_DIR

TOOLING = "111111111111"


def generated_delivery(config_dir: Path, region: str | None = None) -> dict:
    """A delivery.yaml for the user's environments, as the loader accepts it (docs/delivery.md's rules): those in
    ``region`` (default: the first's that does not replicate) without data.replication."""
    environments = [env for env in load_environments(config_dir) if env.data.replication is None]  # the loader's rule
    region = region or environments[0].region
    deployable = [env for env in environments if env.region == region]
    ordered = sorted(deployable, key=lambda env: (env.name.startswith(APPROVAL_REQUIRED), env.name))
    return pipeline_in(region, [{"environment": env.name, "approval": env.name.startswith(APPROVAL_REQUIRED),
                                 "smoke_test": index > 0} for index, env in enumerate(ordered)])


def pipeline_in(region: str, stages: list[dict]) -> dict:
    return {
        "account": TOOLING,
        "region": region,
        "repository": "my-org/sagemaker-platform",
        "branch": "main",
        "connection_arn": f"arn:aws:codeconnections:{region}:{TOOLING}:connection/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
        "stages": stages,
    }


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("config")
    for source in environment_files(USER_CONFIG_DIR):
        shutil.copy(source, target / source.name)
    if (USER_CONFIG_DIR / DELIVERY_FILE).is_file():
        shutil.copy(USER_CONFIG_DIR / DELIVERY_FILE, target / DELIVERY_FILE)
        return target
    if all(env.data.replication is not None for env in load_environments(target)):
        # No pipeline can deploy an environment that replicates (the last test shows it refused): the invariants are
        # checked on the same environments without data.replication, the pipeline the team gets once it drops it.
        for path in environment_files(target):
            data = yaml.safe_load(path.read_text())
            data["data"].pop("replication")
            path.write_text(yaml.safe_dump(data, sort_keys=False))
    (target / DELIVERY_FILE).write_text(yaml.safe_dump(generated_delivery(target), sort_keys=False))
    return target


@pytest.fixture(scope="module")
def delivery(config_dir) -> DeliveryConfig:
    loaded = load_delivery(config_dir, load_environments(config_dir))
    assert loaded is not None
    return loaded


@pytest.fixture(scope="module")
def out(tmp_path_factory, config_dir) -> Path:
    outdir = tmp_path_factory.mktemp("cdk.out.delivery-invariants")
    synth_app(outdir, config_dir)
    return outdir


@pytest.fixture(scope="module")
def pipeline(out) -> dict:
    return pipeline_properties(out)


def stacks_of(out: Path, env: str) -> dict[str, str]:
    """The environment's stacks as synthesized: stack name -> aws://account/region."""
    manifest = json.loads((out / f"assembly-{env}" / "manifest.json").read_text())
    return {a["properties"]["stackName"]: a["environment"] for a in manifest["artifacts"].values()
            if a["type"] == "aws:cloudformation:stack"}


def test_the_pipeline_deploys_the_environments_in_the_order_listed_after_its_own_update(pipeline, delivery):
    assert [s["Name"] for s in pipeline["Stages"]] == [
        "Source", "Build", "UpdatePipeline", "Assets", *(stage.environment for stage in delivery.stages)]


def test_each_environment_deploys_every_one_of_its_stacks_with_its_own_accounts_deploy_role(pipeline, delivery, out):
    for stage in delivery.stages:
        stacks = stacks_of(out, stage.environment)
        actions = deploy_actions(pipeline_actions(pipeline, stage.environment))
        assert sorted(a["Configuration"]["StackName"] for a in actions) == sorted(stacks), stage.environment
        for action in actions:
            account, region = stacks[action["Configuration"]["StackName"]].removeprefix("aws://").split("/")
            role = json.dumps(action["RoleArn"])
            assert f":iam::{account}:role/cdk-hnb659fds-deploy-role-{account}-{region}" in role, action["Name"]


def test_an_approval_comes_before_any_deploy_exactly_where_the_stage_asks_for_one(pipeline, delivery):
    for stage in delivery.stages:
        actions = pipeline_actions(pipeline, stage.environment)
        approvals = [a for a in actions if a["ActionTypeId"]["Category"] == "Approval"]
        assert len(approvals) == (1 if stage.approval else 0), stage.environment
        if stage.environment.startswith(APPROVAL_REQUIRED):
            assert stage.approval  # the loader refuses a prod* stage without one
        for approval in approvals:
            assert approval["ActionTypeId"]["Provider"] == "Manual"
            assert approval["RunOrder"] < min(a["RunOrder"] for a in deploy_actions(actions))


def test_smoke_tests_follow_every_deploy_one_per_served_model_and_only_where_asked(pipeline, delivery, out):
    samples = Path(__file__).resolve().parents[2] / "delivery" / "samples"
    for stage in delivery.stages:
        actions = pipeline_actions(pipeline, stage.environment)
        smoke = [a for a in actions if a["ActionTypeId"]["Provider"] == "CodeBuild"]
        served = sorted(name.removeprefix(f"{stage.environment}-").removesuffix("-Serving")
                        for name in stacks_of(out, stage.environment) if name.endswith("-Serving"))
        expected = [m for m in served if (samples / f"{m}.csv").is_file()] if stage.smoke_test else []
        assert sorted(a["Name"] for a in smoke) == [f"SmokeTest-{m}" for m in expected], stage.environment
        for action in smoke:
            assert action["RunOrder"] > max(a["RunOrder"] for a in deploy_actions(actions))


def test_the_pipeline_template_is_cfn_lint_clean_and_grants_no_admin_rights(out):
    """No wildcard action, no IAM action and no AWS-managed policy on any role CDK Pipelines writes."""
    assert pipeline_grant_and_lint_problems(out) == []


def test_an_environment_the_pipeline_cannot_deploy_is_refused_as_a_stage_by_name(tmp_path):
    """What the generated pipeline leaves out is not silently deployable: a stage naming an environment in another
    region than the pipeline's, or one with data.replication, is refused in one line. Checked on the user's own such
    environments and on two made from their first file (one moved to another region, one replicating)."""
    for source in environment_files(USER_CONFIG_DIR):
        shutil.copy(source, tmp_path / source.name)
    first = yaml.safe_load(environment_files(USER_CONFIG_DIR)[0].read_text())
    for model in (first.get("models") or {}).values():  # a version named there is of that environment's own group
        serving = model.get("serving") or {}
        serving.pop("model_package_arn", None)
        (serving.get("monitoring") or {}).pop("baseline_prefix", None)
    region = first["region"]
    elsewhere_region = "eu-west-1" if region != "eu-west-1" else "us-west-2"
    elsewhere = yaml.safe_load(yaml.safe_dump(first).replace(region, elsewhere_region))
    elsewhere.get("data", {}).pop("replication", None)
    replicating = {**first, "data": {**(first.get("data") or {}), "replication": {"region": elsewhere_region}}}
    (tmp_path / "zzelsewhere.yaml").write_text(yaml.safe_dump(elsewhere))
    (tmp_path / "zzreplicating.yaml").write_text(yaml.safe_dump(replicating))
    environments = load_environments(tmp_path)
    left_out = [env for env in environments if env.region != region or env.data.replication is not None]
    assert {"zzelsewhere", "zzreplicating"} <= {env.name for env in left_out}
    for env in left_out:
        (tmp_path / DELIVERY_FILE).write_text(yaml.safe_dump(pipeline_in(region, [{"environment": env.name, "approval": True}])))
        with pytest.raises(ConfigError) as refused:
            load_delivery(tmp_path, environments)
        (problem,) = refused.value.problems
        assert problem.endswith("(allowed: environments in the pipeline's region; another region needs a pipeline of its own)"
                                if env.region != region else "deploy that one with cdk deploy)"), problem
