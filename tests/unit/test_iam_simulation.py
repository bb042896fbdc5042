"""The IAM access proof: the calls each principal makes at run time, simulated against the synthesized
identity and resource policies with @cloud-copilot/iam-simulate (pinned in package.json), which checks actions,
resource types and condition keys against AWS's service reference data.

The pipeline role's calls come from the synthesized pipeline definition itself: for every step, the job it
starts with the request context SageMaker's API sends (sagemaker:VpcSubnets, sagemaker:VpcSecurityGroupIds,
sagemaker:OutputKmsKeyArn, sagemaker:VolumeKmsKeyArn, sagemaker:NetworkIsolation,
sagemaker:InterContainerTrafficEncryption: the condition keys the Service Authorization Reference lists for
the Create*Job actions) and the role it passes; the jobs role's calls are every S3 input and output of those
steps. Calls that must not be allowed are denied: a job outside the platform's VPC or without the data key,
PassRole to any other role, another environment's bucket, a notebook rewriting what a pipeline wrote.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from catalog.images import repository
from tests.helpers.configs import EXAMPLE, SERVING, TRAINING
from tests.helpers.iam_simulation import Call, Environment, expect, run_simulations, simulate

ACCOUNT, REGION = "123456789012", "us-east-1"
ALLOWED = "Allowed"
#: The fixture catalog's other model, beside EXAMPLE.
OTHER_MODEL = "health-utilization"


@pytest.fixture(scope="module")
def dev(assembly) -> Environment:
    return Environment.of(assembly, "dev", ACCOUNT, REGION)


def definition(env: Environment) -> dict:
    (pipeline,) = [r for r in env.templates[TRAINING].values() if r["Type"] == "AWS::SageMaker::Pipeline"]
    return dict(json.loads(pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]))


def steps(body: dict) -> list[dict]:
    """Every step, the condition's branches included."""
    found = []
    for step in body["Steps"]:
        found.append(step)
        if step["Type"] == "Condition":
            found += step["Arguments"].get("IfSteps", []) + step["Arguments"].get("ElseSteps", [])
    return found


def job_context(arguments: dict, resources_key: str) -> dict[str, Any]:
    vpc = (arguments.get("NetworkConfig") or {}).get("VpcConfig") or arguments.get("VpcConfig") or {}
    resources = arguments.get(resources_key, {})
    volume_key = resources.get("ClusterConfig", resources).get("VolumeKmsKeyId")
    output_key = next((arguments[output]["KmsKeyId"] for output in ("OutputDataConfig", "ProcessingOutputConfig", "TransformOutput")
                       if "KmsKeyId" in arguments.get(output, {})), None)
    network = arguments.get("NetworkConfig", arguments)
    context: dict[str, Any] = {}
    if vpc:
        context["sagemaker:VpcSubnets"] = vpc["Subnets"]
        context["sagemaker:VpcSecurityGroupIds"] = vpc["SecurityGroupIds"]
    if volume_key:
        context["sagemaker:VolumeKmsKey"] = context["sagemaker:VolumeKmsKeyArn"] = volume_key
    if output_key:
        context["sagemaker:OutputKmsKey"] = context["sagemaker:OutputKmsKeyArn"] = output_key
    if "EnableNetworkIsolation" in network:
        context["sagemaker:NetworkIsolation"] = str(network["EnableNetworkIsolation"]).lower()
    if "EnableInterContainerTrafficEncryption" in network:
        context["sagemaker:InterContainerTrafficEncryption"] = str(network["EnableInterContainerTrafficEncryption"]).lower()
    return context


def pipeline_calls(env: Environment) -> list[Call]:
    """What SageMaker Pipelines does as the example model's pipeline role, step by step, from the synthesized definition."""
    role = env.role_arn(TRAINING, "ExecutionsRole")
    arn = f"arn:aws:sagemaker:{env.region}:{env.account}"
    calls = []
    kinds = {"Processing": ("CreateProcessingJob", "processing-job", "ProcessingResources"),
             "Training": ("CreateTrainingJob", "training-job", "ResourceConfig")}
    body = definition(env)
    parameters = {p["Name"]: p for p in body["Parameters"]}
    for step in steps(body):
        args = step.get("Arguments", {})
        if step["Type"] in kinds:
            action, kind, resources = kinds[step["Type"]]
            calls.append(Call(f"{step['Name']}: start the job", role, f"sagemaker:{action}", f"{arn}:{kind}/pipelines-x-{step['Name'].lower()}",
                              job_context(args, resources)))
            calls.append(Call(f"{step['Name']}: pass its role", role, "iam:PassRole", args["RoleArn"],
                              {"iam:PassedToService": "sagemaker.amazonaws.com"}))
        if step["Type"] == "Tuning":
            job = args["TrainingJobDefinition"]
            calls.append(Call(f"{step['Name']}: start the tuning job", role, "sagemaker:CreateHyperParameterTuningJob",
                              f"{arn}:hyper-parameter-tuning-job/pipelines-x-tune", job_context(job, "ResourceConfig")))
            calls.append(Call(f"{step['Name']}: pass its role", role, "iam:PassRole", job["RoleArn"],
                              {"iam:PassedToService": "sagemaker.amazonaws.com"}))
            # Pipelines follows the tuning job's training jobs to pick the best one's model.
            calls.append(Call(f"{step['Name']}: list its training jobs", role, "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
                              f"{arn}:hyper-parameter-tuning-job/pipelines-x-tune"))
        if step["Type"] == "Lambda":
            calls.append(Call(f"{step['Name']}: invoke the gate", role, "lambda:InvokeFunction", step["FunctionArn"]))
        if step["Type"] == "RegisterModel":
            group = args["ModelPackageGroupName"]
            status = parameters[args["ModelApprovalStatus"]["Get"].removeprefix("Parameters.")]
            calls += [Call(f"{step['Name']}: register a version as {value}", role, "sagemaker:CreateModelPackage",
                           f"{arn}:model-package/{group}/1", {"sagemaker:ModelApprovalStatus": value})
                      for value in status["EnumValues"]]
        if step["Type"] == "Model":
            calls.append(Call(f"{step['Name']}: create the model", role, "sagemaker:CreateModel", f"{arn}:model/pipelines-x-model",
                              job_context(args, "none")))
            calls.append(Call(f"{step['Name']}: pass its role", role, "iam:PassRole", args["ExecutionRoleArn"],
                              {"iam:PassedToService": "sagemaker.amazonaws.com"}))
        if step["Type"] == "Transform":
            calls.append(Call(f"{step['Name']}: start the job", role, "sagemaker:CreateTransformJob",
                              f"{arn}:transform-job/pipelines-x-transform", job_context(args, "TransformResources")))
    return calls


