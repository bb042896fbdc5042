"""A model's training pipeline: a SageMaker Pipeline, its evaluation gate and its notifications.

preprocess -> train (or tune) -> evaluate -> evaluation gate (Lambda) -> condition ->
register the model + batch-transform the test split, or fail with the gate's reasons.
The model's code folder (training_scripts/ unless it names its own) ships as one CDK asset
(sourcedir.tar.gz). Failed
executions and new model packages reach an encrypted SNS topic through EventBridge.
"""

from __future__ import annotations

from pathlib import Path

import jsii
from aws_cdk import ArnFormat, CfnOutput, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

import naming
from catalog.images import debugger_rules_image, xgboost_image
from config import EnvironmentConfig
from config.environment import ModelConfig
from naming import MLFLOW_ARTIFACTS_PREFIX
from stacks.contracts import DataExports, Workloads
from stacks.foundation.execution_role import READ_GRANT, SageMakerExecutionRole
from stacks.foundation.job_permissions import (
    JOB_FOLLOW_UP_ACTIONS,
    JOB_NAMES_REASON,
    VPC_JOB_CREATE_ACTIONS,
    encrypted_in_platform_vpc,
    in_platform_vpc,
    job_resources,
    key_conditions,
)
from stacks.shared.compliance import acknowledge
from stacks.shared.removal import stateful_removal_policy
from stacks.shared.tracking_access import LOGGING_ACTIONS
from stacks.training.evaluation_gate import EvaluationGate, Tracking
from stacks.training.pipeline_definition import PipelineResources, build_definition
from stacks.training.source_tarball import SourceTarball

ROOT = Path(__file__).resolve().parents[2]


