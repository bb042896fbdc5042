"""A Model Monitor data-quality schedule: captured requests against the training baseline.

Every run (hourly or daily) SageMaker's analyzer reads the hour of requests the endpoint
captured, compares them with the baseline that preprocess.py computed from the training
input columns (statistics.json, constraints.json), writes a violations report and emits
CloudWatch metrics. It reads the captures through the record preprocessor preprocess.py wrote
beside the baseline (record_preprocessor.py), which turns every request form the endpoint takes
into rows keyed by input column, so the report names the business's columns. The job runs in the VPC, network-isolated, encrypted with the data key.
"""

from __future__ import annotations

from aws_cdk import Fn
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

import naming
from catalog.instance_types import has_local_nvme
from config.serving import MonitoringConfig
from stacks.contracts import Workloads

PROCESSING = "/opt/ml/processing"
#: What preprocess.py writes beside the baseline: the analyzer's RecordPreprocessorSourceUri.
RECORD_PREPROCESSOR = "record_preprocessor.py"


class DataQualityMonitor(Construct):
    """A scheduled Model Monitor job that compares an endpoint's captured requests with the training baseline."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        endpoint: sagemaker.CfnEndpoint,
        endpoint_name: str,
        monitoring: MonitoringConfig,
        image_uri: str,
        baseline_uri: str,
        reports_uri: str,
        role: iam.IRole,
        key: kms.IKey,
        workloads: Workloads,
    ) -> None:
        super().__init__(scope, id_)
        cfn = sagemaker.CfnDataQualityJobDefinition
        volume_key = {} if has_local_nvme(monitoring.instance_type) else {"volume_kms_key_id": key.key_arn}
        properties = dict(
            # The analyzer publishes its per-feature metrics to CloudWatch only when asked to.
            data_quality_app_specification=cfn.DataQualityAppSpecificationProperty(
                image_uri=image_uri, environment={"publish_cloudwatch_metrics": "Enabled"},
                record_preprocessor_source_uri=f"{baseline_uri}/{RECORD_PREPROCESSOR}",
            ),
            data_quality_baseline_config=cfn.DataQualityBaselineConfigProperty(
                constraints_resource=cfn.ConstraintsResourceProperty(s3_uri=f"{baseline_uri}/constraints.json"),
                statistics_resource=cfn.StatisticsResourceProperty(s3_uri=f"{baseline_uri}/statistics.json"),
            ),
            data_quality_job_input=cfn.DataQualityJobInputProperty(
                endpoint_input=cfn.EndpointInputProperty(
                    endpoint_name=endpoint_name,
                    local_path=f"{PROCESSING}/input/endpoint",
                    s3_input_mode="File",
                    s3_data_distribution_type="FullyReplicated",
                )
            ),
            data_quality_job_output_config=cfn.MonitoringOutputConfigProperty(
                monitoring_outputs=[cfn.MonitoringOutputProperty(s3_output=cfn.S3OutputProperty(
                    local_path=f"{PROCESSING}/output", s3_uri=reports_uri, s3_upload_mode="EndOfJob"
                ))],
                kms_key_id=key.key_arn,
            ),
            job_resources=cfn.MonitoringResourcesProperty(cluster_config=cfn.ClusterConfigProperty(
                instance_count=1, instance_type=monitoring.instance_type, volume_size_in_gb=monitoring.volume_size_gb,
                **volume_key,
            )),
            network_config=cfn.NetworkConfigProperty(
                enable_network_isolation=True,
                enable_inter_container_traffic_encryption=True,
                vpc_config=cfn.VpcConfigProperty(
                    security_group_ids=[workloads.security_group.security_group_id],
                    subnets=workloads.subnet_ids,
                ),
            ),
            role_arn=role.role_arn,
            stopping_condition=cfn.StoppingConditionProperty(max_runtime_in_seconds=monitoring.max_runtime_minutes * 60),
        )
        # No name of our own: every property forces a replacement, which a fixed name would block.
        self.job_definition = cfn(self, "JobDefinition", **properties)
        # The generated name is the last part of its ARN (…:data-quality-job-definition/<name>).
        self.job_definition_name = Fn.select(1, Fn.split("/", self.job_definition.attr_job_definition_arn))
        # The job reads the endpoint's captures: the endpoint must exist first.
        self.job_definition.node.add_dependency(endpoint)
        self.schedule = sagemaker.CfnMonitoringSchedule(
            self,
            "Schedule",
            monitoring_schedule_name=naming.monitoring_schedule_name(endpoint_name),
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                monitoring_job_definition_name=self.job_definition_name,
                monitoring_type="DataQuality",
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                    schedule_expression=monitoring.schedule_expression
                ),
            ),
        )