@pytest.mark.parametrize("which", ["dev", "staging"])
def test_every_call_the_pipeline_makes_for_its_steps_is_allowed(which, request):
    env = request.getfixturevalue(which)  # dev trains, staging tunes on two instances
    calls = pipeline_calls(env)
    training = {"sagemaker:CreateHyperParameterTuningJob", "sagemaker:ListTrainingJobsForHyperParameterTuningJob"} \
        if which == "staging" else {"sagemaker:CreateTrainingJob"}
    assert {c.action for c in calls} == {"sagemaker:CreateProcessingJob", *training, "iam:PassRole",
                                         "lambda:InvokeFunction", "sagemaker:CreateModelPackage", "sagemaker:CreateModel",
                                         "sagemaker:CreateTransformJob"}
    results = simulate(env, calls)
    refused = [f"{c.what}: {c.action} on {c.resource} -> {r}" for c, r in zip(calls, results, strict=True) if r != ALLOWED]
    assert not refused, "\n".join(refused)


def without_the_data_key(call: Call) -> list[Call]:
    """The same job with its output left on SageMaker's default key, or its output or volumes on another key."""
    other = call.context["sagemaker:OutputKmsKeyArn"].rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    unkeyed = {k: v for k, v in call.context.items() if not k.startswith("sagemaker:OutputKmsKey")}
    return [Call(f"{call.what}, output on SageMaker's default key", call.principal, call.action, call.resource, unkeyed),
            Call(f"{call.what}, output on another key", call.principal, call.action, call.resource,
                 {**call.context, "sagemaker:OutputKmsKey": other, "sagemaker:OutputKmsKeyArn": other}),
            Call(f"{call.what}, volumes on another key", call.principal, call.action, call.resource,
                 {**call.context, "sagemaker:VolumeKmsKey": other, "sagemaker:VolumeKmsKeyArn": other})]


