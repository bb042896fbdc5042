"""`make demo`'s path: the dev stage deployed for real (emulator started by our code, real
`cdk bootstrap` and `cdk deploy`), the deployed training pipeline run end to end by the
local runner, the registered model served and scored, then `cdk destroy`. Security
properties are asserted on templates (the emulator drops many); this proves the stacks
deploy, wire together, train, register, serve and clean up."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import tarfile

import pytest
from botocore.exceptions import ClientError

import naming
from config import load_environment
from local.demo import run_demo
from local.deployment import destroy_stage, inventory, stage_stack_names
from local.emulator import Emulator
from local.jobs import split_uri
from local.pipeline import run_pipeline
from local.tracking_server import TrackingServer
from tests.helpers.configs import EXAMPLE
from tests.helpers.paths import CONFIG_DIR, ROOT

pytestmark = pytest.mark.integration
#: The fixture config's dev catalog: the demo deploys every model and runs each one's pipeline.
DEV = load_environment(CONFIG_DIR / "dev.yaml")
MODELS = list(DEV.models)
STACKS = sorted(["dev-Data", "dev-Network", "dev-Notebooks", "dev-Roles", *(["dev-Studio"] if DEV.studio.enabled else []),
                 *(f"dev-{m}-TrainingPipeline" for m in MODELS), *(f"dev-{m}-Serving" for m in MODELS)])


GROUP = f"dev-{EXAMPLE}"
# RegisterModel last: it depends on BatchTransform, so only a version whose serving code scored raw rows registers.
STEPS = ["Preprocess", "Train", "Evaluate", "EvaluationGate", "CheckEvaluation", "CreateModel", "BatchTransform", "RegisterModel"]


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    """The demo's phases, as `make demo` runs them, on an emulator this module keeps."""
    work = tmp_path_factory.mktemp("demo")
    with Emulator() as emulator, TrackingServer(work / "mlflow") as mlflow:
        # Its own cloud assembly: other tests' CDK CLIs on cdk.out would wait for or refuse this one.
        demo = run_demo(emulator, work_dir=work, cdk_out=work / "cdk.out", config_dir=CONFIG_DIR, tracking=mlflow)
        by_type: dict[str, list[str]] = {}
        for stack in inventory(emulator, "dev"):
            for resource_type, pairs in stack.resources.items():
                by_type.setdefault(resource_type, []).extend(physical for _, physical in pairs)
        yield emulator, by_type, demo


@pytest.fixture(scope="module")
def deployed(stage):
    return stage[:2]


@pytest.fixture(scope="module")
def demo(stage):
    return stage[2]


def read(s3, uri: str) -> bytes:
    bucket, key = split_uri(uri)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def versions(emulator) -> list[dict]:
    return emulator.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]


def test_all_dev_stacks_are_created(deployed):
    emulator, _ = deployed
    cfn = emulator.client("cloudformation")
    assert stage_stack_names(emulator, "dev") == STACKS
    for name in STACKS:  # the shared stacks were updated with the exports the endpoints import
        assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")


def test_keys_and_buckets_exist(deployed):
    emulator, resources = deployed
    assert len(resources["AWS::KMS::Key"]) == 1 + len(MODELS)  # the data key and each model's notifications key
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
    assert sorted(n.split("-")[2].split("Role")[0] for n in names) == ["Endpoints", "Experiments", "Jobs", "Monitoring", "Notebooks",
                                                                   "Pipelines"]
    # Each model's pipeline jobs run as its own role, deployed with the model's stack under the name the pipelines
    # role passes (and the pipeline's definition names).
    jobs = [naming.pipeline_jobs_role_name("dev", model) for model in MODELS]
    assert set(jobs) <= set(resources["AWS::IAM::Role"])
    pipelines = {p["PipelineName"]: p for p in (emulator.client("sagemaker").describe_pipeline(PipelineName=naming.pipeline_name("dev", m))
                                                 for m in MODELS)}
    runs_as = []
    for model, role in zip(MODELS, jobs, strict=True):
        pipeline = pipelines[naming.pipeline_name("dev", model)]
        assert iam.get_role(RoleName=role)["Role"]["Arn"] in pipeline["PipelineDefinition"]
        assert all(other not in pipeline["PipelineDefinition"] for other in jobs if other != role)
        # Executions run as a role of the model's own stack, not the roles stack's.
        runs_as.append(pipeline["RoleArn"].rsplit("/", 1)[1])
        assert runs_as[-1] in resources["AWS::IAM::Role"] and runs_as[-1] not in names + jobs
    assert len(set(runs_as)) == len(MODELS)
    for name in names + jobs + runs_as:
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


