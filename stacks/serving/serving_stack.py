"""Serving: a model's real-time endpoint for the version its config names.

One AutoscaledEndpoint (model, endpoint config, endpoint with blue/green rollout,
alarms, autoscaling, dashboard) and, for provisioned fleets with data capture, a Model
Monitor data-quality schedule. Declared only when the model's `serving.model_package_arn` is set:
which version runs where is data in git, and synth never looks the registry up.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

import naming
from catalog.images import model_monitor_image, xgboost_image
from config import EnvironmentConfig
from config.environment import ModelConfig
from stacks.contracts import DataExports, Workloads
from stacks.foundation.execution_role import SageMakerExecutionRole
from stacks.serving.autoscaled_endpoint import AutoscaledEndpoint
from stacks.serving.data_quality_monitor import DataQualityMonitor
from stacks.shared.compliance import acknowledge


class ServingStack(Stack):
    """A model's endpoint for the version its config names, its monitor and its smoke-test role."""

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
        topic: sns.ITopic,
        smoke_test_account: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        cfg, serving = env_config, model.serving
        if not serving.model_package_arn:
            raise ValueError(f"ServingStack needs models.{model.name}.serving.model_package_arn; the stage declares no "
                             "serving stack without it")
        name = naming.endpoint_name(cfg.name, model.name)
        _, artifacts = data.import_buckets(self, data_key)
        capture_prefix = naming.data_capture_prefix(name)

        capturing = serving.mode == "instances" and serving.data_capture.enabled
        self.model_role = self.endpoint_role(cfg, model, name, artifacts, data, data_key, workloads,
                                             capture_prefix if capturing else None)
        self.endpoint = AutoscaledEndpoint(
            self,
            "Endpoint",
            endpoint_name=name,
            serving=serving,
            model_role=self.model_role.role,
            key=data_key,
            capture_uri=artifacts.s3_url_for_object(capture_prefix),
            workloads=workloads,
            topic=topic,
        )
        # The model's container downloads its artifact as the role when the endpoint starts, and captures from then on:
        # the role's policy must exist first (the model names the role itself, not its policy).
        self.endpoint.model.node.add_dependency(self.model_role.default_policy())
        if self.endpoint.config.kms_key_id is None:
            acknowledge(
                self.endpoint.config,
                f"{serving.instance_type} has local NVMe instance storage, which the hardware encrypts; SageMaker "
                "refuses a KmsKeyId for such instance types. Captured data is still encrypted with the data key.",
                "NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured",
            )

        self.monitor = None
        self.monitor_role = None
        if capturing and serving.monitoring.enabled:
            self.monitor_role = self.monitoring_role(cfg, model, name, artifacts, data, data_key, workloads, capture_prefix)
            self.monitor = DataQualityMonitor(
                self,
                "DataQualityMonitor",
                endpoint=self.endpoint.endpoint,
                endpoint_name=name,
                monitoring=serving.monitoring,
                image_uri=model_monitor_image(cfg.region),
                baseline_uri=artifacts.s3_url_for_object(serving.monitoring.baseline_prefix),
                reports_uri=artifacts.s3_url_for_object(naming.monitoring_reports_prefix(name)),
                role=self.monitor_role.role,
                key=data_key,
                workloads=workloads,
            )
            # Its jobs read and write as the role from the first scheduled run on: the policy first.
            self.monitor.job_definition.node.add_dependency(self.monitor_role.default_policy())

        self.smoke_test_role = self.smoke_test_role_for(cfg.name, model.name, smoke_test_account) if smoke_test_account else None
        CfnOutput(self, "EndpointName", value=name)
        CfnOutput(self, "ModelPackageArn", value=serving.model_package_arn)
        CfnOutput(self, "DashboardName", value=self.endpoint.dashboard.dashboard_name)

    def endpoint_role(self, cfg: EnvironmentConfig, served: ModelConfig, endpoint: str, artifacts: s3.IBucket, data: DataExports,
                      data_key: kms.IKey, workloads: Workloads, capture_prefix: str | None) -> SageMakerExecutionRole:
        """The role this model's endpoint runs as (its SageMaker model's execution role). It reads this model's pipeline
        runs only, where every version of its group keeps its artifact (config refuses a version of another group, and
        only this model's pipeline registers into it), and writes only this endpoint's captured requests. Another
        model's endpoint has its own role: neither reads the other's artifacts, and no served model adds to a shared
        role's IAM size quota. What SageMaker needs of a model's execution role: "CreateModel API: Execution Role
        Permissions" (SageMaker Developer Guide, sagemaker-roles.html): s3:GetObject on the artifact, no listing."""
        env_name, model = cfg.name, served.name
        role = SageMakerExecutionRole(
            self, "Model", description=f"{env_name}: the {model} model's endpoint",
            role_name=naming.endpoint_role_name(env_name, model),  # naming.endpoint_role_name says why
        )
        runs = f"{naming.pipeline_runs_prefix(env_name, model)}/*"
        role.allow("ReadModelVersions", ["s3:GetObject"], [artifacts.arn_for_objects(runs)],
                   wildcard_reason=f"this model's pipeline runs ({runs}), where its registered versions keep their "
                   "artifacts; run ids are chosen per execution.",
                   token_wildcards=(f"{data.model_artifacts_bucket_arn}/{runs}",))
        role.allow("DecryptModelVersions", ["kms:Decrypt"], [data_key.key_arn])
        if capture_prefix:
            role.allow("PutCapturedData", ["s3:PutObject"], [artifacts.arn_for_objects(f"{capture_prefix}/*")],
                       wildcard_reason=f"captured requests are written under {capture_prefix}/ with keys SageMaker "
                       "chooses per hour and request batch; put-only, this one prefix.",
                       token_wildcards=(f"{data.model_artifacts_bucket_arn}/{capture_prefix}/*",))
            role.allow("EncryptCapturedData", ["kms:GenerateDataKey", "kms:Encrypt"], [data_key.key_arn])
        role.allow_log_groups(f"Endpoints/{endpoint}")
        role.allow_sagemaker_metrics()
        # The versions of its group were registered with the XGBoost image (one repository for every framework version).
        role.allow_image_pull(xgboost_image(cfg.region, served.framework_version))
        if served.serving.mode == "instances":  # a serverless endpoint runs outside the VPC
            role.allow_vpc_networking(workloads.vpc)
        acknowledge(
            role.role,
            "Inline policy written by CDK for this one role only; it is created, reviewed and deleted with the role "
            "and the endpoint it serves, so it cannot drift or be shared the way the rule guards against.",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        return role

    def monitoring_role(self, cfg: EnvironmentConfig, served: ModelConfig, endpoint: str, artifacts: s3.IBucket,
                        data: DataExports, data_key: kms.IKey, workloads: Workloads, capture_prefix: str) -> SageMakerExecutionRole:
        """The role this endpoint's data-quality monitoring jobs run as. The job runs AWS's analyzer with the record
        preprocessor the model's own Preprocess step wrote (a team's code_dir may write its own), so it reads only this
        endpoint's captures and the baseline its config names, and writes only this endpoint's reports: no model's
        monitor reads another endpoint's captured requests."""
        env_name, model = cfg.name, served.name
        role = SageMakerExecutionRole(
            self, "Monitor", description=f"{env_name}: the {model} endpoint's data-quality monitoring jobs",
            role_name=naming.monitor_role_name(env_name, model),  # named as the endpoint's role is
        )
        baseline = f"{served.serving.monitoring.baseline_prefix}/*"
        reports = f"{naming.monitoring_reports_prefix(endpoint)}/*"
        for sid, pattern in (("ReadCapturedData", f"{capture_prefix}/*"), ("ReadBaseline", baseline)):
            role.allow(sid, ["s3:GetObject"], [artifacts.arn_for_objects(pattern)],
                       wildcard_reason=f"the objects under {pattern.removesuffix('/*')}/ (captured hours, or the baseline's "
                       "files), keys chosen by SageMaker and the pipeline run.",
                       token_wildcards=(f"{data.model_artifacts_bucket_arn}/{pattern}",))
        # Model Monitor lists the captured hours before copying them; the prefix its listing sends is not documented,
        # so listing is not held to one (keys only: objects are read under the two prefixes above).
        role.allow("ListCapturedData", ["s3:ListBucket"], [artifacts.bucket_arn])
        role.allow("WriteReports", ["s3:PutObject"], [artifacts.arn_for_objects(reports)],
                   wildcard_reason=f"the analyzer's reports under {reports.removesuffix('/*')}/, named per run.",
                   token_wildcards=(f"{data.model_artifacts_bucket_arn}/{reports}",))
        role.allow("UseDataKey", ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"], [data_key.key_arn])
        role.allow_log_groups("ProcessingJobs")
        role.allow_key_grants_for_aws_resources(data_key)
        role.allow_sagemaker_metrics()
        role.allow_image_pull(model_monitor_image(cfg.region))
        role.allow_vpc_networking(workloads.vpc)
        acknowledge(
            role.role,
            "Inline policy written by CDK for this one role only; it is created, reviewed and deleted with the role "
            "and the monitor it runs, so it cannot drift or be shared the way the rule guards against.",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        return role

    def smoke_test_role_for(self, env_name: str, model: str, account: str) -> iam.Role:
        """What the delivery pipeline's smoke test may do here: describe and invoke this one endpoint, and only as the
        pipeline's own smoke-test step (its named CodeBuild role in the tooling account), not as any principal there."""
        runner = naming.smoke_test_runner_role_arn(account, env_name, model)
        role = iam.Role(
            self,
            "SmokeTestRole",
            role_name=naming.smoke_test_role_name(env_name, model),
            assumed_by=iam.AccountPrincipal(account).with_conditions({"ArnEquals": {"aws:PrincipalArn": runner}}),
            description=f"{env_name}: the delivery pipeline's post-deploy smoke test of the {model} endpoint",
            max_session_duration=Duration.hours(1),
        )
        iam.ManagedPolicy(self, "SmokeTestPolicy", roles=[role], statements=[iam.PolicyStatement(
            sid="DescribeAndInvokeTheEndpoint",
            actions=["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint"],
            # Endpoint names are lowercase already; SageMaker's ARNs lowercase them.
            resources=[self.format_arn(service="sagemaker", resource="endpoint", resource_name=naming.endpoint_name(env_name, model))],
        )])
        return role