def test_a_job_outside_the_platform_vpc_or_a_pass_of_any_other_role_is_denied(dev):
    role = dev.role_arn(TRAINING, "ExecutionsRole")
    (train,) = [c for c in pipeline_calls(dev) if c.action == "sagemaker:CreateTrainingJob"]
    outside = {k: v for k, v in train.context.items() if not k.startswith("sagemaker:Vpc")}
    elsewhere = {**train.context, "sagemaker:VpcSubnets": ["subnet-elsewhere"]}
    clear_traffic = {**train.context, "sagemaker:InterContainerTrafficEncryption": "false"}
    (transform,) = [c for c in pipeline_calls(dev) if c.action == "sagemaker:CreateTransformJob"]
    # What the allowed calls send: the data key's ARN.
    assert train.context["sagemaker:OutputKmsKeyArn"] == transform.context["sagemaker:OutputKmsKeyArn"]
    assert train.context["sagemaker:OutputKmsKeyArn"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    calls = [
        Call("training without a VPC", role, train.action, train.resource, outside),
        Call("training in another subnet", role, train.action, train.resource, elsewhere),
        Call("training with clear traffic between instances", role, train.action, train.resource, clear_traffic),
        *without_the_data_key(train), *without_the_data_key(transform),
        *(Call(f"pass the {other} role", role, "iam:PassRole", dev.role_arn("Roles", f"{other}Role"),
               {"iam:PassedToService": "sagemaker.amazonaws.com"})
          for other in ("Notebooks", "Experiments", "Endpoints", "Monitoring", "Pipelines", "Jobs")),
        Call("pass another model's jobs role", role, "iam:PassRole", dev.role_arn(f"{OTHER_MODEL}-TrainingPipeline", "JobsRole"),
             {"iam:PassedToService": "sagemaker.amazonaws.com"}),
    ]
    assert simulate(dev, calls) == ["ImplicitlyDenied"] * len(calls)


def test_a_version_the_config_sends_to_review_cannot_be_registered_as_approved(staging):
    """Staging's models register PendingManualApproval: a run started with ModelApprovalStatus=Approved (or a
    definition edited to say so) is denied by the model's pipeline role, so a person still decides. The condition key is
    sagemaker:ModelApprovalStatus on CreateModelPackage (Service Authorization Reference, Amazon SageMaker)."""
    (register, *others) = [c for c in pipeline_calls(staging) if c.action == "sagemaker:CreateModelPackage"]
    assert not others and register.context == {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}
    approved = Call("register as Approved", register.principal, register.action, register.resource,
                    {"sagemaker:ModelApprovalStatus": "Approved"})
    unstated = Call("register without a status", register.principal, register.action, register.resource, {})
    assert simulate(staging, [register, approved, unstated]) == [ALLOWED, "ImplicitlyDenied", "ImplicitlyDenied"]


def test_one_auto_approved_model_does_not_let_another_models_versions_skip_review(tmp_path):
    """Each model's pipeline role registers into that model's group only, with the statuses that model's config allows:
    dev's health-utilization sent to review stays reviewed beside an auto-approved model, whose role cannot register
    into health-utilization's group at all."""
    from tests.helpers.assembly import synth_app
    from tests.helpers.configs import shipped, write_config

    data = shipped("dev")
    data["models"]["health-utilization"].setdefault("evaluation", {})["approval_status"] = "PendingManualApproval"
    (tmp_path / "config").mkdir()
    write_config(tmp_path / "config", data)
    env = Environment.of(synth_app(tmp_path / "out", tmp_path / "config"), "dev", ACCOUNT, REGION)
    package = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/dev-{{model}}/1"

    def register(model: str, status: str, by: str | None = None) -> Call:
        role = env.role_arn(f"{by or model}-TrainingPipeline", "ExecutionsRole")
        return Call(f"{model} as {status}, by {by or model}'s pipeline", role, "sagemaker:CreateModelPackage",
                    package.format(model=model), {"sagemaker:ModelApprovalStatus": status})

    expect(env, [register(EXAMPLE, "Approved"), register("health-utilization", "PendingManualApproval")],
           [register("health-utilization", "Approved"), register("health-utilization", "PendingManualApproval", by=EXAMPLE),
            register(EXAMPLE, "Approved", by="health-utilization")])


def test_jobs_read_and_write_their_environments_data_and_not_anothers(assembly, dev):
    jobs = dev.role_arn(TRAINING, "JobsRole")
    raw = dev.physical("Data", "RawDataBucket", "AWS::S3::Bucket")
    artifacts = dev.physical("Data", "ModelArtifactsBucket", "AWS::S3::Bucket")
    staging = Environment.of(assembly, "staging", "222222222222", REGION)
    staging_raw = staging.physical("Data", "RawDataBucket", "AWS::S3::Bucket")
    allowed = [
        Call("read the raw data", jobs, "s3:GetObject", f"arn:aws:s3:::{raw}/{EXAMPLE}/Caravan.csv"),
        Call("write a step's output", jobs, "s3:PutObject", f"arn:aws:s3:::{artifacts}/pipelines/dev/{EXAMPLE}/x/preprocess/train/a.csv"),
    ]
    denied = [
        Call("read staging's raw data", jobs, "s3:GetObject", f"arn:aws:s3:::{staging_raw}/{EXAMPLE}/Caravan.csv"),
        Call("read the raw data without TLS", jobs, "s3:GetObject", f"arn:aws:s3:::{raw}/{EXAMPLE}/Caravan.csv",
             {"aws:SecureTransport": "false"}),
        Call("write the raw data", jobs, "s3:PutObject", f"arn:aws:s3:::{raw}/{EXAMPLE}/Caravan.csv"),
    ]
    assert simulate(dev, allowed) == [ALLOWED] * len(allowed)
    # The bucket policy's TLS-only statement denies explicitly; the rest are never granted.
    assert simulate(dev, denied) == ["ImplicitlyDenied", "ExplicitlyDenied", "ImplicitlyDenied"]


def test_a_models_jobs_cannot_reach_another_models_data_or_models(dev):
    """Each model's steps run as its own role: code in one model's code_dir (another team's, perhaps) reads and writes
    that model's data and runs, and the other model's stay out of its reach."""
    jobs = dev.role_arn(TRAINING, "JobsRole")
    raw = dev.physical("Data", "RawDataBucket", "AWS::S3::Bucket")
    runs = f"arn:aws:s3:::{dev.physical('Data', 'ModelArtifactsBucket', 'AWS::S3::Bucket')}/pipelines/dev"
    assert dev.role_arn(f"{OTHER_MODEL}-TrainingPipeline", "JobsRole") != jobs
    allowed = [
        Call("read its own data", jobs, "s3:GetObject", f"arn:aws:s3:::{raw}/{EXAMPLE}/Caravan.csv"),
        Call("write its own model", jobs, "s3:PutObject", f"{runs}/{EXAMPLE}/exec-1/train/output/model.tar.gz"),
        Call("list its own data", jobs, "s3:ListBucket", f"arn:aws:s3:::{raw}", {"s3:prefix": f"{EXAMPLE}/Caravan.csv"}),
    ]
    denied = [
        Call("read another model's data", jobs, "s3:GetObject", f"arn:aws:s3:::{raw}/{OTHER_MODEL}/data.csv"),
        Call("list another model's data", jobs, "s3:ListBucket", f"arn:aws:s3:::{raw}", {"s3:prefix": f"{OTHER_MODEL}/"}),
        Call("list every model's data", jobs, "s3:ListBucket", f"arn:aws:s3:::{raw}", {"s3:prefix": ""}),
        Call("read another model's registered model", jobs, "s3:GetObject", f"{runs}/{OTHER_MODEL}/exec-1/train/output/model.tar.gz"),
        Call("overwrite another model's registered model", jobs, "s3:PutObject",
             f"{runs}/{OTHER_MODEL}/exec-1/train/output/model.tar.gz"),
        Call("rewrite another model's evaluation report", jobs, "s3:PutObject",
             f"{runs}/{OTHER_MODEL}/exec-1/evaluate/evaluation/evaluation.json"),
        Call("write another environment's runs", jobs, "s3:PutObject", f"{runs}-other/{EXAMPLE}/exec-1/x.csv"),
        Call("write a notebook's output", jobs, "s3:PutObject", f"{runs.rsplit('/', 2)[0]}/notebooks/x/model.tar.gz"),
    ]
    expect(dev, allowed, denied)


def test_a_models_pipeline_passes_its_own_jobs_role_invokes_its_own_gate_and_no_other(dev):
    """Each model's executions run as its own pipeline role: another model's jobs role, gate and registry group are
    out of its reach (the calls it does make are test_every_call_the_pipeline_makes_for_its_steps_is_allowed)."""
    pipeline = dev.role_arn(TRAINING, "ExecutionsRole")
    other = f"{OTHER_MODEL}-TrainingPipeline"
    assert dev.role_arn(other, "ExecutionsRole") != pipeline
    to_sagemaker = {"iam:PassedToService": "sagemaker.amazonaws.com"}
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    gates = {stack: next(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{r['Physical']}" for r in dev.templates[stack].values()
                         if r["Type"] == "AWS::Lambda::Function" and "VpcConfig" in r["Properties"]) for stack in (TRAINING, other)}
    allowed = [Call("pass its jobs role", pipeline, "iam:PassRole", dev.role_arn(TRAINING, "JobsRole"), to_sagemaker),
               Call("invoke its gate", pipeline, "lambda:InvokeFunction", gates[TRAINING])]
    denied = [
        Call("pass another model's jobs role", pipeline, "iam:PassRole", dev.role_arn(other, "JobsRole"), to_sagemaker),
        Call("pass the retired environment-wide jobs role", pipeline, "iam:PassRole", dev.role_arn("Roles", "JobsRole"), to_sagemaker),
        Call("pass its jobs role to another service", pipeline, "iam:PassRole", dev.role_arn(TRAINING, "JobsRole"),
             {"iam:PassedToService": "lambda.amazonaws.com"}),
        Call("invoke another model's gate", pipeline, "lambda:InvokeFunction", gates[other]),
        Call("register into another model's group", pipeline, "sagemaker:CreateModelPackage",
             f"{arn}:model-package/dev-{OTHER_MODEL}/1", {"sagemaker:ModelApprovalStatus": "Approved"}),
        Call("describe another model's versions", pipeline, "sagemaker:DescribeModelPackage", f"{arn}:model-package/dev-{OTHER_MODEL}/1"),
    ]
    expect(dev, allowed, denied)


@pytest.mark.parametrize("role_name", ["JobsRole", "PipelinesRole"])
def test_the_retired_environment_wide_roles_may_do_nothing(dev, role_name):
    """Kept one release for their exports (test_roles.test_the_retired_roles_have_no_permissions_and_keep_their_exports)."""
    retired = dev.role_arn("Roles", role_name)
    raw = dev.physical("Data", "RawDataBucket", "AWS::S3::Bucket")
    artifacts = dev.physical("Data", "ModelArtifactsBucket", "AWS::S3::Bucket")
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    expect(dev, [], [Call("read raw data", retired, "s3:GetObject", f"arn:aws:s3:::{raw}/{EXAMPLE}/Caravan.csv"),
                     Call("write artifacts", retired, "s3:PutObject", f"arn:aws:s3:::{artifacts}/pipelines/dev/{EXAMPLE}/x.csv"),
                     Call("pass a jobs role", retired, "iam:PassRole", dev.role_arn(TRAINING, "JobsRole"),
                          {"iam:PassedToService": "sagemaker.amazonaws.com"}),
                     Call("register a version", retired, "sagemaker:CreateModelPackage", f"{arn}:model-package/dev-{EXAMPLE}/1",
                          {"sagemaker:ModelApprovalStatus": "Approved"})])


def test_the_data_key_serves_the_jobs_through_s3_and_its_key_policy_takes_part(dev):
    jobs = dev.role_arn(TRAINING, "JobsRole")
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{dev.physical('Data', 'DataKey', 'AWS::KMS::Key')}"
    assert dev.resource_policy("key", key), "the key policy is part of every simulated KMS call"
    calls = [Call("decrypt a raw object through S3", jobs, "kms:Decrypt", key, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}),
             Call("encrypt an output through S3", jobs, "kms:GenerateDataKey", key, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"})]
    assert simulate(dev, calls) == [ALLOWED] * len(calls)


def test_the_gate_reads_reports_and_its_own_models_registry_and_not_another_models(dev):
    """Each model's gate has its own role: another model's registry group is where access differs."""
    gate = dev.role_arn(TRAINING, "EvaluationGateRole")
    artifacts = dev.physical("Data", "ModelArtifactsBucket", "AWS::S3::Bucket")
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    allowed = [
        Call("read the evaluation report", gate, "s3:GetObject",
             f"arn:aws:s3:::{artifacts}/pipelines/dev/{EXAMPLE}/x/evaluate/evaluation/evaluation.json"),
        Call("list the group's versions (no resource-level permission)", gate, "sagemaker:ListModelPackages", "*"),
        Call("describe the champion", gate, "sagemaker:DescribeModelPackage", f"{arn}:model-package/dev-{EXAMPLE}/1"),
    ]
    denied = [
        Call("describe another model's version", gate, "sagemaker:DescribeModelPackage", f"{arn}:model-package/dev-health-utilization/1"),
        Call("write into the artifacts", gate, "s3:PutObject", f"arn:aws:s3:::{artifacts}/pipelines/dev/{EXAMPLE}/x/report.json"),
        Call("read another model's report", gate, "s3:GetObject",
             f"arn:aws:s3:::{artifacts}/pipelines/dev/health-utilization/x/evaluate/evaluation/evaluation.json"),
    ]
    expect(dev, allowed, denied)


@pytest.fixture(scope="module")
def staging(serving_assembly) -> Environment:
    """staging with a model version named: its endpoint, data capture and monitor exist."""
    return Environment.of(serving_assembly, "staging", "222222222222", REGION)


def test_the_endpoint_reads_its_model_and_writes_only_its_own_captures(staging):
    """The endpoint's own role (its Serving stack's): this model's versions, this endpoint's captures, nothing else."""
    role = staging.role_arn(SERVING, "ModelRole")
    artifacts = staging.physical("Data", "ModelArtifactsBucket", "AWS::S3::Bucket")
    raw = staging.physical("Data", "RawDataBucket", "AWS::S3::Bucket")
    key = f"arn:aws:kms:{REGION}:222222222222:key/{staging.physical('Data', 'DataKey', 'AWS::KMS::Key')}"
    bucket = f"arn:aws:s3:::{artifacts}"
    allowed = [
        Call("load the model", role, "s3:GetObject", f"{bucket}/pipelines/staging/{EXAMPLE}/x/training/job/output/model.tar.gz"),
        Call("decrypt the model through S3", role, "kms:Decrypt", key, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}),
        Call("capture a request", role, "s3:PutObject", f"{bucket}/data-capture/staging-{EXAMPLE}/AllTraffic/2026/12/01/00/a.jsonl"),
        Call("encrypt the capture through S3", role, "kms:GenerateDataKey", key, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}),
        Call("pull its image", role, "ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:683313688378:repository/sagemaker-xgboost"),
        # It names a permission id, not an interface: no resource, no ec2:Vpc in the request (Service Authorization Reference).
        Call("release an interface permission when the fleet goes", role, "ec2:DeleteNetworkInterfacePermission", "*"),
        Call("write its endpoint's logs", role, "logs:PutLogEvents",
             f"arn:aws:logs:{REGION}:222222222222:log-group:/aws/sagemaker/Endpoints/staging-{EXAMPLE}:log-stream:primary/i-1"),
    ]
    denied = [
        Call("load another model's version", role, "s3:GetObject",
             f"{bucket}/pipelines/staging/{OTHER_MODEL}/x/training/job/output/model.tar.gz"),
        Call("list the artifacts bucket", role, "s3:ListBucket", bucket),
        Call("read raw data", role, "s3:GetObject", f"arn:aws:s3:::{raw}/{EXAMPLE}/data.csv"),
        Call("read another team's notebooks' work", role, "s3:GetObject", f"{bucket}/notebooks/a.ipynb"),
        Call("capture into another endpoint's prefix", role, "s3:PutObject",
             f"{bucket}/data-capture/staging-{OTHER_MODEL}/AllTraffic/a.jsonl"),
        Call("write into the pipeline runs", role, "s3:PutObject", f"{bucket}/pipelines/staging/{EXAMPLE}/x/report.json"),
        Call("pull an image of this account", role, "ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:222222222222:repository/any"),
        Call("write another endpoint's logs", role, "logs:PutLogEvents",
             f"arn:aws:logs:{REGION}:222222222222:log-group:/aws/sagemaker/Endpoints/staging-{OTHER_MODEL}:log-stream:primary/i-1"),
    ]
    expect(staging, allowed, denied)