def test_the_studio_domain_its_profiles_and_spaces_are_deployed_as_configured(deployed, demo):
    """The fixture's dev Studio: a VPC-only domain in the platform's VPC, and per member of each team a profile with the
    team's role and a private JupyterLab space named <team>-<member>, read back through SageMaker's API."""
    emulator, resources = deployed
    sagemaker = emulator.client("sagemaker")
    (domain_id,) = resources["AWS::SageMaker::Domain"]
    domain = sagemaker.describe_domain(DomainId=domain_id)
    (vpc_id,) = resources["AWS::EC2::VPC"]
    assert (domain["DomainName"], domain["AppNetworkAccessType"], domain["VpcId"]) == ("dev-studio", "VpcOnly", vpc_id)
    members = {member: team for team, config in DEV.studio.teams.items() for member in config.members}
    profiles = sagemaker.list_user_profiles(DomainIdEquals=domain_id)["UserProfiles"]
    assert sorted(p["UserProfileName"] for p in profiles) == sorted(members)
    roles = {name for name in resources["AWS::IAM::Role"] if name.startswith("dev-Studio-")}
    for member, team in members.items():
        settings = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName=member)["UserSettings"]
        assert settings["ExecutionRole"].split("/")[-1] in roles
        assert f"{team.capitalize()}Execution" in settings["ExecutionRole"]
        space = sagemaker.describe_space(DomainId=domain_id, SpaceName=f"{team}-{member}")
        assert (space["SpaceSharingSettings"], space["OwnershipSettings"]) == ({"SharingType": "Private"}, {"OwnerUserProfileName": member})
        spec = space["SpaceSettings"]["JupyterLabAppSettings"]["DefaultResourceSpec"]
        assert spec["InstanceType"] == DEV.studio.teams[team].instance_types[0]
        lifecycle = sagemaker.describe_studio_lifecycle_config(StudioLifecycleConfigName=spec["LifecycleConfigArn"].split("/")[-1])
        assert lifecycle["StudioLifecycleConfigAppType"] == "JupyterLab"
    # The demo's summary says what a team would open, as the API describes it.
    assert demo.studio and f"domain {domain_id} (VpcOnly)" in demo.studio
    assert all(member in demo.studio and f"{team}-{member}" in demo.studio for member, team in members.items())


def test_training_pipeline_pieces_are_deployed(deployed):
    emulator, resources = deployed
    gates = [f for f in resources["AWS::Lambda::Function"] if "EvaluationGate" in f]
    assert len(gates) == len(MODELS)  # one gate per model
    (function_name,) = [f for f in gates if f.startswith(f"dev-{EXAMPLE}-")]
    function = emulator.client("lambda").get_function(FunctionName=function_name)["Configuration"]
    assert (function["Handler"], function["Runtime"]) == ("handler.handler", "python3.14")
    assert function["VpcConfig"]["SubnetIds"]
    assert len(resources["AWS::SNS::Topic"]) == len(MODELS)
    (topic_arn,) = [t for t in resources["AWS::SNS::Topic"] if f":dev-{EXAMPLE}-" in t]
    attributes = emulator.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert attributes["KmsMasterKeyId"].startswith("arn:aws:kms:")
    events = emulator.client("events")
    rules = [events.describe_rule(Name=name.split("|")[-1]) for name in resources["AWS::Events::Rule"]
             if name.split("|")[-1].startswith(f"dev-{EXAMPLE}-")]
    assert sorted(json.loads(r["EventPattern"])["detail-type"][0] for r in rules) == [
        "SageMaker Model Building Pipeline Execution Status Change",
        "SageMaker Model Package State Change",  # approved: with the promote command
        "SageMaker Model Package State Change",  # any other status
    ]


