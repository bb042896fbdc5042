"""A SageMaker real-time endpoint that serves one registered model version safely.

Model (from the Model Registry, in the VPC, network-isolated) -> endpoint config (one
variant with a stable name, data capture, KMS where the instance type allows it) ->
endpoint (blue/green with canary or linear traffic shifting, rolled back by alarms).
Around it: 5xx and latency alarms to the project's topic, target-tracking autoscaling on
invocations per instance (and GPU utilization on GPU variants), and a dashboard.
A serverless variant keeps the same alarms and rollback; SageMaker gives serverless no
VPC, network isolation, data capture, instance autoscaling or traffic shifting.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

import naming
from catalog.instance_types import has_local_nvme
from config.serving import ServingConfig
from stacks.contracts import Workloads

#: Stable variant name: a new model or config then updates the variant in place (blue/green).
VARIANT = "primary"
CONTENT_TYPES = {"csv": ["text/csv"], "json": ["application/json"]}
AUTOSCALING_ROLE = (
    "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)
ENDPOINT_METRICS = "/aws/sagemaker/Endpoints"  # instance metrics: CPU, memory, GPU, disk


def endpoint_kms_key(instance_type: str, key: kms.IKey) -> str | None:
    """The endpoint config's KmsKeyId: SageMaker refuses one for instance types with local NVMe storage."""
    return None if has_local_nvme(instance_type) else key.key_arn