def test_the_retired_endpoints_role_still_serves_the_endpoints_deployed_before(staging):
    """Kept one release with its permissions: an endpoint deployed before each had its own role keeps running as it
    (loading its model on a scale-out) until its Serving stack's update moves it to a model of the new role."""
    role = staging.role_arn("Roles", "EndpointsRole")
    bucket = f"arn:aws:s3:::{staging.physical('Data', 'ModelArtifactsBucket', 'AWS::S3::Bucket')}"
    allowed = [Call("load the model", role, "s3:GetObject", f"{bucket}/pipelines/staging/{EXAMPLE}/x/training/job/output/model.tar.gz")]
    denied = [
        Call("capture a request (each endpoint's capture is its own role's now)", role, "s3:PutObject",
             f"{bucket}/data-capture/staging-{EXAMPLE}/AllTraffic/a.jsonl"),
    ]
    expect(staging, allowed, denied)


def test_the_monitor_reads_its_baseline_and_captures_and_writes_only_its_reports(staging):
    """The monitor's own role (its Serving stack's): it runs the record preprocessor the model's Preprocess wrote, so it
    reads this endpoint's captures and the configured baseline only, and no other endpoint's captured requests."""
    role = staging.role_arn(SERVING, "MonitorRole")
    bucket = f"arn:aws:s3:::{staging.physical('Data', 'ModelArtifactsBucket', 'AWS::S3::Bucket')}"
    baseline = f"{bucket}/pipelines/staging/{EXAMPLE}/exec-1/preprocess/baseline"
    allowed = [
        Call("read the baseline", role, "s3:GetObject", f"{baseline}/statistics.json"),
        Call("read the record preprocessor", role, "s3:GetObject", f"{baseline}/record_preprocessor.py"),
        Call("read captured requests", role, "s3:GetObject", f"{bucket}/data-capture/staging-{EXAMPLE}/AllTraffic/a.jsonl"),
        Call("list the captured hours", role, "s3:ListBucket", bucket, {"s3:prefix": f"data-capture/staging-{EXAMPLE}/AllTraffic/"}),
        Call("write its report", role, "s3:PutObject", f"{bucket}/monitoring/staging-{EXAMPLE}/data-quality/report.json"),
        Call("pull the analyzer", role, "ecr:BatchGetImage",
             f"arn:aws:ecr:{REGION}:156813124566:repository/sagemaker-model-monitor-analyzer"),
    ]
    denied = [
        Call("read a training split", role, "s3:GetObject", f"{bucket}/pipelines/staging/{EXAMPLE}/exec-1/preprocess/train/a.csv"),
        Call("read another run's baseline", role, "s3:GetObject", f"{bucket}/pipelines/staging/{EXAMPLE}/exec-2/preprocess/baseline/a.json"),
        Call("read another endpoint's captures", role, "s3:GetObject",
             f"{bucket}/data-capture/staging-{OTHER_MODEL}/AllTraffic/a.jsonl"),
        Call("write into the captures", role, "s3:PutObject", f"{bucket}/data-capture/staging-{EXAMPLE}/AllTraffic/a.jsonl"),
        Call("write another endpoint's reports", role, "s3:PutObject", f"{bucket}/monitoring/staging-{OTHER_MODEL}/data-quality/r.json"),
    ]
    expect(staging, allowed, denied)