def test_pipeline_and_registry_group_are_deployed(deployed):
    emulator, resources = deployed
    sagemaker = emulator.client("sagemaker")
    assert sorted(resources["AWS::SageMaker::ModelPackageGroup"]) == sorted(f"dev-{m}" for m in MODELS)
    group = sagemaker.describe_model_package_group(ModelPackageGroupName=f"dev-{EXAMPLE}")
    assert group["ModelPackageGroupStatus"] == "Completed"
    pipeline = sagemaker.describe_pipeline(PipelineName=f"dev-{EXAMPLE}")
    assert pipeline["RoleArn"].split("/")[-1] in resources["AWS::IAM::Role"]
    definition = json.loads(pipeline["PipelineDefinition"])
    assert [s["Name"] for s in definition["Steps"]] == ["Preprocess", "Train", "Evaluate", "EvaluationGate", "CheckEvaluation"]
    # Deploy-time values were resolved into the definition: the real buckets and the gate's ARN.
    raw_bucket = next(b for b in resources["AWS::S3::Bucket"] if "rawdata" in b)
    parameters = {p["Name"]: p for p in definition["Parameters"]}
    assert parameters["InputDataUri"]["DefaultValue"] == f"s3://{raw_bucket}/{EXAMPLE}/Caravan.csv"
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
    definition = json.loads(emulator.client("sagemaker").describe_pipeline(PipelineName=f"dev-{EXAMPLE}")["PipelineDefinition"])
    assert definition["Steps"][0]["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] == f"s3://{bucket}/{key}"


def test_the_pipeline_ran_every_step_in_dependency_order(demo):
    execution = demo.model(EXAMPLE).execution
    assert execution.succeeded, execution.failure
    assert [(s.name, s.status) for s in execution.steps] == [(name, "Succeeded") for name in STEPS]
    assert list(demo.phases) == ["deploy", *(f"{m}/{phase}" for m in MODELS for phase in ("upload", "pipeline")), "endpoints",
                                 *(f"{m}/endpoint" for m in MODELS)]
    gate = execution.properties["EvaluationGate"]["OutputParameters"]
    assert gate["decision"] == "promote"
    assert "no approved model in dev-direct-marketing yet" in gate["reasons"]
    metrics = {m["MetricName"]: m["Value"] for m in execution.properties["Train"]["FinalMetricDataList"]}
    assert metrics["validation:auc"] > 0.7  # parsed from train.py's output with the definition's MetricDefinitions


def test_the_registered_version_points_at_the_model_and_its_reports(deployed, demo):
    emulator, _ = deployed
    s3 = emulator.client("s3")
    (version,) = versions(emulator)
    package = demo.model(EXAMPLE).model_package
    assert version["ModelPackageArn"] == package["ModelPackageArn"] and package["ModelApprovalStatus"] == "Approved"
    assert package["ModelPackageArn"].endswith(f"model-package/{GROUP}/1")
    metrics = package["ModelMetrics"]
    assert json.loads(read(s3, metrics["ModelQuality"]["Statistics"]["S3Uri"])) == demo.model(EXAMPLE).report
    assert "features" in json.loads(read(s3, metrics["ModelDataQuality"]["Statistics"]["S3Uri"]))
    assert json.loads(read(s3, package["DriftCheckBaselines"]["ModelDataQuality"]["Constraints"]["S3Uri"]))["features"]
    (container,) = package["InferenceSpecification"]["Containers"]
    names = tarfile.open(fileobj=io.BytesIO(read(s3, container["ModelDataUrl"]))).getnames()
    assert {"xgboost-model.json", "code/inference.py"} <= set(names)
    assert {"roc.png", "precision_recall.png"} <= {p.name for p in demo.model(EXAMPLE).report_dir.glob("*.png")}


def test_batch_transform_wrote_label_and_probability_for_every_test_row(deployed, demo):
    from sklearn.metrics import roc_auc_score

    emulator, _ = deployed
    s3 = emulator.client("s3")
    prefix = demo.model(EXAMPLE).execution.properties["BatchTransform"]["TransformOutput"]["S3OutputPath"]
    bucket, key = split_uri(prefix)
    objects = s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
    rows = [line.split(",") for o in objects for line in read(s3, f"s3://{bucket}/{o['Key']}").decode().split()]
    assert len(rows) == demo.model(EXAMPLE).scoring.rows and {len(r) for r in rows} == {2}  # OutputFilter $[0,-1]: label, probability
    labels, scores = [float(r[0]) for r in rows], [float(r[1]) for r in rows]
    assert set(labels) == {0.0, 1.0} and all(0 <= p <= 1 for p in scores)
    assert roc_auc_score(labels, scores) == pytest.approx(demo.model(EXAMPLE).report["binary_classification_metrics"]["auc"]["value"])


def test_the_endpoint_answers_the_raw_test_rows_through_the_runtime_api_as_the_report_says(demo):
    scoring = demo.model(EXAMPLE).scoring
    assert scoring.rows > 800 and scoring.endpoint == f"dev-{EXAMPLE}"
    assert scoring.auc == pytest.approx(scoring.report_auc, abs=1e-9)
    assert 0 < scoring.p50_ms <= scoring.p99_ms


def test_rows_as_the_data_file_holds_them_score_and_one_without_an_input_column_is_refused_by_name(deployed, demo, tmp_path):
    """What the demo sends where a team's preprocess.py derived a column the data file lacks: the file's first rows as
    the business holds them (the label and dropped columns left out), through the runtime API. The bundled model's
    endpoint scores them; a file without one of its input columns gets the endpoint's own refusal, naming it."""
    from local.demo import refusal_of_the_data_files_rows

    emulator, _ = deployed
    run = demo.model(EXAMPLE)
    assert run.source is not None and run.execution is not None
    assert refusal_of_the_data_files_rows(emulator, f"dev-{EXAMPLE}", run.execution, run.source) is None
    lines = run.source.read_text(encoding="utf-8-sig").splitlines()[:6]
    column = lines[0].split(",").index("MOSTYPE")
    without = tmp_path / "without-mostype.csv"
    without.write_text("\n".join(",".join(v for i, v in enumerate(line.split(",")) if i != column) for line in lines) + "\n")
    refused = refusal_of_the_data_files_rows(emulator, f"dev-{EXAMPLE}", run.execution, without)
    assert refused is not None and "'MOSTYPE' is missing" in refused, refused


def test_each_endpoint_serves_the_version_its_run_registered(deployed, demo):
    """The Serving stack deployed from the demo's config copy: endpoint -> config -> model -> that model package."""
    emulator, _ = deployed
    sagemaker = emulator.client("sagemaker")
    for name, run in demo.models.items():
        endpoint = sagemaker.describe_endpoint(EndpointName=f"dev-{name}")
        assert endpoint["EndpointStatus"] == "InService"
        config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        containers = model.get("Containers") or [model["PrimaryContainer"]]
        assert containers[0]["ModelPackageName"] == run.model_package["ModelPackageArn"]
        # It runs as its Serving stack's own role, which exists, trusts SageMaker and is no other endpoint's.
        role = emulator.client("iam").get_role(RoleName=naming.endpoint_role_name("dev", name))["Role"]
        assert model["ExecutionRoleArn"] == role["Arn"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}


def test_the_delivery_smoke_test_passes_against_the_emulated_endpoint(deployed, monkeypatch):
    """`python -m delivery smoke-test` as the pipeline runs it, through the emulator's SageMaker and runtime APIs."""
    import boto3

    from delivery.smoke_test import run, sample_file

    emulator, _ = deployed
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    for name in MODELS:
        lines = run(env="dev", region="us-east-1", endpoint=f"dev-{name}", role_arn=None, sample=sample_file(name), session=session)
        assert lines[0] == f"dev: endpoint dev-{name} is InService"
        assert lines[-1] == "a row without its last column was refused with HTTP 400"
    # The command line, pointed at the emulator by --endpoint-url alone, as the other delivery commands are.
    env = {**emulator.env(), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # a closed port: only the flag reaches the emulator
    name = MODELS[0]
    done = subprocess.run([sys.executable, "-m", "delivery", "smoke-test", "--env", "dev", "--region", "us-east-1",
                           "--endpoint", f"dev-{name}", "--sample", str(sample_file(name)), "--endpoint-url",
                           emulator.endpoint_url], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"ok: dev: endpoint dev-{name} is InService"


def test_a_rejected_model_ends_with_the_gate_reasons_and_a_non_zero_exit(deployed, demo, tmp_path):
    emulator, _ = deployed
    run = subprocess.run(
        [sys.executable, "-m", "local.pipeline", "--model", EXAMPLE, "--endpoint-url", emulator.endpoint_url,
         "-p", "MinAuc=0.99", "--work-dir", str(tmp_path), "--cdk-out", str(demo.cdk_out)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert re.fullmatch(r"execution \w{12} failed: Model not promoted: auc 0\.\d+ is below min_auc 0\.99", line), line
    assert "  - RejectModel (Fail) ..." in run.stdout and "outcome false" in run.stdout
    assert "RegisterModel" not in run.stdout
    assert len(versions(emulator)) == 1  # nothing registered


def test_a_second_version_is_compared_with_the_approved_champion(deployed, demo, tmp_path):
    emulator, _ = deployed
    result = run_pipeline(emulator, "dev", EXAMPLE, work_root=tmp_path, cdk_out=demo.cdk_out, say=lambda _: None)
    assert result.succeeded, result.failure
    reasons = result.properties["EvaluationGate"]["OutputParameters"]["reasons"]
    assert f"vs champion arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/1 auc" in reasons
    assert sorted(v["ModelPackageVersion"] for v in versions(emulator)) == [1, 2]


def test_naming_the_second_version_updates_the_endpoint_in_place(deployed, demo):
    """What `promote` then `cdk deploy` does: same endpoint name, a new config and model, answered by version 2."""
    from delivery.promote import promote
    from local.cdk_cli import deploy

    emulator, _ = deployed
    sagemaker, runtime = emulator.client("sagemaker"), emulator.client("sagemaker-runtime")
    (second,) = [v["ModelPackageArn"] for v in versions(emulator) if v["ModelPackageVersion"] == 2]
    before = sagemaker.describe_endpoint(EndpointName=f"dev-{EXAMPLE}")
    config_dir = demo.cdk_out.parent / "config"
    assert promote(config_dir, "dev", EXAMPLE, second, sagemaker)
    deploy(emulator.env(), [f"dev/{EXAMPLE}-Serving"], capture=True, output=demo.cdk_out, config_dir=config_dir)
    after = sagemaker.describe_endpoint(EndpointName=f"dev-{EXAMPLE}")
    assert after["EndpointArn"] == before["EndpointArn"] and after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] != before["EndpointConfigName"]
    model = sagemaker.describe_model(ModelName=sagemaker.describe_endpoint_config(
        EndpointConfigName=after["EndpointConfigName"])["ProductionVariants"][0]["ModelName"])
    assert (model.get("Containers") or [model["PrimaryContainer"]])[0]["ModelPackageName"] == second
    sample = (ROOT / "delivery" / "samples" / f"{EXAMPLE}.csv").read_bytes()
    answer = runtime.invoke_endpoint(EndpointName=f"dev-{EXAMPLE}", Body=sample, ContentType="text/csv", Accept="text/csv")
    assert len(answer["Body"].read().decode().split()) == len(sample.decode().splitlines()) - 1


def empty(s3, bucket: str) -> None:
    """What the buckets' auto-delete custom resource does in AWS (moto never runs it)."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])


def test_destroy_leaves_nothing_behind(deployed, demo):
    emulator, resources = deployed
    s3 = emulator.client("s3")
    for bucket in resources["AWS::S3::Bucket"]:
        empty(s3, bucket)
    sagemaker = emulator.client("sagemaker")
    if DEV.studio.enabled:
        # Someone's JupyterLab still running: the Studio stack's teardown deletes it (CloudFormation alone cannot).
        (domain_id,) = resources["AWS::SageMaker::Domain"]
        team, config = next(iter(DEV.studio.teams.items()))
        sagemaker.create_app(DomainId=domain_id, SpaceName=f"{team}-{config.members[0]}", AppType="JupyterLab", AppName="default")
    # The app as the demo deployed it: its config copy names the served versions, so the Serving stacks are in it.
    destroy_stage(emulator, "dev", cdk_out=demo.cdk_out, config_dir=demo.cdk_out.parent / "config")
    assert stage_stack_names(emulator, "dev") == []
    for bucket in resources["AWS::S3::Bucket"]:
        with pytest.raises(ClientError):
            s3.head_bucket(Bucket=bucket)
    iam = emulator.client("iam")
    for role in resources["AWS::IAM::Role"]:
        with pytest.raises(ClientError):
            iam.get_role(RoleName=role)
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
    assert sagemaker.list_endpoints()["Endpoints"] == []  # and their model servers: see test_emulator_endpoints.py
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []  # dev: destroy
    assert sagemaker.list_domains()["Domains"] == []  # dev: destroy; the profiles and spaces went first
    assert sagemaker.list_spaces()["Spaces"] == [] and sagemaker.list_user_profiles()["UserProfiles"] == []
    assert sagemaker.list_studio_lifecycle_configs()["StudioLifecycleConfigs"] == []
    # The domain's home volume and SageMaker's NFS security groups went with it (Custom::StudioTeardown).
    assert emulator.client("efs").describe_file_systems()["FileSystems"] == []
    assert not [g for g in emulator.client("ec2").describe_security_groups()["SecurityGroups"] if "-nfs-" in g["GroupName"]]


def test_every_model_of_the_catalog_trained_registered_and_served_on_its_own_data(demo):
    """The demo's path for the whole catalog: each model its own pipeline, registry group and data, one block each."""
    from local.demo import summary

    assert list(demo.models) == MODELS
    for name, run in demo.models.items():
        assert run.execution.succeeded, f"{name}: {run.execution.failure}"
        assert run.execution.pipeline_name == f"dev-{name}"
        assert run.model_package["ModelPackageGroupName"] == f"dev-{name}"
        assert f"/{name}/" in run.uploaded  # uploaded under the model's own prefix of the raw-data bucket
        assert run.scoring.auc == pytest.approx(run.scoring.report_auc, abs=1e-9)
        assert f"pipelines/dev/{name}/{run.execution.execution_id}/" in run.execution.output_uri("Evaluate", "evaluation")
    text = summary(demo)
    assert [line.strip() for line in text.splitlines() if line.strip().startswith("model ")] == [f"model {m}" for m in MODELS]


def test_every_models_run_is_logged_to_mlflow_with_the_reports_metrics(demo):
    """The deployed pipelines, run by the local runner with the variables their definitions give each step, log
    every model's execution to the (local) tracking server; read back through MLflow's client."""
    from mlflow import MlflowClient

    assert demo.tracking_url
    client = MlflowClient(tracking_uri=demo.tracking_url)
    for run in demo.models.values():
        assert run.execution is not None and run.report is not None
        assert run.tracked.startswith(f"{demo.tracking_url}/#/experiments/"), run.tracked
        run_id = run.tracked.rsplit("/", 1)[-1]
        logged = client.get_run(run_id)
        assert logged.info.run_name == run.execution.execution_id and logged.info.status == "FINISHED"
        assert logged.data.metrics["test-auc"] == pytest.approx(run.report["binary_classification_metrics"]["auc"]["value"])
        gate = run.execution.properties["EvaluationGate"]["OutputParameters"]
        assert logged.data.tags["gate.decision"] == gate["decision"]
        experiment = client.get_experiment(logged.info.experiment_id)
        assert experiment.name == f"dev-{run.name}"
        jobs = client.search_runs([experiment.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{run_id}'")
        assert [job.info.run_name for job in jobs] and all(job.data.params for job in jobs)