class AutoscaledEndpoint(Construct):
    """One registered model version served safely: model, endpoint config, blue/green endpoint, alarms, autoscaling, dashboard."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        endpoint_name: str,
        serving: ServingConfig,
        model_role: iam.IRole,
        key: kms.IKey,
        capture_uri: str,
        workloads: Workloads,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, id_)
        self.serving = serving
        self.endpoint_name = endpoint_name
        serverless = serving.mode == "serverless"

        placement = {} if serverless else {
            "vpc_config": sagemaker.CfnModel.VpcConfigProperty(
                security_group_ids=[workloads.security_group.security_group_id],
                subnets=workloads.subnet_ids,
            ),
            "enable_network_isolation": True,
        }
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=model_role.role_arn,
            containers=[sagemaker.CfnModel.ContainerDefinitionProperty(model_package_name=serving.model_package_arn)],
            **placement,
        )

        if serverless:
            variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT,
                model_name=self.model.attr_model_name,
                serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                    max_concurrency=serving.serverless.max_concurrency, memory_size_in_mb=serving.serverless.memory_size_mb
                ),
            )
            kms_key_id = key.key_arn
        else:
            variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT,
                model_name=self.model.attr_model_name,
                instance_type=serving.instance_type,
                initial_instance_count=serving.initial_instance_count,
                initial_variant_weight=1.0,
            )
            kms_key_id = endpoint_kms_key(serving.instance_type, key)
        capture = serving.data_capture
        self.config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[variant],
            kms_key_id=kms_key_id,
            data_capture_config=sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=True,
                initial_sampling_percentage=capture.sampling_percentage,
                destination_s3_uri=capture_uri,
                kms_key_id=key.key_arn,
                capture_options=[
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode=mode) for mode in ("Input", "Output")
                ],
                capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                    csv_content_types=CONTENT_TYPES["csv"], json_content_types=CONTENT_TYPES["json"]
                ),
            ) if capture.enabled and not serverless else None,
        )

        self.alarms = self._alarms(topic)
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.config.attr_endpoint_config_name,
            deployment_config=self._deployment_config(),
            # A new version keeps the instance count autoscaling reached: a rollout under load must not
            # shrink the fleet back to initial_instance_count.
            retain_all_variant_properties=not serverless,
        )
        self.scalable_target = None if serverless else self._autoscaling()
        self.dashboard = self._dashboard()

    # -- metrics and alarms -----------------------------------------------------------------
    def metric(self, name: str, statistic: str, namespace: str = "AWS/SageMaker", label: str | None = None) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=namespace,
            metric_name=name,
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": VARIANT},
            statistic=statistic,
            period=Duration.minutes(1),
            label=label,
        )

    def _alarms(self, topic: sns.ITopic) -> list[cloudwatch.Alarm]:
        cfg = self.serving.alarms
        action = cw_actions.SnsAction(topic)

        def alarm(id_: str, what: str, metric: cloudwatch.Metric, threshold: float) -> cloudwatch.Alarm:
            created = cloudwatch.Alarm(
                self, id_,
                alarm_description=f"{self.endpoint_name}: {what}; rolls a deployment back",
                metric=metric, threshold=threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=cfg.evaluation_minutes,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(action)
            created.add_ok_action(action)
            return created

        return [
            # Invocation5XXErrors is 1 per failed and 0 per good request: its average is the error rate.
            alarm("Errors5xx", f"more than {cfg.error_5xx_percent:g}% of requests answered 5xx",
                  self.metric("Invocation5XXErrors", "Average"), cfg.error_5xx_percent / 100),
            # CloudWatch reports ModelLatency in microseconds.
            alarm("ModelLatencyP99", f"model latency p99 above {cfg.model_latency_p99_ms} ms",
                  self.metric("ModelLatency", "p99"), cfg.model_latency_p99_ms * 1000),
        ]

    # -- rollout ----------------------------------------------------------------------------
    def _deployment_config(self) -> sagemaker.CfnEndpoint.DeploymentConfigProperty:
        rollout = self.serving.rollout
        size = sagemaker.CfnEndpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=rollout.step_percent)
        if self.serving.mode == "serverless":  # SageMaker shifts serverless traffic all at once
            routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(type="ALL_AT_ONCE", wait_interval_in_seconds=rollout.wait_seconds)
        elif rollout.strategy == "canary":
            routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type="CANARY", canary_size=size, wait_interval_in_seconds=rollout.wait_seconds
            )
        else:
            routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type="LINEAR", linear_step_size=size, wait_interval_in_seconds=rollout.wait_seconds
            )
        return sagemaker.CfnEndpoint.DeploymentConfigProperty(
            blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                traffic_routing_configuration=routing,
                termination_wait_in_seconds=rollout.termination_wait_seconds,
                maximum_execution_timeout_in_seconds=rollout.max_execution_seconds,
            ),
            auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=alarm.alarm_name) for alarm in self.alarms]
            ),
        )

    # -- autoscaling ------------------------------------------------------------------------
    def _autoscaling(self) -> appscaling.ScalableTarget:
        scaling = self.serving.autoscaling
        role_arn = Stack.of(self).format_arn(service="iam", region="", resource="role", resource_name=AUTOSCALING_ROLE)
        target = appscaling.ScalableTarget(
            self,
            "ScalableTarget",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            # Never below the multi-AZ minimum: config requires 2 or more in protected environments.
            min_capacity=scaling.min_instances,
            max_capacity=scaling.max_instances,
            # Application Auto Scaling's service-linked role for SageMaker: no role of our own to create.
            role=iam.Role.from_role_arn(self, "AutoScalingRole", role_arn, mutable=False),
        )
        target.node.add_dependency(self.endpoint)
        cooldowns = {
            "scale_in_cooldown": Duration.seconds(scaling.scale_in_cooldown_seconds),
            "scale_out_cooldown": Duration.seconds(scaling.scale_out_cooldown_seconds),
        }
        target.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=scaling.invocations_per_instance,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            **cooldowns,
        )
        if self.serving.gpu:
            target.scale_to_track_metric(
                "GpuUtilization",
                target_value=scaling.gpu_utilization_percent,
                custom_metric=self.metric("GPUUtilization", "Average", namespace=ENDPOINT_METRICS),
                **cooldowns,
            )
        return target

    # -- dashboard --------------------------------------------------------------------------
    def _dashboard(self) -> cloudwatch.Dashboard:
        def graph(title: str, metrics: list[cloudwatch.IMetric], unit: str = "", width: int = 8) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=metrics, width=width, height=6,
                                          left_y_axis=cloudwatch.YAxisProps(label=unit, show_units=False))

        row = [
            graph("Invocations", [self.metric("Invocations", "Sum", label="invocations / min")]),
            graph("Model latency", [self.metric("ModelLatency", "p50", label="p50"), self.metric("ModelLatency", "p99", label="p99")],
                  "microseconds"),
            graph("Errors", [self.metric("Invocation4XXErrors", "Sum", label="4xx"), self.metric("Invocation5XXErrors", "Sum", label="5xx")]),
        ]
        fleet = []
        if self.serving.mode == "instances":
            # Each instance reports CPUUtilization once a minute: the sample count is the instance count.
            fleet.append(graph("Instances", [self.metric("CPUUtilization", "SampleCount", ENDPOINT_METRICS, "instances reporting")]))
            fleet.append(graph("Invocations per instance", [self.metric("InvocationsPerInstance", "Sum", label="per instance / min")]))
        if self.serving.gpu:
            fleet.append(graph("GPU", [self.metric("GPUUtilization", "Average", ENDPOINT_METRICS, "GPU utilization"),
                                       self.metric("GPUMemoryUtilization", "Average", ENDPOINT_METRICS, "GPU memory")], "percent"))
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=naming.dashboard_name(self.endpoint_name))
        dashboard.add_widgets(*row)
        if fleet:
            dashboard.add_widgets(*fleet)
        dashboard.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=3))
        return dashboard