def test_the_retired_monitoring_role_still_runs_the_monitors_scheduled_before(staging):
    """Kept one release with its permissions: a schedule's runs use the old job definition until its Serving stack's
    update replaces it."""
    role = staging.role_arn("Roles", "MonitoringRole")
    bucket = f"arn:aws:s3:::{staging.physical('Data', 'ModelArtifactsBucket', 'AWS::S3::Bucket')}"
    expect(staging, [Call("read captured requests", role, "s3:GetObject", f"{bucket}/data-capture/staging-{EXAMPLE}/AllTraffic/a.jsonl"),
                     Call("write its report", role, "s3:PutObject", f"{bucket}/monitoring/staging-{EXAMPLE}/data-quality/r.json")], [])


def test_notebooks_run_experiments_in_the_vpc_and_manage_only_their_own_instances(staging):
    role = staging.role_arn("Roles", "NotebooksRole")
    experiments = staging.role_arn("Roles", "ExperimentsRole")
    raw = f"arn:aws:s3:::{staging.physical('Data', 'RawDataBucket', 'AWS::S3::Bucket')}"
    arn = f"arn:aws:sagemaker:{REGION}:222222222222"
    # The context a job of this environment sends: staging's pipeline tunes, so its tuning job's.
    (train,) = [c for c in pipeline_calls(staging) if c.action == "sagemaker:CreateHyperParameterTuningJob"]
    (transform,) = [c for c in pipeline_calls(staging) if c.action == "sagemaker:CreateTransformJob"]
    experiment = Call("train in the platform VPC", role, "sagemaker:CreateTrainingJob", f"{arn}:training-job/experiment-1",
                      train.context)
    allowed = [
        experiment,
        Call("pass the experiments role", role, "iam:PassRole", experiments, {"iam:PassedToService": "sagemaker.amazonaws.com"}),
        Call("stop its own instance", role, "sagemaker:StopNotebookInstance", f"{arn}:notebook-instance/staging-validation"),
        Call("read the raw data", role, "s3:GetObject", f"{raw}/{EXAMPLE}/Caravan.csv"),
    ]
    denied = [
        Call("train outside the VPC", role, "sagemaker:CreateTrainingJob", f"{arn}:training-job/experiment-1",
             {k: v for k, v in train.context.items() if not k.startswith("sagemaker:Vpc")}),
        Call("train with clear traffic between instances", role, "sagemaker:CreateTrainingJob", f"{arn}:training-job/experiment-1",
             {**train.context, "sagemaker:InterContainerTrafficEncryption": "false"}),
        *without_the_data_key(experiment),
        # A transform runs as its model's role, a pipeline's model as that model's jobs role, which writes where notebooks
        # may not.
        Call("batch-transform with a pipeline's model", role, "sagemaker:CreateTransformJob", f"{arn}:transform-job/experiment-1",
             transform.context),
        Call("create a model", role, "sagemaker:CreateModel", f"{arn}:model/experiment-1", train.context),
        *(Call(f"pass the {what} role", role, "iam:PassRole", staging.role_arn(stack, name),
               {"iam:PassedToService": "sagemaker.amazonaws.com"})
          for what, stack, name in (("pipelines", "Roles", "PipelinesRole"), ("pipeline jobs", TRAINING, "JobsRole"))),
        Call("stop another team's instance", role, "sagemaker:StopNotebookInstance", f"{arn}:notebook-instance/staging-other"),
    ]
    expect(staging, allowed, denied)


