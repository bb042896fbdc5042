"""The dev stage deployed for real: emulator started by our code, real `cdk bootstrap`,
`cdk deploy` and `cdk destroy`. Security properties are asserted on templates (the
emulator drops many); this proves the stacks deploy, wire together and clean up."""

from __future__ import annotations

import base64
import io
import json
import tarfile

import pytest
from botocore.exceptions import ClientError

from local.deployment import deploy_stage, destroy_stage, inventory, stage_stack_names
from local.emulator import Emulator

pytestmark = pytest.mark.integration
STACKS = ["dev-Data", "dev-Network", "dev-Notebooks", "dev-Roles", "dev-TrainingPipeline"]


@pytest.fixture(scope="module")
def deployed():
    with Emulator() as emulator:
        deploy_stage(emulator, "dev")
        by_type: dict[str, list[str]] = {}
        for stack in inventory(emulator, "dev"):
            for resource_type, pairs in stack.resources.items():
                by_type.setdefault(resource_type, []).extend(physical for _, physical in pairs)
        yield emulator, by_type


def test_all_dev_stacks_are_created(deployed):
    emulator, _ = deployed
    cfn = emulator.client("cloudformation")
    assert stage_stack_names(emulator, "dev") == STACKS
    for name in STACKS:
        assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_keys_and_buckets_exist(deployed):
    emulator, resources = deployed
    assert len(resources["AWS::KMS::Key"]) == 2  # the data key and the notifications key
    for key_id in resources["AWS::KMS::Key"]:
        assert emulator.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert len(resources["AWS::S3::Bucket"]) == 3
    s3 = emulator.client("s3")
    for bucket in resources["AWS::S3::Bucket"]:
        s3.head_bucket(Bucket=bucket)


def test_cross_stack_exports_resolve_to_the_real_resources(deployed):
    emulator, resources = deployed
    exports = {e["Name"]: e["Value"] for e in emulator.client("cloudformation").list_exports()["Exports"]}
    assert exports["sagemaker-platform-dev-data-key-arn"].split("/")[-1] in resources["AWS::KMS::Key"]
    raw = exports["sagemaker-platform-dev-raw-data-bucket-arn"].removeprefix("arn:aws:s3:::")
    assert raw in resources["AWS::S3::Bucket"]


def test_execution_roles_exist_and_trust_sagemaker(deployed):
    emulator, resources = deployed
    iam = emulator.client("iam")
    names = [n for n in resources["AWS::IAM::Role"] if n.startswith("dev-Roles-")]
    assert sorted(n.split("-")[2].split("Role")[0] for n in names) == ["Endpoints", "Jobs", "Monitoring", "Notebooks", "Pipelines"]
    for name in names:
        trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}


def test_notebook_and_lifecycle_config_exist(deployed):
    emulator, resources = deployed
    sagemaker = emulator.client("sagemaker")
    (notebook_arn,) = resources["AWS::SageMaker::NotebookInstance"]
    (lifecycle_arn,) = resources["AWS::SageMaker::NotebookInstanceLifecycleConfig"]
    notebook = sagemaker.describe_notebook_instance(NotebookInstanceName=notebook_arn.split("/")[-1])
    assert notebook["InstanceType"] == "ml.t3.medium"
    lifecycle = sagemaker.describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=lifecycle_arn.split("/")[-1]
    )
    assert "autostop" in base64.b64decode(lifecycle["OnStart"][0]["Content"]).decode()


def test_training_pipeline_pieces_are_deployed(deployed):
    emulator, resources = deployed
    (function_name,) = [f for f in resources["AWS::Lambda::Function"] if "EvaluationGate" in f]
    function = emulator.client("lambda").get_function(FunctionName=function_name)["Configuration"]
    assert (function["Handler"], function["Runtime"]) == ("handler.handler", "python3.14")
    assert function["VpcConfig"]["SubnetIds"]
    (topic_arn,) = resources["AWS::SNS::Topic"]
    attributes = emulator.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert attributes["KmsMasterKeyId"].startswith("arn:aws:kms:")
    events = emulator.client("events")
    rules = [events.describe_rule(Name=name.split("|")[-1]) for name in resources["AWS::Events::Rule"]]
    assert sorted(json.loads(r["EventPattern"])["detail-type"][0] for r in rules) == [
        "SageMaker Model Building Pipeline Execution Status Change", "SageMaker Model Package State Change",
    ]


