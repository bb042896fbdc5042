"""Execution roles: one per kind of workload, each with only the grants it needs.

No AWS-managed *FullAccess policy is attached anywhere; buckets and the key grant
access through grant_*(), SageMaker actions are scoped to resource types in this
account and region, and iam:PassRole names the exact roles it may pass.
"""

from __future__ import annotations

from aws_cdk import Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from catalog.images import model_monitor_image, xgboost_image
from config import EnvironmentConfig
from naming import BASELINE_KEYS, DATA_CAPTURE_PREFIX, MLFLOW_ARTIFACTS_PREFIX, MONITORING_REPORTS_PREFIX, NOTEBOOKS_PREFIX
from stacks.contracts import DataExports, Workloads
from stacks.foundation.execution_role import KMS_GRANT, READ_GRANT, WRITE_GRANT, SageMakerExecutionRole
from stacks.foundation.job_permissions import (
    JOB_FOLLOW_UP_ACTIONS,
    JOB_NAMES_REASON,
    VPC_JOB_CREATE_ACTIONS,
    encrypted_in_platform_vpc,
    job_resources,
)
from stacks.shared.compliance import acknowledge
from stacks.shared.tracking_access import (
    LOGGING_ACTIONS,
    NOTEBOOK_ACTIONS,
    UI_ACTION,
    UI_URL_ACTIONS,
    tracking_server_arn,
)

#: Where notebooks, and the jobs they start, may write in the model-artifacts bucket: the SDK's default prefix there
#: and MLflow's artifact store (shared with the pipelines' runs: the server chooses its keys by experiment and run,
#: and MLflow clients write them directly). The pipelines' outputs (models, evaluation reports, baselines, batch
#: predictions) are read-only to them.
EXPERIMENT_WRITES = (f"{NOTEBOOKS_PREFIX}/*", f"{MLFLOW_ARTIFACTS_PREFIX}/*")