@pytest.mark.parametrize("role_name", ["NotebooksRole", "ExperimentsRole"])
def test_notebooks_and_their_jobs_read_what_pipelines_wrote_but_cannot_rewrite_it(staging, role_name):
    """A registered version's model.tar.gz, the evaluation report the gate read and the baseline the monitor
    compares with are the pipeline's: a notebook (or a job it starts, with code of its own) reads them and writes
    only under notebooks/ and MLflow's mlflow/."""
    role = staging.role_arn("Roles", role_name)
    bucket = f"arn:aws:s3:::{staging.physical('Data', 'ModelArtifactsBucket', 'AWS::S3::Bucket')}"
    run = f"{bucket}/pipelines/staging/{EXAMPLE}/exec-1"
    allowed = [
        Call("read a registered model", role, "s3:GetObject", f"{run}/train/output/model.tar.gz"),
        Call("write an experiment's output", role, "s3:PutObject", f"{bucket}/notebooks/xgboost-2026-12-02/output/model.tar.gz"),
        Call("log an MLflow artifact", role, "s3:PutObject", f"{bucket}/mlflow/1/0123abcd/artifacts/plot.png"),
    ]
    denied = [
        Call("overwrite a registered model", role, "s3:PutObject", f"{run}/train/output/model.tar.gz"),
        Call("rewrite the evaluation report", role, "s3:PutObject", f"{run}/evaluate/evaluation/evaluation.json"),
        Call("delete a baseline", role, "s3:DeleteObject", f"{run}/preprocess/baseline/statistics.json"),
        Call("write captured requests", role, "s3:PutObject", f"{bucket}/data-capture/staging-{EXAMPLE}/AllTraffic/a.jsonl"),
    ]
    expect(staging, allowed, denied)


def s3_uris(step: dict, body: dict) -> tuple[list[str], list[str]]:
    """A processing or training step's S3 inputs and outputs as the definition names them, with the execution
    id made up and parameters at their defaults (what a run reads and writes)."""
    parameters = {p["Name"]: p.get("DefaultValue") for p in body["Parameters"]}
    by_name = {s["Name"]: s for s in steps(body)}

    def value(expr: Any) -> str | None:
        if isinstance(expr, str):
            return expr
        if "Std:Join" in expr:
            parts = [value(v) for v in expr["Std:Join"]["Values"]]
            return None if None in parts else expr["Std:Join"]["On"].join(str(p) for p in parts)
        path = expr.get("Get", "")
        if path.startswith("Parameters."):
            return str(parameters[path.split(".", 1)[1]])
        if path == "Execution.PipelineExecutionId":
            return "exec-1"
        if path.startswith("Steps.") and ".ProcessingOutputConfig.Outputs['" in path:
            name, output = path.split(".")[1], path.split("['")[1].split("']")[0]
            (out,) = [o for o in by_name[name]["Arguments"]["ProcessingOutputConfig"]["Outputs"] if o["OutputName"] == output]
            return value(out["S3Output"]["S3Uri"])
        if path == "Steps.Train.ModelArtifacts.S3ModelArtifacts":  # SageMaker's <S3OutputPath>/<job name>/output/model.tar.gz
            output = value(by_name["Train"]["Arguments"]["OutputDataConfig"]["S3OutputPath"])
            return output and f"{output}/pipelines-train-1/output/model.tar.gz"
        return None  # a property only known at run time (a tuning job's best model)

    args = step["Arguments"]
    container = args.get("PrimaryContainer", {})
    inputs = [i["S3Input"]["S3Uri"] for i in args.get("ProcessingInputs", [])] + \
             [c["DataSource"]["S3DataSource"]["S3Uri"] for c in args.get("InputDataConfig", [])] + \
             [u for u in (args.get("TransformInput", {}).get("DataSource", {}).get("S3DataSource", {}).get("S3Uri"),
                          container.get("ModelDataUrl")) if u]
    outputs = [o["S3Output"]["S3Uri"] for o in args.get("ProcessingOutputConfig", {}).get("Outputs", [])] + \
              [u for u in (args.get("OutputDataConfig", {}).get("S3OutputPath"), args.get("CheckpointConfig", {}).get("S3Uri"),
                           args.get("ProfilerConfig", {}).get("S3OutputPath"), args.get("TransformOutput", {}).get("S3OutputPath"))
               if u]
    resolved = ([value(u) for u in inputs], [value(u) for u in outputs])
    return [u for u in resolved[0] if u], [u for u in resolved[1] if u]


