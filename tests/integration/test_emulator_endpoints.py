"""SageMaker real-time endpoints in the emulator, as the Serving stack uses them.

A stack with the Serving stack's Model / EndpointConfig / Endpoint shapes (a model built from a model package
version, blue/green deployment config, alarms, autoscaling) deploys through CloudFormation; InvokeEndpoint
reaches serve.py running the registered version's model.tar.gz from the emulator's S3 and answers what the
model predicts; the container's 4xx comes back as ModelError; a stack update to another version reaches the
same endpoint; deleting the stack deletes the endpoint and stops its server. The synthesized Serving stacks
(dev: serverless, sandbox: instances with data capture, autoscaling and monitoring) deploy and serve too.

The tests of the stack's life run in file order: deployed, invoked, updated, deleted.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError

from local.emulator import ACCOUNT, Emulator
from tests.helpers.configs import EXAMPLE
from tests.helpers.emulator import answers, model_servers
from tests.helpers.paths import SCRIPTS

import inference

pytestmark = pytest.mark.integration

FEATURES = 4
ROWS = np.random.default_rng(7).random((25, FEATURES))
BUCKET = "model-artifacts"
GROUP = "emulated-endpoints"
ENDPOINT = "emulated-churn"
STACK = "emulated-churn-Serving"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/endpoints"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclass(frozen=True)
class Version:
    """A registered model version and the booster its archive holds."""

    arn: str
    booster: xgb.Booster

    def predictions(self, rows: np.ndarray = ROWS) -> np.ndarray:
        return self.booster.predict(xgb.DMatrix(rows))


def train(seed: int) -> xgb.Booster:
    """A small booster; each seed learns another feature, so two versions predict differently."""
    rng = np.random.default_rng(seed)
    features = rng.random((300, FEATURES))
    labels = (features[:, seed % FEATURES] > 0.5).astype(float)
    return xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1}, xgb.DMatrix(features, label=labels), 8)


def model_archive(booster: xgb.Booster, model_dir: Path) -> bytes:
    """model.tar.gz laid out as train.py's save_model writes it: the model file and code/inference.py."""
    (model_dir / "code").mkdir(parents=True)
    booster.save_model(str(model_dir / inference.MODEL_FILE))
    shutil.copy2(SCRIPTS / "inference.py", model_dir / "code" / "inference.py")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(model_dir)), recursive=False)
    return buffer.getvalue()


def register(emulator: Emulator, work: Path, seeds: tuple[int, ...] = (1, 2), group: str = GROUP) -> list[Version]:
    """Upload one archive per seed to the emulator's S3 and register each as a version of ``group``."""
    s3, sagemaker = emulator.client("s3"), emulator.client("sagemaker")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    versions = []
    for seed in seeds:
        booster = train(seed)
        key = f"{group}/v{seed}/model.tar.gz"
        s3.put_object(Bucket=BUCKET, Key=key, Body=model_archive(booster, work / f"{group}-{seed}"))
        arn = sagemaker.create_model_package(
            ModelPackageGroupName=group, ModelApprovalStatus="Approved",
            InferenceSpecification={"Containers": [{"Image": "xgboost", "ModelDataUrl": f"s3://{BUCKET}/{key}"}],
                                    "SupportedContentTypes": ["text/csv", "application/json"],
                                    "SupportedResponseMIMETypes": ["text/csv", "application/json"]},
        )["ModelPackageArn"]
        versions.append(Version(arn, booster))
    return versions


@pytest.fixture(scope="module")
def versions(emulator, tmp_path_factory) -> list[Version]:
    return register(emulator, tmp_path_factory.mktemp("models"))


