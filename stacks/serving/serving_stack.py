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
from aws_cdk import aws_sns as sns
from constructs import Construct

import naming
from catalog.images import model_monitor_image
from config import EnvironmentConfig
from config.environment import ModelConfig
from stacks.contracts import DataExports, Workloads
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
        endpoints_role: iam.IRole,
        monitoring_role: iam.IRole,
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

        self.endpoint = AutoscaledEndpoint(
            self,
            "Endpoint",
            endpoint_name=name,
            serving=serving,
            model_role=endpoints_role,
            key=data_key,
            capture_uri=artifacts.s3_url_for_object(capture_prefix),
            workloads=workloads,
            topic=topic,
        )
        capturing = serving.mode == "instances" and serving.data_capture.enabled
        if capturing:
            # SageMaker writes captured data as the model's execution role: that prefix only.
            capture_policy = iam.Policy(
                self,
                "EndpointWritesCapturedData",
                policy_name=naming.model_policy_name(model.name, "write-captured-data"),
                roles=[endpoints_role],
                statements=[
                    iam.PolicyStatement(sid="PutCapturedData", actions=["s3:PutObject"],
                                        resources=[artifacts.arn_for_objects(f"{capture_prefix}/*")]),
                    iam.PolicyStatement(sid="EncryptCapturedData", actions=["kms:GenerateDataKey", "kms:Encrypt"],
                                        resources=[data_key.key_arn]),
                ],
            )
            # The role must be able to write before the endpoint starts capturing.
            self.endpoint.endpoint.node.add_dependency(capture_policy)
            acknowledge(
                capture_policy,
                f"Captured requests are written under {capture_prefix}/ with keys SageMaker chooses per hour "
                "and request batch; put-only, this one prefix of the model-artifacts bucket.",
                f"AwsSolutions-IAM5[Resource::{data.model_artifacts_bucket_arn}/{capture_prefix}/*]",
            )
            acknowledge(
                capture_policy,
                "Policy for one role, created and deleted with this serving stack next to the endpoint it serves; "
                "it is not shared between roles, which is what the rule guards against.",
                "NIST.800.53.R5-IAMNoInlinePolicy",
            )
        if self.endpoint.config.kms_key_id is None:
            acknowledge(
                self.endpoint.config,
                f"{serving.instance_type} has local NVMe instance storage, which the hardware encrypts; SageMaker "
                "refuses a KmsKeyId for such instance types. Captured data is still encrypted with the data key.",
                "NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured",
            )

        self.monitor = None
        if capturing and serving.monitoring.enabled:
            self.monitor = DataQualityMonitor(
                self,
                "DataQualityMonitor",
                endpoint=self.endpoint.endpoint,
                endpoint_name=name,
                monitoring=serving.monitoring,
                image_uri=model_monitor_image(cfg.region),
                baseline_uri=artifacts.s3_url_for_object(serving.monitoring.baseline_prefix),
                reports_uri=artifacts.s3_url_for_object(naming.monitoring_reports_prefix(name)),
                role=monitoring_role,
                key=data_key,
                workloads=workloads,
            )

        self.smoke_test_role = self.smoke_test_role_for(cfg.name, model.name, smoke_test_account) if smoke_test_account else None
        CfnOutput(self, "EndpointName", value=name)
        CfnOutput(self, "ModelPackageArn", value=serving.model_package_arn)
        CfnOutput(self, "DashboardName", value=self.endpoint.dashboard.dashboard_name)

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