def test_pipeline_and_registry_group_are_deployed(deployed):
    emulator, resources = deployed
    sagemaker = emulator.client("sagemaker")
    assert resources["AWS::SageMaker::ModelPackageGroup"] == ["dev-direct-marketing"]
    group = sagemaker.describe_model_package_group(ModelPackageGroupName="dev-direct-marketing")
    assert group["ModelPackageGroupStatus"] == "Completed"
    pipeline = sagemaker.describe_pipeline(PipelineName="dev-training")
    assert pipeline["RoleArn"].split("/")[-1] in resources["AWS::IAM::Role"]
    definition = json.loads(pipeline["PipelineDefinition"])
    assert [s["Name"] for s in definition["Steps"]] == ["Preprocess", "Train", "Evaluate", "EvaluationGate", "CheckEvaluation"]
    # Deploy-time values were resolved into the definition: the real buckets and the gate's ARN.
    raw_bucket = next(b for b in resources["AWS::S3::Bucket"] if "rawdata" in b)
    parameters = {p["Name"]: p for p in definition["Parameters"]}
    assert parameters["InputDataUri"]["DefaultValue"] == f"s3://{raw_bucket}/direct-marketing/caravan.csv"
    gate_step = definition["Steps"][3]
    assert gate_step["FunctionArn"].endswith(next(f for f in resources["AWS::Lambda::Function"] if "EvaluationGate" in f))


def test_training_code_asset_is_the_scripts_tarball(deployed):
    emulator, _ = deployed
    s3 = emulator.client("s3")
    bucket = "cdk-hnb659fds-assets-123456789012-us-east-1"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"] if o["Key"].endswith(".gz")]
    archives = {k: tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read())) for k in keys}
    ((key, scripts),) = [(k, a) for k, a in archives.items() if "train.py" in a.getnames()]
    assert {"preprocess.py", "train.py", "evaluate.py", "inference.py", "sm_contract.py"} <= set(scripts.getnames())
    assert "requirements.txt" not in scripts.getnames()
    # The object the pipeline's jobs are given is this one.
    definition = json.loads(emulator.client("sagemaker").describe_pipeline(PipelineName="dev-training")["PipelineDefinition"])
    assert definition["Steps"][0]["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] == f"s3://{bucket}/{key}"


def test_destroy_leaves_nothing_behind(deployed):
    emulator, resources = deployed
    destroy_stage(emulator, "dev")
    assert stage_stack_names(emulator, "dev") == []
    s3 = emulator.client("s3")
    for bucket in resources["AWS::S3::Bucket"]:
        with pytest.raises(ClientError):
            s3.head_bucket(Bucket=bucket)
    iam = emulator.client("iam")
    for role in resources["AWS::IAM::Role"]:
        with pytest.raises(ClientError):
            iam.get_role(RoleName=role)
    sagemaker = emulator.client("sagemaker")
    assert sagemaker.list_notebook_instances()["NotebookInstances"] == []
    for lifecycle_arn in resources["AWS::SageMaker::NotebookInstanceLifecycleConfig"]:
        with pytest.raises(ClientError) as gone:
            sagemaker.describe_notebook_instance_lifecycle_config(
                NotebookInstanceLifecycleConfigName=lifecycle_arn.split("/")[-1]
            )
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    ec2 = emulator.client("ec2")
    (vpc_id,) = resources["AWS::EC2::VPC"]
    assert [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["VpcId"] == vpc_id] == []
    live_endpoints = [
        e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["VpcId"] == vpc_id and e["State"].lower() != "deleted"
    ]
    assert live_endpoints == []
    aliases = emulator.client("kms").list_aliases()["Aliases"]
    assert not [a for a in aliases if a["AliasName"].startswith("alias/sagemaker-platform/dev/")]
    # AWS schedules a key's deletion (7-day window in dev); the emulator removes it at once.
    for key_id in resources["AWS::KMS::Key"]:
        try:
            key = emulator.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]
            assert key["KeyState"] == "PendingDeletion"
        except ClientError as error:
            assert error.response["Error"]["Code"] == "NotFoundException"
    logs = emulator.client("logs")
    assert not [g for g in logs.describe_log_groups()["logGroups"] if g["logGroupName"].startswith("dev-")]
    lambdas = emulator.client("lambda").list_functions()["Functions"]
    assert not [f for f in lambdas if "EvaluationGate" in f["FunctionName"]]
    assert emulator.client("sns").list_topics()["Topics"] == []
    assert sagemaker.list_pipelines()["PipelineSummaries"] == []
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []  # dev: destroy