def serving_template(package_arn: str) -> dict:
    """The Serving stack's shapes (stacks/serving/autoscaled_endpoint.py) for a GPU fleet: a network-isolated
    model in the VPC from a model package version, a variant on g5 with data capture (no KmsKeyId: local NVMe),
    a named endpoint with blue/green canary rollout rolled back by alarms, autoscaling on its variant."""
    variant_id = f"endpoint/{ENDPOINT}/variant/primary"
    alarm = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": 3, "MetricName": "Invocation5XXErrors",
        "Namespace": "AWS/SageMaker", "Period": 60, "Statistic": "Average", "Threshold": 0.01, "TreatMissingData": "notBreaching",
        "Dimensions": [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "primary"}]}}
    return {"Resources": {
        "EndpointModel0F230181": {"Type": "AWS::SageMaker::Model", "Properties": {
            "Containers": [{"ModelPackageName": package_arn}], "ExecutionRoleArn": ROLE, "EnableNetworkIsolation": True,
            "VpcConfig": {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0123456789abcdef1", "subnet-0123456789abcdef2"]}}},
        "EndpointConfig24AD0A28": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {
            "ProductionVariants": [{"ModelName": {"Fn::GetAtt": ["EndpointModel0F230181", "ModelName"]}, "VariantName": "primary",
                                    "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 2, "InitialVariantWeight": 1}],
            "DataCaptureConfig": {"EnableCapture": True, "InitialSamplingPercentage": 20, "DestinationS3Uri": f"s3://{BUCKET}/data-capture",
                                  "KmsKeyId": KEY, "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}}},
        "EndpointErrors5xxE82661BC": alarm,
        "Endpoint8024A810": {"Type": "AWS::SageMaker::Endpoint", "Properties": {
            "EndpointName": ENDPOINT,
            "EndpointConfigName": {"Fn::GetAtt": ["EndpointConfig24AD0A28", "EndpointConfigName"]},
            "DeploymentConfig": {
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": {"Ref": "EndpointErrors5xxE82661BC"}}]},
                "BlueGreenUpdatePolicy": {"MaximumExecutionTimeoutInSeconds": 1800, "TerminationWaitInSeconds": 0,
                                          "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 300,
                                                                          "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}}},
            "RetainAllVariantProperties": True}},
        "EndpointScalableTargetCFB7CBF0": {"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "DependsOn": ["Endpoint8024A810"],
                                           "Properties": {"MinCapacity": 2, "MaxCapacity": 4, "ResourceId": variant_id, "RoleARN": ROLE,
                                                          "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                                                          "ServiceNamespace": "sagemaker"}},
        "EndpointScalableTargetInvocationsPerInstance89968664": {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy", "DependsOn": ["Endpoint8024A810"],
            "Properties": {"PolicyName": "InvocationsPerInstance", "PolicyType": "TargetTrackingScaling",
                           "ScalingTargetId": {"Ref": "EndpointScalableTargetCFB7CBF0"},
                           "TargetTrackingScalingPolicyConfiguration": {
                               "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                               "TargetValue": 1000}}},
    }, "Outputs": {
        "EndpointRef": {"Value": {"Ref": "Endpoint8024A810"}},
        "EndpointName": {"Value": {"Fn::GetAtt": ["Endpoint8024A810", "EndpointName"]}},
        "ConfigRef": {"Value": {"Ref": "EndpointConfig24AD0A28"}},
        "ConfigName": {"Value": {"Fn::GetAtt": ["EndpointConfig24AD0A28", "EndpointConfigName"]}},
        "ModelRef": {"Value": {"Ref": "EndpointModel0F230181"}},
        "ModelName": {"Value": {"Fn::GetAtt": ["EndpointModel0F230181", "ModelName"]}},
        "AlarmArn": {"Value": {"Fn::GetAtt": ["EndpointErrors5xxE82661BC", "Arn"]}},
    }}


def outputs(emulator: Emulator, stack: str = STACK) -> dict[str, str]:
    described = emulator.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def csv_body(rows: np.ndarray = ROWS) -> bytes:
    return "\n".join(",".join(f"{v:.17g}" for v in row) for row in rows).encode()


def scores(emulator: Emulator, endpoint: str = ENDPOINT, **request) -> np.ndarray:
    answer = emulator.client("sagemaker-runtime").invoke_endpoint(EndpointName=endpoint, Body=csv_body(), ContentType="text/csv", **request)
    return np.array([float(v) for v in answer["Body"].read().split()], dtype=np.float32)


def model_error(emulator: Emulator, endpoint: str, body: bytes, content_type: str = "text/csv") -> dict:
    with pytest.raises(ClientError) as raised:
        emulator.client("sagemaker-runtime").invoke_endpoint(EndpointName=endpoint, Body=body, ContentType=content_type)
    return raised.value.response


def gone(pid: int, port: int) -> bool:
    """The server process has exited (and been reaped) and nothing answers on its port."""
    return not Path(f"/proc/{pid}").exists() and not answers(port)


# -- the stack's life ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def deployed(emulator, versions) -> dict[str, str]:
    emulator.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(serving_template(versions[0].arn)))
    return outputs(emulator)


def test_the_stack_deploys_its_model_config_and_endpoint_with_cloudformations_ids(emulator, versions, deployed):
    sagemaker = emulator.client("sagemaker")
    status = emulator.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
    assert status == "CREATE_COMPLETE"
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=deployed["ConfigName"])
    model = sagemaker.describe_model(ModelName=deployed["ModelName"])
    # Ref is the ARN (the resources' primary identifier); Fn::GetAtt gives the names.
    assert deployed["EndpointRef"] == endpoint["EndpointArn"] == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/{ENDPOINT}"
    assert deployed["EndpointName"] == ENDPOINT and deployed["ConfigRef"] == config["EndpointConfigArn"]
    assert deployed["ModelRef"] == model["ModelArn"]
    assert re.fullmatch(r"EndpointModel0F230181-[A-Za-z0-9]{12}", deployed["ModelName"])
    assert endpoint["EndpointStatus"] == "InService" and endpoint["EndpointConfigName"] == deployed["ConfigName"]
    assert [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]] == [ENDPOINT]
    assert model["Containers"] == [{"ModelPackageName": versions[0].arn}] and "PrimaryContainer" not in model
    assert model["EnableNetworkIsolation"] is True and model["VpcConfig"]["Subnets"] == ["subnet-0123456789abcdef1", "subnet-0123456789abcdef2"]
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.g5.xlarge"
    assert config["ProductionVariants"][0]["ModelName"] == deployed["ModelName"]
    assert config["DataCaptureConfig"]["KmsKeyId"] == KEY and "KmsKeyId" not in config
    # What the Serving stack declares around the endpoint deploys with it.
    autoscaling = emulator.client("application-autoscaling")
    target = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in target] == [(f"endpoint/{ENDPOINT}/variant/primary", 2, 4)]
    policies = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert [p["PolicyName"] for p in policies] == ["InvocationsPerInstance"]
    alarms = emulator.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert deployed["AlarmArn"] in [a["AlarmArn"] for a in alarms]


def test_invocations_answer_with_the_registered_versions_predictions(emulator, versions, deployed):
    runtime = emulator.client("sagemaker-runtime")
    answer = runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=csv_body(), ContentType="text/csv", Accept="text/csv", CustomAttributes="trace=1")
    assert answer["ContentType"] == "text/csv" and answer["InvokedProductionVariant"] == "primary"
    served = np.array([float(v) for v in answer["Body"].read().split()], dtype=np.float32)
    # serve.py writes 9 significant digits: each float32 score reads back exactly.
    np.testing.assert_array_equal(served, versions[0].predictions())
    answer = runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=json.dumps({"instances": ROWS[:5].tolist()}),
                                     ContentType="application/json", Accept="application/json")
    assert answer["ContentType"] == "application/json"
    np.testing.assert_array_equal(np.float32(json.loads(answer["Body"].read())["predictions"]), versions[0].predictions()[:5])


def test_one_server_per_endpoint_serves_every_invocation(emulator, deployed):
    servers = model_servers(emulator)
    assert len(servers) == 1
    scores(emulator)
    assert model_servers(emulator) == servers


def test_a_malformed_body_is_a_model_error_with_the_containers_status(emulator, deployed):
    error = model_error(emulator, ENDPOINT, b"1,2\n")
    assert error["Error"]["Code"] == "ModelError" and error["ResponseMetadata"]["HTTPStatusCode"] == 424
    # serve.py's own answer to a row of 2 features for a model of 4, passed on as it came.
    assert error["OriginalStatusCode"] == 400 and error["OriginalMessage"]
    assert error["Error"]["Message"].startswith(f'Received client error (400) from primary with message "{error["OriginalMessage"]}".')
    assert error["LogStreamArn"] == f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{ENDPOINT}"
    # A binary body reaches the container as sent (here: .npy bytes, which are not UTF-8), and is refused there.
    assert model_error(emulator, ENDPOINT, b"\x93NUMPY\x01\x00\xff", "application/x-npy")["OriginalStatusCode"] == 415
    # A form's content type (curl --data's default) reaches the container too, which says what it takes; moto alone
    # read it as a query-protocol call and answered an empty 404.
    error = model_error(emulator, ENDPOINT, csv_body(), "application/x-www-form-urlencoded")
    assert error["Error"]["Code"] == "ModelError" and error["OriginalStatusCode"] == 415
    assert "application/x-www-form-urlencoded" in error["OriginalMessage"] and "text/csv" in error["OriginalMessage"]


def test_an_unknown_endpoint_is_a_validation_error_in_sagemakers_words(emulator, deployed):
    error = model_error(emulator, "no-such-endpoint", csv_body())
    assert error["Error"] == {"Code": "ValidationError", "Message": f"Endpoint no-such-endpoint of account {ACCOUNT} not found."}
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_new_model_version_reaches_the_same_endpoint(emulator, versions, deployed):
    sagemaker = emulator.client("sagemaker")
    (old_pid, old_port), = model_servers(emulator).items()
    emulator.client("cloudformation").update_stack(StackName=STACK, TemplateBody=json.dumps(serving_template(versions[1].arn)))
    updated = outputs(emulator)
    assert emulator.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    # New model and endpoint config (replacements, new names); the same endpoint, switched to the new config.
    assert updated["EndpointRef"] == deployed["EndpointRef"] and updated["EndpointName"] == ENDPOINT
    assert updated["ModelName"] != deployed["ModelName"] and updated["ConfigName"] != deployed["ConfigName"]
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointConfigName"] == updated["ConfigName"] and endpoint["EndpointStatus"] == "InService"
    assert endpoint["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == [updated["ModelName"]]
    assert [c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]] == [updated["ConfigName"]]
    assert gone(old_pid, old_port), "the old version's server still runs"
    served = scores(emulator)
    np.testing.assert_array_equal(served, versions[1].predictions())
    assert not np.array_equal(served, versions[0].predictions())


def test_deleting_the_stack_deletes_the_endpoint_and_stops_its_server(emulator, deployed):
    sagemaker = emulator.client("sagemaker")
    (pid, port), = model_servers(emulator).items()
    emulator.client("cloudformation").delete_stack(StackName=STACK)
    with pytest.raises(ClientError, match="Could not find endpoint") as raised:
        sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert sagemaker.list_models()["Models"] == [] and sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert emulator.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert gone(pid, port) and model_servers(emulator) == {}


def deploy_as_the_cdk_cli_does(emulator: Emulator, stack: str, template: dict, *, update: bool) -> None:
    """The CDK CLI's calls for `cdk deploy` of one stack: its change set is always cdk-deploy-change-set; an old
    one is deleted and waited for until DescribeChangeSet says ChangeSetNotFound; the bootstrap version is an
    SSM parameter passed with UsePreviousValue on updates."""
    cloudformation = emulator.client("cloudformation")
    template = {**template, "Parameters": {"BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>",
                                                                "Default": "/cdk-bootstrap/hnb659fds/version"}}}
    if update:
        cloudformation.delete_change_set(StackName=stack, ChangeSetName="cdk-deploy-change-set")
        with pytest.raises(ClientError) as raised:
            cloudformation.describe_change_set(StackName=stack, ChangeSetName="cdk-deploy-change-set")
        assert raised.value.response["Error"]["Code"] == "ChangeSetNotFound"
    cloudformation.create_change_set(
        StackName=stack, ChangeSetName="cdk-deploy-change-set", ChangeSetType="UPDATE" if update else "CREATE",
        TemplateBody=json.dumps(template), Parameters=[{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True}] if update else [])
    assert cloudformation.describe_change_set(StackName=stack, ChangeSetName="cdk-deploy-change-set")["StackName"] == stack
    cloudformation.execute_change_set(StackName=stack, ChangeSetName="cdk-deploy-change-set")


def test_a_new_version_reaches_the_endpoint_through_the_cdk_clis_change_sets(emulator, versions):
    emulator.client("ssm").put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String", Overwrite=True)
    other = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    deploy_as_the_cdk_cli_does(emulator, "cli-Serving", serving_template(versions[0].arn), update=False)
    deploy_as_the_cdk_cli_does(emulator, "cli-Other", other, update=False)  # a change set of the same name, in another stack
    before = outputs(emulator, "cli-Serving")
    deploy_as_the_cdk_cli_does(emulator, "cli-Serving", serving_template(versions[1].arn), update=True)
    after = outputs(emulator, "cli-Serving")
    status = {s["StackName"]: s["StackStatus"] for s in emulator.client("cloudformation").describe_stacks()["Stacks"]}
    assert (status["cli-Serving"], status["cli-Other"]) == ("UPDATE_COMPLETE", "CREATE_COMPLETE")
    assert after["EndpointRef"] == before["EndpointRef"] and after["ConfigName"] != before["ConfigName"]
    model = emulator.client("sagemaker").describe_model(ModelName=after["ModelName"])
    assert model["Containers"] == [{"ModelPackageName": versions[1].arn}]
    assert emulator.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == after["ConfigName"]
    for stack in ("cli-Serving", "cli-Other"):
        emulator.client("cloudformation").delete_stack(StackName=stack)


# -- the SageMaker API without CloudFormation ------------------------------------------------------------
def test_the_api_hosts_a_model_package_version_and_updates_the_endpoint_to_another(emulator, versions):
    sagemaker = emulator.client("sagemaker")
    for number, version in enumerate(versions):
        sagemaker.create_model(ModelName=f"api-model-{number}", ExecutionRoleArn=ROLE, EnableNetworkIsolation=True,
                               Containers=[{"ModelPackageName": version.arn}])
        sagemaker.create_endpoint_config(EndpointConfigName=f"api-config-{number}", ProductionVariants=[
            {"VariantName": "blue", "ModelName": f"api-model-{number}", "InstanceType": "ml.g6.xlarge", "InitialInstanceCount": 1}])
    model = sagemaker.describe_model(ModelName="api-model-0")
    assert model["Containers"] == [{"ModelPackageName": versions[0].arn}] and model["EnableNetworkIsolation"] is True
    assert not {"PrimaryContainer", "VpcConfig"} & model.keys()
    with pytest.raises(ClientError, match='Cannot create already existing model ".*:model/api-model-0"'):
        sagemaker.create_model(ModelName="api-model-0", ExecutionRoleArn=ROLE, Containers=[{"ModelPackageName": versions[0].arn}])

    sagemaker.create_endpoint(EndpointName="api-endpoint", EndpointConfigName="api-config-0")
    # (That an update stops the old version's server is shown by the stack update above: it calls the same UpdateEndpoint.)
    sagemaker.update_endpoint(EndpointName="api-endpoint", EndpointConfigName="api-config-1")
    assert sagemaker.describe_endpoint(EndpointName="api-endpoint")["EndpointConfigName"] == "api-config-1"
    answer = emulator.client("sagemaker-runtime").invoke_endpoint(EndpointName="api-endpoint", Body=csv_body(), ContentType="text/csv")
    assert answer["InvokedProductionVariant"] == "blue"
    np.testing.assert_array_equal(np.float32(answer["Body"].read().split()), versions[1].predictions())

    (pid, port), = model_servers(emulator).items()
    sagemaker.delete_endpoint(EndpointName="api-endpoint")
    assert gone(pid, port)
    assert model_error(emulator, "api-endpoint", csv_body())["Error"]["Code"] == "ValidationError"


def body_of(size: int) -> bytes:
    """CSV rows of the test features, whole lines, as close to ``size`` bytes as they come without passing it."""
    line = csv_body(ROWS[:1]) + b"\n"
    return line * (size // len(line))


def test_payload_limits_are_sagemakers_6_mb_and_4_mb_for_a_serverless_endpoint(emulator, versions):
    """Above 6 MB SageMaker's front end refuses the request itself, before any container: HTTP 413 "HTTP content
    length exceeded 6291456 bytes." (botocore's BodyBlob max; the answer as users report it, aws/sagemaker-python-sdk
    #171). A serverless endpoint takes 4 MB ("Invoke a serverless endpoint": "The maximum request and response
    payload size for serverless invocations is 4 MB"), and refuses more with ValidationError "Request <id> has
    oversize body." (aws/sagemaker-python-sdk#4271). A batch that fits locally then fits in AWS."""
    from local.emulator.endpoints import MAX_BODY, MAX_SERVERLESS_BODY

    assert MAX_BODY == 6291456 and MAX_SERVERLESS_BODY == 4194304
    sagemaker, runtime = emulator.client("sagemaker"), emulator.client("sagemaker-runtime")
    sagemaker.create_model(ModelName="limits", ExecutionRoleArn=ROLE, Containers=[{"ModelPackageName": versions[0].arn}])
    for name, variant in (("limits-instances", {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1}),
                          ("limits-serverless", {"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 1}})):
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
            {"VariantName": "primary", "ModelName": "limits", **variant}])
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        for name, limit in (("limits-instances", MAX_BODY), ("limits-serverless", MAX_SERVERLESS_BODY)):
            body = body_of(limit)
            answer = runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv")
            assert len(answer["Body"].read().split()) == body.count(b"\n")  # up to the limit: every row scored
            error = model_error(emulator, name, body + b"0" * (limit - len(body) + 1))
            if name == "limits-instances":
                assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
                assert error["Error"] == {"Code": "413", "Message": "HTTP content length exceeded 6291456 bytes."}
            else:
                assert error["ResponseMetadata"]["HTTPStatusCode"] == 400 and error["Error"]["Code"] == "ValidationError"
                assert re.fullmatch(r"Request [0-9a-f-]{36} has oversize body\. \(A serverless endpoint takes at most "
                                    r"4194304 bytes a request, this one has 4194305: send fewer rows a request\.\)",
                                    error["Error"]["Message"]), error["Error"]["Message"]
        # Over 6 MB the refusal comes before the endpoint is looked up, as SageMaker's front end's does.
        assert model_error(emulator, "no-such-endpoint", b"0" * (MAX_BODY + 1))["Error"]["Code"] == "413"
    finally:
        for name in ("limits-instances", "limits-serverless"):
            sagemaker.delete_endpoint(EndpointName=name)


def wait_for_transform(sagemaker, name: str) -> dict:
    for _ in range(600):
        job = sagemaker.describe_transform_job(TransformJobName=name)
        if job["TransformJobStatus"] != "InProgress":
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"{name} still InProgress")


def test_a_transform_job_started_through_the_api_scores_its_input_or_fails_with_the_reason(emulator, versions):
    """CreateTransformJob outside a pipeline (a user's batch of new rows): the registered version's archive serves
    the input's lines and SageMaker's <input key>.out lands in the output path (Batch Transform's naming). moto
    answered Completed and wrote nothing; a job that cannot run now ends Failed with the reason."""
    s3, sagemaker = emulator.client("s3"), emulator.client("sagemaker")
    sagemaker.create_model(ModelName="batch-scoring", ExecutionRoleArn=ROLE, Containers=[{"ModelPackageName": versions[0].arn}])
    rows = ROWS[:7]
    s3.put_object(Bucket=BUCKET, Key="batch/in/new-rows.csv", Body="\n".join(",".join(repr(float(v)) for v in r) for r in rows).encode())
    request = dict(ModelName="batch-scoring", BatchStrategy="MultiRecord", MaxPayloadInMB=6,
                   TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
                   TransformOutput={"S3OutputPath": f"s3://{BUCKET}/batch/out", "Accept": "text/csv", "AssembleWith": "Line"})
    sagemaker.create_transform_job(TransformJobName="scores", **request, TransformInput={
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/batch/in"}},
        "ContentType": "text/csv", "SplitType": "Line"})
    job = wait_for_transform(sagemaker, "scores")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    scores = s3.get_object(Bucket=BUCKET, Key="batch/out/new-rows.csv.out")["Body"].read().decode().split()
    np.testing.assert_allclose([float(v) for v in scores], versions[0].predictions(rows), rtol=1e-6)
    sagemaker.create_transform_job(TransformJobName="no-split", **request, TransformInput={
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/batch/in"}}, "ContentType": "text/csv"})
    failed = wait_for_transform(sagemaker, "no-split")
    assert failed["TransformJobStatus"] == "Failed"
    assert failed["FailureReason"] == "only text/csv input split by Line is supported locally"


def test_an_archive_that_cannot_be_served_fails_the_endpoint_with_the_reason(emulator, versions):
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_model(ModelName="missing-archive", ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": "xgboost", "ModelDataUrl": f"s3://{BUCKET}/nothing/model.tar.gz"})
    sagemaker.create_endpoint_config(EndpointConfigName="missing-archive", ProductionVariants=[
        {"VariantName": "primary", "ModelName": "missing-archive", "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 1}}])
    sagemaker.create_endpoint(EndpointName="missing-archive", EndpointConfigName="missing-archive")
    error = model_error(emulator, "missing-archive", csv_body())
    assert error["Error"]["Code"] == "ValidationError" and f"s3://{BUCKET}/nothing/model.tar.gz" in error["Error"]["Message"]
    described = sagemaker.describe_endpoint(EndpointName="missing-archive")
    assert described["EndpointStatus"] == "Failed" and "Failed to download model data" in described["FailureReason"]
    sagemaker.delete_endpoint(EndpointName="missing-archive")


# -- the synthesized Serving stacks ----------------------------------------------------------------------
def satisfy_imports(emulator: Emulator, template_text: str, stack: str) -> None:
    """A stack exporting every name the template imports (role names and ARNs from a real role, the rest as
    plausible IDs), and the CDK bootstrap version parameter, so the template deploys alone."""
    def value(name: str) -> object:
        if "Role" in name:
            return {"Fn::GetAtt": ["Role", "Arn"]} if "Arn" in name else {"Ref": "Role"}
        if "SecurityGroup" in name:
            return "sg-0123456789abcdef0"
        if "Subnet" in name:
            return f"subnet-{abs(hash(name)) % 10**8:08d}"
        if "bucket-arn" in name:
            return f"arn:aws:s3:::{BUCKET}"
        if "Notifications" in name:
            return f"arn:aws:sns:us-east-1:{ACCOUNT}:notifications"
        return KEY

    names = sorted(set(re.findall(r'"Fn::ImportValue": "([^"]+)"', template_text)))
    role = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}}
    exports = {"Resources": {"Role": role},
               "Outputs": {f"Export{i}": {"Value": value(name), "Export": {"Name": name}} for i, name in enumerate(names)}}
    emulator.client("cloudformation").create_stack(StackName=stack, TemplateBody=json.dumps(exports), Capabilities=["CAPABILITY_IAM"])
    emulator.client("ssm").put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String", Overwrite=True)


@pytest.mark.parametrize("env", ["dev", "sandbox"])
def test_the_synthesized_serving_stack_deploys_and_serves_the_version_it_names(emulator, versions, serving_assembly, env):
    template = serving_assembly.template_json(env, f"{EXAMPLE}-Serving")
    [model] = [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"]
    named = model["Properties"]["Containers"][0]["ModelPackageName"]
    text = json.dumps(template).replace(named, versions[0].arn)  # the version this test registered
    satisfy_imports(emulator, text, f"{env}-imports")
    cloudformation, stack = emulator.client("cloudformation"), f"{env}-{EXAMPLE}-Serving"
    cloudformation.create_stack(StackName=stack, TemplateBody=text, Capabilities=["CAPABILITY_IAM"])
    assert cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    deployed = {r["LogicalResourceId"] for r in cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
                if "LogicalResourceId" in r}
    # Every resource deploys but the monitoring schedule: moto has no monitoring-schedule API to hold one.
    assert {k for k, r in template["Resources"].items() if r["Type"] != "AWS::SageMaker::MonitoringSchedule"} == deployed
    endpoint = outputs(emulator, stack)["EndpointName"]
    assert emulator.client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    if env == "sandbox":  # one is enough to show the synthesized endpoint serves (each server costs seconds)
        np.testing.assert_array_equal(scores(emulator, endpoint), versions[0].predictions())
    servers = model_servers(emulator)
    cloudformation.delete_stack(StackName=stack)
    assert emulator.client("sagemaker").list_endpoints()["Endpoints"] == []
    assert all(gone(pid, port) for pid, port in servers.items())


def test_the_templates_resource_shapes_follow_the_serving_stack(serving_assembly):
    """The hand-written template above has the synthesized stack's SageMaker shapes (what the emulator must deploy)."""
    synthesized = serving_assembly.template_json("sandbox", f"{EXAMPLE}-Serving")["Resources"]
    written = serving_template("arn")["Resources"]
    for logical_id in ("EndpointModel0F230181", "EndpointConfig24AD0A28", "Endpoint8024A810"):
        assert synthesized[logical_id]["Type"] == written[logical_id]["Type"]
        assert set(written[logical_id]["Properties"]) <= set(synthesized[logical_id]["Properties"]) | {"Tags"}
    assert synthesized["Endpoint8024A810"]["Properties"]["EndpointConfigName"] == written["Endpoint8024A810"]["Properties"]["EndpointConfigName"]


# -- the servers' lifetime (last: it resets and stops the module's emulator) -----------------------------
def test_reset_and_stopping_the_emulator_stop_the_model_servers(emulator, tmp_path):
    def serve_one(work: Path) -> tuple[int, int]:
        [version] = register(emulator, work, seeds=(3,), group="lifetime")
        sagemaker = emulator.client("sagemaker")
        sagemaker.create_model(ModelName="m", ExecutionRoleArn=ROLE, Containers=[{"ModelPackageName": version.arn}])
        sagemaker.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[
            {"VariantName": "primary", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
        sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="c")
        np.testing.assert_array_equal(scores(emulator, "e"), version.predictions())
        [(pid, port)] = model_servers(emulator).items()
        return pid, port

    pid, port = serve_one(tmp_path / "first")
    emulator.reset()
    assert gone(pid, port)
    pid, port = serve_one(tmp_path / "second")
    emulator.stop()  # the fixture's own stop afterwards finds nothing left to stop
    deadline = time.monotonic() + 5
    while not gone(pid, port) and time.monotonic() < deadline:  # the signal reaches the whole group; exits take a moment
        time.sleep(0.1)
    assert gone(pid, port)