class TrainingPipelineStack(Stack):
    """One model's SageMaker pipeline, its evaluation gate, its code asset, and the notifications of its runs."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        env_config: EnvironmentConfig,
        model: ModelConfig,
        data: DataExports,
        data_key: kms.IKey,
        workloads: Workloads,
        **kwargs,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        cfg = env_config
        group = naming.model_package_group_name(cfg.name, model.name)
        pipeline_name = naming.pipeline_name(cfg.name, model.name)
        raw, artifacts = data.import_buckets(self, data_key)

        tracking = None
        if cfg.tracking.enabled:
            tracking = Tracking(
                env_name=cfg.name,
                server_arn=naming.mlflow_tracking_server_arn(cfg.name, self.region, self.account),
                experiment_name=naming.mlflow_experiment_name(cfg.name, model.name),
            )
        # The model's own code folder (default: the bundled training_scripts/), as its own asset.
        code = SourceTarball(self, "TrainingCode", source=(ROOT / model.code_dir).resolve())
        jobs = self.jobs_role(cfg, model, data, (raw, artifacts), data_key, workloads, code, tracking)
        gate = EvaluationGate(
            self,
            "EvaluationGate",
            artifacts=artifacts,
            artifacts_export=data.model_artifacts_bucket_arn,
            log_key=data_key,
            # The environment's one log-retention setting (network.flow_log_retention_days).
            log_retention_days=cfg.network.flow_log_retention_days,
            log_removal_policy=stateful_removal_policy(cfg),
            model_package_group=group,
            runs_prefix=naming.pipeline_runs_prefix(cfg.name, model.name),
            workloads=workloads,
            dead_letter_queue=cfg.gate_function.dead_letter_queue,
            reserved_concurrency=cfg.gate_function.reserved_concurrency,
            tracking=tracking,
        )

        source = model.dataset.source
        input_uri = source.uri or f"s3://{raw.bucket_name}/{model.input_uri_key}"
        definition = build_definition(
            model,
            PipelineResources(
                env_name=cfg.name,
                model_name=model.name,
                config_file=cfg.source_file,
                input_uri=input_uri,
                allowed_inputs=(f"s3://{raw.bucket_name}/{model.name}/", *((source.uri,) if source.uri else ())),
                image_uri=xgboost_image(cfg.region, model.framework_version),
                debugger_image_uri=debugger_rules_image(cfg.region) if model.training.debugger.rules else None,
                jobs_role_arn=jobs.role.role_arn,
                artifacts_bucket=artifacts.bucket_name,
                kms_key_arn=data_key.key_arn,
                code_uri=code.asset.s3_object_url,
                code_file=code.file_name,
                gate_function_arn=gate.function.function_arn,
                model_package_group=group,
                subnet_ids=workloads.subnet_ids,
                security_group_ids=[workloads.security_group.security_group_id],
                tracking_uri=tracking.server_arn if tracking else None,
                experiment_name=tracking.experiment_name if tracking else None,
            ),
        )
        role = self.pipeline_role(cfg, model, group, artifacts, data, data_key, workloads, jobs, gate)
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=pipeline_name,
            pipeline_display_name=pipeline_name,
            pipeline_description=f"{cfg.name}: preprocess, train, evaluate, gate and register the {model.name} model",
            role_arn=role.role.role_arn,
            pipeline_definition={"PipelineDefinitionBody": self.to_json_string(definition)},
        )
        # The pipeline needs its role's policy from its first execution on (the role itself: through RoleArn).
        self.pipeline.node.add_dependency(role.default_policy())
        self.pipeline_arn = self.format_arn(service="sagemaker", resource="pipeline", resource_name=pipeline_name)
        self.topic = self.notifications(cfg, model.name, group)
        # The model's Serving stack imports the topic; unsetting its model_package_arn leaves that stack deployed
        # (cdk deploy deletes no stack), so the export stays, or this stack's update fails ("in use by ...-Serving").
        self.export_value(self.topic.topic_arn)
        CfnOutput(self, "PipelineName", value=pipeline_name)
        CfnOutput(self, "ModelPackageGroupName", value=group)
        CfnOutput(self, "NotificationTopicArn", value=self.topic.topic_arn)
        CfnOutput(self, "EvaluationGateFunctionName", value=gate.function.function_name)

    def jobs_role(self, cfg: EnvironmentConfig, model: ModelConfig, data: DataExports, buckets: tuple[s3.IBucket, s3.IBucket],
                  data_key: kms.IKey, workloads: Workloads, code: SourceTarball, tracking: Tracking | None) -> SageMakerExecutionRole:
        """The role every step of this model's pipeline runs as (its processing, training and tuning jobs, and the
        batch-transform model): it reads this model's data and code only, and writes under this model's runs prefix
        only (and MLflow's artifact store, with tracking on). Another model's jobs, whose code a different team may
        write, have their own role: neither can read the other's data nor rewrite the other's registered models."""
        jobs = SageMakerExecutionRole(
            self, "Jobs", description=f"{cfg.name}: the {model.name} pipeline's processing, training and transform jobs",
            role_name=naming.pipeline_jobs_role_name(cfg.name, model.name),  # naming.pipeline_jobs_role_name says why
        )
        raw, artifacts = buckets
        # An execution's input may be this model's prefix of the raw-data bucket (PipelineResources.allowed_inputs):
        # those objects, and listing only under that prefix (Bucket.grant_read would list every model's keys). The data
        # key's Decrypt comes with the artifacts grant below: both buckets use it.
        raw_data = f"{model.name}/*"
        jobs.allow("ReadModelData", ["s3:GetObject"], [f"{raw.bucket_arn}/{raw_data}"],
                   wildcard_reason=f"this model's objects of the raw-data bucket ({raw_data}); their keys are data.",
                   token_wildcards=(f"{data.raw_data_bucket_arn}/{raw_data}",))
        jobs.allow("ListModelData", ["s3:ListBucket"], [raw.bucket_arn], {"StringLike": {"s3:prefix": [raw_data]}})
        jobs.allow("LocateRawDataBucket", ["s3:GetBucketLocation"], [raw.bucket_arn])
        writes = [f"{naming.pipeline_runs_prefix(cfg.name, model.name)}/*"]
        if tracking:
            writes.append(f"{MLFLOW_ARTIFACTS_PREFIX}/*")  # the MLflow client writes run artifacts directly
        jobs.grant_writes_under(artifacts, data.model_artifacts_bucket_arn, writes, read_whole_bucket=False)
        # Exactly the code object: Bucket.grant_read would open the whole CDK assets bucket. SageMaker lists the S3
        # prefix of an input before copying it, so ListBucket, for that one key only.
        self.read_object(jobs, "TrainingCode", code.asset.bucket.bucket_arn, code.asset.s3_object_key)
        if model.dataset.source.uri:
            # The model's data_file is in S3 outside the data lake: that one object.
            bucket, key = model.dataset.source.uri.removeprefix("s3://").split("/", 1)
            self.read_object(jobs, "InputData", f"arn:{self.partition}:s3:::{bucket}", key)
        jobs.allow_log_groups("ProcessingJobs", "TrainingJobs", "TransformJobs")
        jobs.allow_key_grants_for_aws_resources(data_key)
        jobs.allow_sagemaker_metrics()
        jobs.allow_image_pull(xgboost_image(cfg.region, model.framework_version),
                              *([debugger_rules_image(cfg.region)] if model.training.debugger.rules else []))
        jobs.allow_vpc_networking(workloads.vpc)
        if tracking:
            jobs.allow("LogToTrackingServer", LOGGING_ACTIONS, [tracking.server_arn])
        acknowledge(
            jobs.role,
            "Inline policy written by CDK grants for this one role only; it is created, reviewed and deleted "
            "with the role, so it cannot drift or be shared the way the rule guards against.",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        return jobs

    def pipeline_role(self, cfg: EnvironmentConfig, model: ModelConfig, group: str, artifacts: s3.IBucket, data: DataExports,
                      data_key: kms.IKey, workloads: Workloads, jobs: SageMakerExecutionRole, gate: EvaluationGate) -> SageMakerExecutionRole:
        """The role SageMaker Pipelines runs this model's executions as: it starts this model's jobs (in the platform VPC,
        output on the data key) as this model's jobs role, invokes this model's gate and registers into this model's
        group only; the jobs themselves touch the data. A role per model: no execution of one model can pass another's
        jobs role or register into another's group, and no model adds to a shared role's IAM size quota."""
        role = SageMakerExecutionRole(self, "Executions", description=f"{cfg.name}: the {model.name} pipeline's executions")
        runs = f"{naming.pipeline_runs_prefix(cfg.name, model.name)}/*"
        artifacts.grant_read(role.role, runs)
        role.acknowledge_grant_wildcards(
            f"Bucket.grant_read() under {runs} of the bucket exported as {data.model_artifacts_bucket_arn} (this model's "
            "runs, keys chosen per run; the action wildcards are CDK's grant set); KMS decryption with the data key only.",
            *READ_GRANT, f"Resource::{data.model_artifacts_bucket_arn}/{runs}",
        )
        jobs_of_any_run = job_resources(role)
        role.allow("LaunchEncryptedJobsInPlatformVpc", VPC_JOB_CREATE_ACTIONS, jobs_of_any_run,
                   encrypted_in_platform_vpc(workloads, data_key.key_arn), wildcard_reason=JOB_NAMES_REASON)
        # Transform jobs run in the VPC of their model, whose creation is VPC-bound; their output takes the data key.
        role.allow("LaunchEncryptedTransformJobs", ["sagemaker:CreateTransformJob"], [role.arn("sagemaker", "transform-job/*")],
                   key_conditions(data_key.key_arn), wildcard_reason=JOB_NAMES_REASON)
        role.allow("CreateModelsInPlatformVpc", ["sagemaker:CreateModel"], [role.arn("sagemaker", "model/*")],
                   in_platform_vpc(workloads), wildcard_reason=JOB_NAMES_REASON)
        role.allow("FollowPipelineJobs", JOB_FOLLOW_UP_ACTIONS, jobs_of_any_run, wildcard_reason=JOB_NAMES_REASON)
        versions = role.arn("sagemaker", f"model-package/{group}/*")
        role.allow(
            "ReadOwnRegistry",
            ["sagemaker:DescribeModel", "sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup", "sagemaker:AddTags"],
            [role.arn("sagemaker", "model/*"), versions, role.arn("sagemaker", f"model-package-group/{group}")],
            wildcard_reason=f"models and versions of the {group} group are created per run with generated names or numbers.",
        )
        # A version registers with an approval status the config allows, or a stricter one: an execution started with
        # ModelApprovalStatus=Approved cannot skip the review the config asks for. The definition offers only those
        # values, but AWS does not document that a start outside EnumValues is refused: this is what enforces it, for a
        # definition edited by hand too.
        statuses = list(model.evaluation.allowed_approval_statuses)
        role.allow(f"Register{statuses[0]}OrStricter", ["sagemaker:CreateModelPackage"], [versions],  # configured first
                   {"StringEquals": {"sagemaker:ModelApprovalStatus": statuses}},
                   wildcard_reason=f"versions of the {group} group get their numbers at registration.")
        role.allow_key_grants_for_aws_resources(data_key)
        role.allow_pass_role(jobs.role)
        role.allow("InvokeEvaluationGate", ["lambda:InvokeFunction"], [gate.function.function_arn])
        acknowledge(
            role.role,
            "Inline policy written by CDK grants for this one role only; it is created, reviewed and deleted "
            "with the role, so it cannot drift or be shared the way the rule guards against.",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        return role

    @staticmethod
    def read_object(role: SageMakerExecutionRole, what: str, bucket_arn: str, key: str) -> None:
        """GetObject on one object, and ListBucket for that key only (SageMaker lists an input's prefix first)."""
        role.allow(f"Read{what}", ["s3:GetObject"], [f"{bucket_arn}/{key}"])
        role.allow(f"List{what}", ["s3:ListBucket"], [bucket_arn], {"StringEquals": {"s3:prefix": [key]}})

    def notifications(self, cfg: EnvironmentConfig, model: str, group: str) -> sns.Topic:
        """Failed executions and new model packages, through EventBridge, to an encrypted topic."""
        key = kms.Key(
            self,
            "NotificationsKey",
            enable_key_rotation=True,
            description=f"Encrypts the notifications of the {cfg.name} {model} training pipeline and endpoint",
            removal_policy=stateful_removal_policy(cfg),
        )
        # EventBridge encrypts what it publishes to the topic with this key.
        key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:GenerateDataKey*", "kms:Decrypt")
        # So do the serving stack's CloudWatch alarms: only alarms of this account and region.
        alarms = self.format_arn(service="cloudwatch", resource="alarm", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME)
        from_our_alarms = {"StringEquals": {"aws:SourceAccount": self.account}, "ArnLike": {"aws:SourceArn": alarms}}
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsOfThisAccount", principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:GenerateDataKey*", "kms:Decrypt"], resources=["*"], conditions=from_our_alarms,
        ))
        topic = sns.Topic(self, "Notifications", master_key=key, enforce_ssl=True, display_name=f"{cfg.name} {model} notifications")
        # A topic policy replaces SNS's default one: CloudWatch may publish only where it says so.
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsOfThisAccount", principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"], resources=[topic.topic_arn], conditions=from_our_alarms,
        ))
        field = events.EventField.from_path
        rules: list[events.Rule] = []

        def notify(id_: str, description: str, detail_type: str, detail: dict, message: str) -> None:
            rule = events.Rule(
                self, id_, description=f"{cfg.name}: {description}",
                event_pattern=events.EventPattern(source=["aws.sagemaker"], detail_type=[detail_type], detail=detail),
            )
            # The topic as a plain target: targets.SnsTopic would also add a topic-policy statement that lets
            # events.amazonaws.com publish for any rule, unconditioned; the one below names these rules only.
            rule.add_target(_TopicTarget(topic, events.RuleTargetInput.from_text(message)))
            rules.append(rule)

        notify(
            "PipelineFailed", "a training pipeline execution failed",
            "SageMaker Model Building Pipeline Execution Status Change",
            {"currentPipelineExecutionStatus": ["Failed"], "pipelineArn": [self.pipeline_arn]},
            f"Training pipeline {naming.pipeline_name(cfg.name, model)} of model {model} failed: execution {field('$.detail.pipelineExecutionArn')}",
        )
        notify(
            "ModelPackageRegistered", "a model version was registered, or its approval changed, and is not approved",
            "SageMaker Model Package State Change",
            {"ModelPackageGroupName": [group], "ModelApprovalStatus": [{"anything-but": ["Approved"]}]},
            f"Model package {field('$.detail.ModelPackageArn')} in {group} is {field('$.detail.ModelApprovalStatus')}",
        )
        # Serving an approved version is a reviewed change to config/<env>.yaml: the message says how.
        notify(
            "ModelPackageApproved", "a model version was approved: promote it with a pull request",
            "SageMaker Model Package State Change",
            {"ModelPackageGroupName": [group], "ModelApprovalStatus": ["Approved"]},
            f"Model package {field('$.detail.ModelPackageArn')} in {group} was approved. To serve it in "
            f"{cfg.name}, run: {naming.promote_command(cfg.name, model, field('$.detail.ModelPackageArn'))} "
            f"and open a pull request with the change to {cfg.source_file}.",
        )
        # EventBridge publishes for these three rules only: aws:SourceArn is the rule (EventBridge User Guide,
        # "Using resource-based policies for Amazon EventBridge" and its confused-deputy prevention page).
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="TheseEventRules", principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sns:Publish"], resources=[topic.topic_arn],
            conditions={"ArnEquals": {"aws:SourceArn": [rule.rule_arn for rule in rules]}},
        ))
        return topic


@jsii.implements(events.IRuleTarget)
class _TopicTarget:
    """An SNS topic as a rule target, with no grant of its own (the caller's topic policy says who may publish)."""

    def __init__(self, topic: sns.ITopic, message: events.RuleTargetInput) -> None:
        self._topic, self._message = topic, message

    def bind(self, _rule: events.IRule, _id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self._topic.topic_arn, input=self._message)