class ExecutionRolesStack(Stack):
    """Roles for notebooks, the jobs notebooks start and Model Monitor. Each model's pipeline, its jobs and its endpoint
    have roles of their own, in the model's TrainingPipelineStack and ServingStack."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        env_config: EnvironmentConfig,
        data: DataExports,
        workloads: Workloads,
        notebook_names: list[str],
        **kwargs,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        env_name = env_config.name
        key = kms.Key.from_key_arn(self, "DataKey", Fn.import_value(data.key_arn))
        # The image every model's jobs and endpoints run (one repository for every framework version).
        xgboost_images = sorted({xgboost_image(env_config.region, m.framework_version) for m in env_config.models.values()})
        raw, artifacts = data.import_buckets(self, key)

        def grant_bucket(role: SageMakerExecutionRole, bucket: s3.IBucket, export: str, *, write: bool) -> None:
            (bucket.grant_read_write if write else bucket.grant_read)(role.role)
            role.acknowledge_grant_wildcards(
                f"Bucket.grant_{'read_write' if write else 'read'}() on the one bucket exported as {export}: "
                "object keys are data, unknown at synth time, and the action wildcards are CDK's grant sets "
                "(GetObject/GetObjectVersion/..., List*, GetBucket*); with KMS data-key use on the data key only.",
                *READ_GRANT, *(WRITE_GRANT + KMS_GRANT if write else ()),
                f"Resource::{export}/*",
            )

        def grant_experiment_writes(role: SageMakerExecutionRole) -> None:
            """Read the whole artifacts bucket, write only under EXPERIMENT_WRITES."""
            role.grant_writes_under(artifacts, data.model_artifacts_bucket_arn, list(EXPERIMENT_WRITES), read_whole_bucket=True)

        # Each model's pipeline, and its jobs, run as roles of the model's own stack (TrainingPipelineStack), which reach
        # that model's jobs, data, runs, gate and registry group only. These environment-wide roles are what they ran as
        # before: retired, they have no permissions left, and they stay one release with their exports, because
        # CloudFormation refuses to remove an export that a deployed stack imports (this stack deploys before the
        # pipeline stacks that stop importing them).
        for retired, what in (("Jobs", "jobs role"), ("Pipelines", "role")):
            role = SageMakerExecutionRole(
                self, retired, description=f"{env_name}: retired, no permissions (each model's pipeline has its own {what})"
            )
            self.export_value(role.role.role_arn)
            self.export_value(role.role.role_name)

        # Each model's endpoint runs as a role of its own Serving stack, which reads that model's versions only. This
        # environment-wide role is what endpoints ran as before: retired, it stays one release with its exports (the
        # deployed Serving stacks import them) and with its permissions, because an endpoint keeps running as it until
        # its Serving stack's update has moved the endpoint to a model of the new role, and must still load its model on a
        # scale-out until then (its capture policy stays in the old Serving stack until that update's cleanup). The next
        # release removes it.
        endpoints = SageMakerExecutionRole(
            self, "Endpoints", description=f"{env_name}: retired, kept one release (each endpoint has its own role)")
        grant_bucket(endpoints, artifacts, data.model_artifacts_bucket_arn, write=False)
        endpoints.allow_log_groups("Endpoints/*")
        endpoints.allow_sagemaker_metrics()
        endpoints.allow_image_pull(*xgboost_images)
        endpoints.allow_vpc_networking(workloads.vpc)
        self.export_value(endpoints.role.role_arn)
        self.export_value(endpoints.role.role_name)

        # Each endpoint's data-quality monitor runs as a role of its own Serving stack, which reads that endpoint's
        # captures and baseline only. This environment-wide role is what they ran as before: retired like the endpoints
        # role, it stays one release with its exports and its permissions, for the scheduled runs of a job definition
        # that its Serving stack's update has not replaced yet. The next release removes it.
        monitoring = SageMakerExecutionRole(
            self, "Monitoring", description=f"{env_name}: retired, kept one release (each monitor has its own role)")
        for pattern in (f"{DATA_CAPTURE_PREFIX}/*", BASELINE_KEYS):
            artifacts.grant_read(monitoring.role, pattern)
        artifacts.grant_put(monitoring.role, f"{MONITORING_REPORTS_PREFIX}/*")
        monitoring.acknowledge_grant_wildcards(
            f"Bucket.grant_read() under {DATA_CAPTURE_PREFIX}/ (captured requests, keys chosen per hour) and on the "
            f"pipelines' baselines ({BASELINE_KEYS}, one per run), grant_put() under {MONITORING_REPORTS_PREFIX}/ only, "
            f"in the one bucket exported as {data.model_artifacts_bucket_arn}; KMS data-key use on the data key only.",
            *READ_GRANT, *KMS_GRANT, "Action::s3:Abort*",
            *(f"Resource::{data.model_artifacts_bucket_arn}/{pattern}"
              for pattern in (f"{DATA_CAPTURE_PREFIX}/*", BASELINE_KEYS, f"{MONITORING_REPORTS_PREFIX}/*")),
        )
        monitoring.allow_log_groups("ProcessingJobs")
        monitored = any(m.serving.mode == "instances" and m.serving.monitoring.enabled for m in env_config.models.values())
        monitoring.allow_image_pull(*([model_monitor_image(env_config.region)] if monitored else []))
        monitoring.allow_key_grants_for_aws_resources(key)
        monitoring.allow_sagemaker_metrics()
        monitoring.allow_vpc_networking(workloads.vpc)
        self.export_value(monitoring.role.role_arn)

        # Jobs started from notebooks: they read all the raw data and artifacts (notebooks explore every model's), but
        # write only where notebooks write, so an experiment (or code run in one) cannot rewrite a registered model or the
        # reports the gate trusted.
        experiments = SageMakerExecutionRole(self, "Experiments", description=f"{env_name}: SageMaker jobs started from notebooks")
        grant_bucket(experiments, raw, data.raw_data_bucket_arn, write=False)
        grant_experiment_writes(experiments)
        experiments.allow_log_groups("ProcessingJobs", "TrainingJobs")
        experiments.allow_key_grants_for_aws_resources(key)
        experiments.allow_sagemaker_metrics()
        experiments.allow_image_pull(*xgboost_images, own_account=True)
        experiments.allow_vpc_networking(workloads.vpc)

        # Notebooks: explore data, start jobs with the experiments role, stop themselves when idle.
        notebooks = SageMakerExecutionRole(
            self, "Notebooks", description=f"{env_name}: SageMaker notebook instances", source_account_condition=False
        )
        grant_bucket(notebooks, raw, data.raw_data_bucket_arn, write=True)
        grant_experiment_writes(notebooks)
        notebooks.allow_log_groups("NotebookInstances", "ProcessingJobs", "TrainingJobs", "TransformJobs")
        if notebook_names:
            # So the idle auto-stop can stop its own instance; named exactly, no wildcard.
            notebooks.allow(
                "ManageOwnNotebooks",
                ["sagemaker:DescribeNotebookInstance", "sagemaker:StopNotebookInstance"],
                [notebooks.arn("sagemaker", f"notebook-instance/{name}") for name in notebook_names],
            )
        # Experiments run where the data may go, under the pipelines' rules: a job without the platform VPC would have
        # open egress; the SDK defaults the notebooks write (notebook_lifecycle.SdkDefaults) set all of it.
        notebooks.allow(
            "LaunchEncryptedExperimentsInPlatformVpc", VPC_JOB_CREATE_ACTIONS, job_resources(notebooks),
            encrypted_in_platform_vpc(workloads, key.key_arn), wildcard_reason=JOB_NAMES_REASON,
        )
        # No CreateTransformJob (nor CreateModel): a transform runs as its model's role, and the only models there are
        # the pipelines', whose role is their model's jobs role: a notebook could write through it where it may not itself.
        notebooks.allow("FollowExperimentJobs", JOB_FOLLOW_UP_ACTIONS, job_resources(notebooks), wildcard_reason=JOB_NAMES_REASON)
        notebooks.allow_key_grants_for_aws_resources(key)
        notebooks.allow_vpc_networking(workloads.vpc)
        notebooks.allow_pass_role(experiments.role)

        if env_config.tracking.enabled:
            # The environment's MLflow tracking server, on its ARN only. Artifacts go to S3 directly (the client
            # writes them under mlflow/ of the artifacts bucket), which these roles may already write.
            server = tracking_server_arn(self, env_name)
            experiments.allow("LogToTrackingServer", LOGGING_ACTIONS, [server])
            notebooks.allow("UseTrackingServer", NOTEBOOK_ACTIONS, [server])
            notebooks.allow("OpenTrackingServerUi", UI_URL_ACTIONS, [server])
            notebooks.allow(
                "AccessMlflowUi", [UI_ACTION], ["*"],
                wildcard_reason="sagemaker-mlflow:AccessUI supports no resource-level permissions (Service Authorization "
                "Reference); which server's UI opens is decided by the presigned URL, granted on this environment's server only.",
            )

        for role in (endpoints, monitoring, experiments, notebooks):
            acknowledge(
                role.role,
                "Inline policy written by CDK grants for this one role only; it is created, reviewed and deleted "
                "with the role, so it cannot drift or be shared the way the rule guards against.",
                "NIST.800.53.R5-IAMNoInlinePolicy",
            )

        self.experiments_role: iam.IRole = experiments.role
        self.notebooks_role: iam.IRole = notebooks.role
        # Only the optional Notebooks stack imports these; exported whether or not it is in the app (see DataStack).
        self.export_value(experiments.role.role_arn)
        self.export_value(notebooks.role.role_arn)