def test_every_job_reads_its_inputs_and_writes_its_outputs_as_the_definition_names_them(dev):
    """The model's jobs role, inside each step's job and as the batch-transform model's role: every S3 input (listed
    under its prefix, as SageMaker does before copying it, and read) and output of the synthesized definition."""
    jobs = dev.role_arn(TRAINING, "JobsRole")
    body = definition(dev)
    calls = []
    for step in steps(body):
        if step["Type"] not in ("Processing", "Training", "Transform", "Model"):
            continue
        inputs, outputs = s3_uris(step, body)
        for uri in inputs:
            obj = uri if uri.endswith((".csv", ".gz")) else f"{uri.rstrip('/')}/part-0.csv"
            calls.append(Call(f"{step['Name']}: read {uri}", jobs, "s3:GetObject", "arn:aws:s3:::" + obj.removeprefix("s3://")))
            bucket, prefix = uri.removeprefix("s3://").split("/", 1)
            calls.append(Call(f"{step['Name']}: list {uri}", jobs, "s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": prefix}))
        for uri in outputs:
            calls.append(Call(f"{step['Name']}: write {uri}", jobs, "s3:PutObject",
                              "arn:aws:s3:::" + f"{uri.rstrip('/')}/part-0.csv".removeprefix("s3://")))
        # SageMaker pulls the step's images as the job's role, AWS's own too (aws/deep-learning-containers#759).
        args = step["Arguments"]
        images = [args.get("AppSpecification", {}).get("ImageUri"), args.get("AlgorithmSpecification", {}).get("TrainingImage"),
                  args.get("PrimaryContainer", {}).get("Image"),
                  *(r.get("RuleEvaluatorImage") for r in args.get("ProfilerRuleConfigurations", []))]
        for image in filter(None, images):
            account, region, name = repository(image)
            calls.append(Call(f"{step['Name']}: pull {image}", jobs, "ecr:BatchGetImage",
                              f"arn:aws:ecr:{region}:{account}:repository/{name}"))
            calls.append(Call(f"{step['Name']}: log in to pull {image}", jobs, "ecr:GetAuthorizationToken", "*"))
    steps_checked = {c.what.split(":")[0] for c in calls}
    assert {"Preprocess", "Train", "Evaluate", "CreateModel", "BatchTransform"} <= steps_checked, steps_checked
    assert {c.what.split(":")[0] for c in calls if c.action == "ecr:BatchGetImage"} >= {"Preprocess", "Train", "Evaluate", "CreateModel"}
    assert len(calls) >= 25  # raw data, code, splits, baselines, model, checkpoints, profiler, evaluation, transform
    results = simulate(dev, calls)
    refused = [f"{c.what}: {c.action} -> {r}" for c, r in zip(calls, results, strict=True) if r != ALLOWED]
    assert not refused, "\n".join(refused)


@pytest.fixture(scope="module")
def delivered_out(tmp_path_factory):
    """The app with delivery on and staging deployed by it (its smoke-test role exists), synthesized for this module."""
    from tests.helpers.assembly import synth_app
    from tests.helpers.delivery import delivery_config_dir

    config = delivery_config_dir(tmp_path_factory.mktemp("delivered") / "config", only="staging")
    return synth_app(tmp_path_factory.mktemp("delivered-out"), config)


@pytest.fixture(scope="module")
def delivered(delivered_out) -> Environment:
    return Environment.of(delivered_out, "staging", "222222222222", REGION)


@pytest.fixture(scope="module")
def tooling(delivered_out) -> Environment:
    """The Delivery stack in the tooling account: the pipeline and its CodeBuild steps' roles."""
    from local.cloud_assembly import StackTemplate
    from tests.helpers.delivery import TOOLING

    path = delivered_out.outdir / "Delivery.template.json"
    return Environment.of_stacks({"Delivery": StackTemplate("Delivery", json.loads(path.read_text()), path)}, TOOLING, REGION)


def codebuild_role(env: Environment, project_prefix: str) -> tuple[str, str]:
    """(role ARN, log group ARN) of the CodeBuild project whose logical ID starts with the prefix."""
    (project,) = [r for k, r in env.templates["Delivery"].items() if r["Type"] == "AWS::CodeBuild::Project" and k.startswith(project_prefix)]
    log_group = f"arn:aws:logs:{env.region}:{env.account}:log-group:/aws/codebuild/{project['Physical']}"
    return project["Properties"]["ServiceRole"], log_group


