"""The reusable constructs on a bare Stack, away from the platform's stacks and config files.

As AWS's constructs library tests its L3s: each construct in a stack of its own, with the
smallest props it takes, and the template asserted for what the construct promises. One app
holds them all and is synthesized once for the module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from config.environment import NotebookConfig
from config.serving import MonitoringConfig, ServingConfig
from stacks.contracts import WORKLOADS, Workloads
from stacks.foundation.notebook import LifecycleNotebook
from stacks.serving.autoscaled_endpoint import AutoscaledEndpoint
from stacks.serving.data_quality_monitor import DataQualityMonitor
from stacks.shared.secure_bucket import SecureBucket, access_logs_bucket
from stacks.training.evaluation_gate import EvaluationGate
from tests.helpers.assembly import cdk_context

ENV = cdk.Environment(account="123456789012", region="us-east-1")
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/group/1"


def bare_stack(app: cdk.App, name: str) -> tuple[cdk.Stack, kms.Key, Workloads]:
    """A stack with what any construct here leans on: a key, and a VPC with a Workloads subnet group."""
    stack = cdk.Stack(app, name, env=ENV)
    key = kms.Key(stack, "Key")
    vpc = ec2.Vpc(stack, "Vpc", availability_zones=["us-east-1a", "us-east-1b"], nat_gateways=0, subnet_configuration=[
        ec2.SubnetConfiguration(name=WORKLOADS, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24)])
    group = ec2.SecurityGroup(stack, "Group", vpc=vpc)
    return stack, key, Workloads(vpc, ec2.SubnetSelection(subnet_group_name=WORKLOADS), group)


def secure_bucket(app: cdk.App) -> cdk.Stack:
    stack, key, _ = bare_stack(app, "SecureBucketStack")
    logs = access_logs_bucket(stack, "Logs", removal_policy=cdk.RemovalPolicy.RETAIN, noncurrent_version_expiration_days=30,
                              abort_incomplete_upload_days=7, expiration_days=90)
    SecureBucket(stack, "Data", encryption_key=key, access_logs=logs, removal_policy=cdk.RemovalPolicy.DESTROY,
                 noncurrent_version_expiration_days=30, abort_incomplete_upload_days=7)
    return stack


def autoscaled_endpoint(app: cdk.App, name: str, serving: ServingConfig) -> cdk.Stack:
    stack, key, workloads = bare_stack(app, name)
    AutoscaledEndpoint(stack, "Endpoint", endpoint_name="bare-endpoint", serving=serving,
                       model_role=iam.Role(stack, "ModelRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com")),
                       key=key, capture_uri="s3://captures/bare-endpoint", workloads=workloads, topic=sns.Topic(stack, "Topic"))
    return stack


def evaluation_gate(app: cdk.App) -> cdk.Stack:
    stack, key, workloads = bare_stack(app, "GateStack")
    EvaluationGate(stack, "Gate", artifacts=s3.Bucket(stack, "Artifacts"), artifacts_export="artifacts-export", log_key=key,
                   log_retention_days=30, log_removal_policy=cdk.RemovalPolicy.DESTROY, model_package_group="bare-group",
                   runs_prefix="pipelines/bare/model", workloads=workloads)
    return stack


def notebook(app: cdk.App) -> cdk.Stack:
    stack, key, workloads = bare_stack(app, "NotebookStack")
    config = NotebookConfig(name="lab", instance_type="ml.t3.medium", volume_size_gb=10, idle_minutes=30)
    subnet = workloads.vpc.select_subnets(subnet_group_name=WORKLOADS).subnets[0]
    LifecycleNotebook(stack, "Notebook", instance_name="bare-lab", notebook=config, vpc=workloads.vpc, subnet=subnet, key=key,
                      role=iam.Role(stack, "NotebookRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com")))
    return stack


def data_quality_monitor(app: cdk.App) -> cdk.Stack:
    stack, key, workloads = bare_stack(app, "MonitorStack")
    endpoint = sagemaker.CfnEndpoint(stack, "Endpoint", endpoint_config_name="config")
    DataQualityMonitor(stack, "Monitor", endpoint=endpoint, endpoint_name="bare-endpoint",
                       monitoring=MonitoringConfig(schedule="daily"), image_uri="analyzer:latest",
                       baseline_uri="s3://artifacts/baseline", reports_uri="s3://artifacts/reports",
                       role=iam.Role(stack, "MonitorRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com")),
                       key=key, workloads=workloads)
    return stack


BUILDERS: dict[str, Callable[[cdk.App], cdk.Stack]] = {
    "bucket": secure_bucket,
    "gpu_endpoint": lambda app: autoscaled_endpoint(app, "GpuEndpointStack", ServingConfig(
        model_package_arn=PACKAGE, instance_type="ml.g5.xlarge", initial_instance_count=2,
        monitoring=MonitoringConfig(enabled=False))),
    "cpu_endpoint": lambda app: autoscaled_endpoint(app, "CpuEndpointStack", ServingConfig(
        model_package_arn=PACKAGE, instance_type="ml.m5.large", initial_instance_count=2,
        monitoring=MonitoringConfig(enabled=False))),
    "serverless_endpoint": lambda app: autoscaled_endpoint(app, "ServerlessEndpointStack", ServingConfig.model_validate(
        {"model_package_arn": PACKAGE, "mode": "serverless", "data_capture": {"enabled": False}, "monitoring": {"enabled": False},
         "rollout": {"termination_wait_seconds": 0}}, strict=False)),
    "gate": evaluation_gate,
    "notebook": notebook,
    "monitor": data_quality_monitor,
}


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("constructs")), context=cdk_context())
    stacks = {name: build(app) for name, build in BUILDERS.items()}
    assembly = app.synth()
    return {name: Template.from_json(assembly.get_stack_by_name(stack.stack_name).template) for name, stack in stacks.items()}


def test_secure_bucket_is_encrypted_versioned_private_tls_only_and_logged(templates):
    template = templates["bucket"]
    template.has_resource_properties("AWS::S3::Bucket", {
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [{
            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": Match.any_value()},
            "BucketKeyEnabled": True}]},
        "VersioningConfiguration": {"Status": "Enabled"},
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "LoggingConfiguration": {"DestinationBucketName": Match.any_value(), "LogFilePrefix": "data/"},
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    })
    # TLS 1.2 or newer only, for both buckets.
    policies = template.find_resources("AWS::S3::BucketPolicy")
    denies = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert {"aws:SecureTransport": "false"} in [s["Condition"].get("Bool") for s in denies]
    assert {"s3:TlsVersion": 1.2} in [s["Condition"].get("NumericLessThan") for s in denies]
    # Disposable data (DESTROY) is emptied on delete; retained logs are not.
    template.resource_count_is("Custom::S3AutoDeleteObjects", 1)


def test_gpu_endpoint_spans_zones_rolls_back_on_alarms_and_scales_on_gpu_too(templates):
    template = templates["gpu_endpoint"]
    config = template.find_resources("AWS::SageMaker::EndpointConfig")
    (props,) = [r["Properties"] for r in config.values()]
    assert props["ProductionVariants"][0]["InitialInstanceCount"] == 2
    assert "KmsKeyId" not in props  # ml.g5 has local NVMe storage: SageMaker refuses a key
    template.has_resource_properties("AWS::SageMaker::Endpoint", {
        "EndpointName": "bare-endpoint",
        "DeploymentConfig": {"AutoRollbackConfiguration": {"Alarms": Match.any_value()},
                             "BlueGreenUpdatePolicy": Match.object_like({"TrafficRoutingConfiguration": Match.object_like(
                                 {"Type": "CANARY"})})},
        "RetainAllVariantProperties": True,
    })
    (endpoint,) = template.find_resources("AWS::SageMaker::Endpoint").values()
    assert len(endpoint["Properties"]["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]) == 2
    template.has_resource_properties("AWS::SageMaker::Model", {"EnableNetworkIsolation": True, "VpcConfig": Match.any_value()})
    template.resource_count_is("AWS::CloudWatch::Alarm", 2)
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 2, "MaxCapacity": 4})
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 2)  # invocations and GPU utilization


def test_cpu_endpoint_encrypts_its_volume_and_scales_on_invocations_only(templates):
    template = templates["cpu_endpoint"]
    template.has_resource_properties("AWS::SageMaker::EndpointConfig", {"KmsKeyId": Match.any_value()})
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 1)


def test_serverless_endpoint_has_alarms_and_rollback_but_no_fleet(templates):
    template = templates["serverless_endpoint"]
    template.has_resource_properties("AWS::SageMaker::EndpointConfig", {"ProductionVariants": [Match.object_like({
        "ServerlessConfig": {"MaxConcurrency": 5, "MemorySizeInMB": 2048}})]})
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    template.resource_count_is("AWS::CloudWatch::Alarm", 2)
    assert "VpcConfig" not in next(iter(template.find_resources("AWS::SageMaker::Model").values()))["Properties"]


def test_gate_runs_in_the_vpc_and_reads_only_its_registry_group(templates):
    template = templates["gate"]
    template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "handler.handler", "VpcConfig": Match.object_like({"SubnetIds": Match.any_value()}),
        "LoggingConfig": Match.object_like({"LogGroup": Match.any_value()}),
    })
    policies = template.find_resources("AWS::IAM::Policy")
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    registry = next(s for s in statements if s.get("Sid") == "ReadChampionFromRegistry")
    assert sorted(registry["Resource"]) == ["arn:aws:sagemaker:us-east-1:123456789012:model-package-group/bare-group",
                                            "arn:aws:sagemaker:us-east-1:123456789012:model-package/bare-group/*"]
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30, "KmsKeyId": Match.any_value()})


def test_notebook_is_private_rootless_encrypted_and_stops_when_idle(templates):
    template = templates["notebook"]
    template.has_resource_properties("AWS::SageMaker::NotebookInstance", {
        "NotebookInstanceName": "bare-lab", "DirectInternetAccess": "Disabled", "RootAccess": "Disabled",
        "KmsKeyId": Match.any_value(), "VolumeSizeInGB": 10,
        "InstanceMetadataServiceConfiguration": {"MinimumInstanceMetadataServiceVersion": "2"},
        "LifecycleConfigName": Match.any_value(),
    })
    lifecycle = next(iter(template.find_resources("AWS::SageMaker::NotebookInstanceLifecycleConfig").values()))
    assert lifecycle["Properties"]["OnStart"] and lifecycle["Properties"]["OnCreate"]
    group = next(iter(template.find_resources("AWS::EC2::SecurityGroup", {"Properties": {
        "GroupDescription": Match.string_like_regexp("Notebook bare-lab")}}).values()))
    assert "SecurityGroupIngress" not in group["Properties"]
    assert [rule["FromPort"] for rule in group["Properties"]["SecurityGroupEgress"]] == [443]


def test_monitor_runs_isolated_in_the_vpc_against_the_baseline_on_its_schedule(templates):
    template = templates["monitor"]
    template.has_resource_properties("AWS::SageMaker::DataQualityJobDefinition", {
        "NetworkConfig": {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True,
                          "VpcConfig": Match.any_value()},
        "DataQualityAppSpecification": Match.object_like(
            {"RecordPreprocessorSourceUri": "s3://artifacts/baseline/record_preprocessor.py"}),
        "DataQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": "s3://artifacts/baseline/constraints.json"},
                                      "StatisticsResource": {"S3Uri": "s3://artifacts/baseline/statistics.json"}},
        "DataQualityJobInput": {"EndpointInput": Match.object_like({"EndpointName": "bare-endpoint"})},
    })
    template.has_resource_properties("AWS::SageMaker::MonitoringSchedule", {
        "MonitoringScheduleName": "bare-endpoint-data-quality",
        "MonitoringScheduleConfig": Match.object_like({"ScheduleConfig": {"ScheduleExpression": "cron(0 0 ? * * *)"}}),
    })