def test_each_codebuild_steps_own_role_may_do_its_step_and_not_anothers(tooling):
    """The identity side of the delivery steps (the smoke-test role's trust side is simulated below): each
    CodeBuild step's role writes its own logs and reads the pipeline's artifacts (bucket and key policies
    take part); only the smoke test may assume the environment's smoke-test role, and it may assume nothing
    else there; only the asset step may assume the environment's file-publishing role; self-mutation may
    assume only the tooling account's own CDK bootstrap roles (CDK Pipelines' condition on their tag)."""
    staging = "222222222222"
    smoke_role = f"arn:aws:iam::{staging}:role/staging-{EXAMPLE}-smoke-test"
    deploy_role = f"arn:aws:iam::{staging}:role/cdk-hnb659fds-deploy-role-{staging}-{REGION}"
    publishing = f"arn:aws:iam::{staging}:role/cdk-hnb659fds-file-publishing-role-{staging}-{REGION}"
    bucket = tooling.physical("Delivery", "ArtifactsBucket", "AWS::S3::Bucket")
    artifact = f"arn:aws:s3:::{bucket}/sagemaker-platform/Synth_Outp/abc123"
    smoke, smoke_logs = codebuild_role(tooling, "PipelinestagingSmokeTest")
    synth, synth_logs = codebuild_role(tooling, "PipelineBuildSynth")
    mutate, _ = codebuild_role(tooling, "PipelineUpdatePipelineSelfMutation")
    assets, _ = codebuild_role(tooling, "PipelineAssetsFileAsset1")
    bootstrap_tag = {"iam:ResourceTag/aws-cdk:bootstrap-role": "deploy"}
    expected = [
        (Call("smoke test: write its build log", smoke, "logs:PutLogEvents", f"{smoke_logs}:log-stream:build-1"), ALLOWED),
        (Call("smoke test: read the source artifact", smoke, "s3:GetObject", artifact), ALLOWED),
        (Call("smoke test: assume staging's smoke-test role", smoke, "sts:AssumeRole", smoke_role), ALLOWED),
        (Call("smoke test: assume staging's deploy role", smoke, "sts:AssumeRole", deploy_role), "ImplicitlyDenied"),
        (Call("smoke test: overwrite an artifact", smoke, "s3:PutObject", artifact), "ImplicitlyDenied"),
        (Call("synth: write its build log", synth, "logs:PutLogEvents", f"{synth_logs}:log-stream:build-1"), ALLOWED),
        (Call("synth: write the cloud assembly artifact", synth, "s3:PutObject", artifact), ALLOWED),
        (Call("synth: assume staging's smoke-test role", synth, "sts:AssumeRole", smoke_role), "ImplicitlyDenied"),
        (Call("synth: write another step's log", synth, "logs:PutLogEvents", f"{smoke_logs}:log-stream:build-1"), "ImplicitlyDenied"),
        (Call("self-mutation: assume the tooling account's deploy role", mutate, "sts:AssumeRole",
              f"arn:aws:iam::{tooling.account}:role/cdk-hnb659fds-deploy-role-{tooling.account}-{REGION}", bootstrap_tag), ALLOWED),
        (Call("self-mutation: assume an untagged tooling role", mutate, "sts:AssumeRole",
              f"arn:aws:iam::{tooling.account}:role/admin"), "ImplicitlyDenied"),
        (Call("self-mutation: assume staging's deploy role", mutate, "sts:AssumeRole", deploy_role, bootstrap_tag), "ImplicitlyDenied"),
        (Call("assets: assume staging's file-publishing role", assets, "sts:AssumeRole", publishing), ALLOWED),
        (Call("assets: assume staging's smoke-test role", assets, "sts:AssumeRole", smoke_role), "ImplicitlyDenied"),
    ]
    results = simulate(tooling, [call for call, _ in expected])
    assert dict(zip([c.what for c, _ in expected], results, strict=True)) == {c.what: want for c, want in expected}


def test_the_smoke_test_role_is_assumed_only_from_the_pipeline_account_and_invokes_only_its_endpoint(delivered):
    from tests.helpers.delivery import TOOLING

    (role_id, role), = [(k, r) for k, r in delivered.templates[f"{EXAMPLE}-Serving"].items()
                        if r["Type"] == "AWS::IAM::Role" and str(r["Physical"]).endswith("-smoke-test")]
    arn = f"arn:aws:iam::222222222222:role/{role['Physical']}"
    trust = role["Properties"]["AssumeRolePolicyDocument"]
    endpoint = f"arn:aws:sagemaker:{REGION}:222222222222:endpoint/staging-{EXAMPLE}"
    codebuild = f"arn:aws:iam::{TOOLING}:role/staging-{EXAMPLE}-smoke-runner"  # the step's named role
    calls = [
        Call("describe its endpoint", arn, "sagemaker:DescribeEndpoint", endpoint),
        Call("invoke its endpoint", arn, "sagemaker:InvokeEndpoint", endpoint),
        Call("invoke another model's endpoint", arn, "sagemaker:InvokeEndpoint",
             f"arn:aws:sagemaker:{REGION}:222222222222:endpoint/staging-health-utilization"),
        Call("delete its endpoint", arn, "sagemaker:DeleteEndpoint", endpoint),
    ]
    assert simulate(delivered, calls) == [ALLOWED, ALLOWED, "ImplicitlyDenied", "ImplicitlyDenied"]
    # Assuming it: the trust policy is the resource policy; the pipeline's smoke-test step (its named CodeBuild role)
    # may, no other principal of the pipeline's account (aws:PrincipalArn, a global condition key) nor of any other.
    assume = [Call("the pipeline's smoke-test step assumes it", codebuild, "sts:AssumeRole", arn, resource_policy=trust),
              Call("another role of the pipeline's account assumes it", f"arn:aws:iam::{TOOLING}:role/admin", "sts:AssumeRole",
                   arn, resource_policy=trust),
              Call("another account assumes it", "arn:aws:iam::999999999999:role/x", "sts:AssumeRole", arn, resource_policy=trust)]
    assert [r for r in simulate_cross_account(delivered, assume)] == [ALLOWED, "ImplicitlyDenied", "ImplicitlyDenied"]


def simulate_cross_account(env: Environment, calls: list[Call]) -> list[str]:
    """An AssumeRole from another account: the caller's own policy allows it (as CDK Pipelines' step role's does),
    so the trust policy decides."""
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    simulations = [{"identityPolicies": [{"name": "caller", "policy": allow}], "serviceControlPolicies": [],
                    "resourceControlPolicies": [], "resourcePolicy": call.resource_policy,
                    "request": {"action": call.action, "principal": call.principal,
                                "resource": {"accountId": env.account, "resource": call.resource},
                                # AWS puts the caller's ARN (a role's, for its sessions) in every request's context
                                # (IAM User Guide, "AWS global condition context keys": aws:PrincipalArn).
                                "contextVariables": {"aws:PrincipalArn": call.principal, **call.context}}}
                   for call in calls]
    return run_simulations(simulations, [call.what for call in calls])
