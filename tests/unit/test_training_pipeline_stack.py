"""The TrainingPipeline stack's template: the pipeline, its grants, the gate, the events."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import naming
from config import load_environment
from stacks.training.source_tarball import LARGE_FILE_BYTES, data_like_files, write_tarball
from tests.helpers.configs import ENVIRONMENTS, EXAMPLE, TRAINING
from tests.helpers.paths import CONFIG_DIR, ROOT
from tests.helpers.templates import as_list, props, resources

STACK = TRAINING


def definition_of(template: dict) -> dict:
    """The pipeline definition with deploy-time values (Fn::ImportValue, Ref, ...) as placeholders."""
    body = props(template, "AWS::SageMaker::Pipeline")["PipelineDefinition"]["PipelineDefinitionBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_pipeline_per_model_run_by_its_own_role(assembly, env):
    template = assembly.template_json(env, STACK)
    pipeline = props(template, "AWS::SageMaker::Pipeline")
    assert pipeline["PipelineName"] == f"{env}-{EXAMPLE}"
    (role_id,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith("ExecutionsRole")]
    assert pipeline["RoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}  # the rest: test_roles, test_iam_simulation
    definition = definition_of(template)
    env_config = load_environment(CONFIG_DIR / f"{env}.yaml")
    cfg = env_config.models[EXAMPLE]
    names = [s["Name"] for s in definition["Steps"]]
    assert names == ["Preprocess", "Tune" if cfg.training.tuning.enabled else "Train", "Evaluate", "EvaluationGate", "CheckEvaluation"]
    assert definition["Steps"][1]["Arguments"].get("TrainingJobDefinition", definition["Steps"][1]["Arguments"])["AlgorithmSpecification"][
        "TrainingImage"
    ] == f"683313688378.dkr.ecr.{env_config.region}.amazonaws.com/sagemaker-xgboost:{cfg.framework_version}"


def test_prod_trains_on_nvme_gpus_without_a_volume_key(assembly):
    train = definition_of(assembly.template_json("prod", STACK))["Steps"][1]["Arguments"]
    assert train["ResourceConfig"]["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}
    assert "VolumeKmsKeyId" not in train["ResourceConfig"]
    dev_train = definition_of(assembly.template_json("dev", STACK))["Steps"][1]["Arguments"]
    assert dev_train["ResourceConfig"]["VolumeKmsKeyId"] == "TOKEN"  # the data key, resolved at deploy time


def jobs_role_statements(template: dict) -> tuple[str, list[dict]]:
    """(logical ID, statements) of the stack's own jobs role: every policy attached to it in this stack."""
    (role_id,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith("JobsRole")]
    statements = [s for p in resources(template, "AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    return role_id, statements


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_step_runs_as_this_models_own_jobs_role(assembly, env):
    """Processing, training (or tuning) and the batch-transform model: this stack's role, no environment-wide one."""
    template = assembly.template_json(env, STACK)
    role_id, _ = jobs_role_statements(template)
    body = props(template, "AWS::SageMaker::Pipeline")["PipelineDefinition"]["PipelineDefinitionBody"]
    parts = body["Fn::Join"][1]
    definition = json.loads("".join(p if isinstance(p, str) else "ROLE" if p == {"Fn::GetAtt": [role_id, "Arn"]} else "TOKEN"
                                    for p in parts))
    roles = []
    for step in definition["Steps"]:
        args = step.get("Arguments", {})
        args = args.get("TrainingJobDefinition", args)
        roles += [args[k] for k in ("RoleArn", "ExecutionRoleArn") if k in args]
    for step in definition["Steps"][-1]["Arguments"]["IfSteps"]:
        roles += [step["Arguments"][k] for k in ("RoleArn", "ExecutionRoleArn") if k in step.get("Arguments", {})]
    assert len(roles) >= 4 and set(roles) == {"ROLE"}, roles  # preprocess, train, evaluate, the transform's model
    # Named as the environment's pipelines role passes it (test_roles.test_pass_role_is_limited_to_the_roles_each_workload_passes).
    assert resources(template, "AWS::IAM::Role")[role_id]["Properties"]["RoleName"] == naming.pipeline_jobs_role_name(env, EXAMPLE)
    assert "JobsRole" not in json.dumps([p for p in parts if not isinstance(p, str) and "Fn::ImportValue" in p])


def test_scripts_ship_as_one_asset_the_jobs_role_may_read(assembly):
    template = assembly.template_json("dev", STACK)
    definition = definition_of(template)
    code = definition["Steps"][0]["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"]
    assert code.startswith("s3://cdk-hnb659fds-assets-123456789012-us-east-1/") and code.endswith(".gz")
    _, statements = jobs_role_statements(template)
    key = code.split("/", 3)[3]
    bucket = "arn:aws:s3:::cdk-hnb659fds-assets-123456789012-us-east-1"
    assert [s for s in statements if s.get("Sid", "").endswith("TrainingCode")] == [
        {"Sid": "ReadTrainingCode", "Action": "s3:GetObject", "Effect": "Allow", "Resource": f"{bucket}/{key}"},
        {"Sid": "ListTrainingCode", "Action": "s3:ListBucket", "Effect": "Allow", "Resource": bucket,
         "Condition": {"StringEquals": {"s3:prefix": [key]}}},
    ]
    # The rest of the CDK assets bucket (other models' code, every stack's templates) is not granted.
    assert [s for s in statements if bucket in json.dumps(s["Resource"])] == [
        s for s in statements if s.get("Sid", "").endswith("TrainingCode")]


def test_no_policy_of_this_stack_reaches_a_role_of_another(assembly):
    """Everything this model's pipeline and jobs may do is on their own roles, here: nothing is added to the roles
    stack's shared roles, so a model adds nothing to their IAM size quotas."""
    template = assembly.template_json("dev", STACK)
    for logical, policy in resources(template, "AWS::IAM::Policy").items():
        assert all(set(r) == {"Ref"} for r in policy["Properties"]["Roles"]), logical


def test_gate_function_runs_in_the_vpc_with_encrypted_logs(assembly):
    template = assembly.template_json("dev", STACK)
    fn = props(template, "AWS::Lambda::Function")
    assert fn["Runtime"] == "python3.14" and fn["Handler"] == "handler.handler"
    assert len(fn["VpcConfig"]["SubnetIds"]) == 2 and fn["VpcConfig"]["SecurityGroupIds"]
    log_group = props(template, "AWS::Logs::LogGroup")
    assert "DataKey" in log_group["KmsKeyId"]["Fn::ImportValue"] and log_group["RetentionInDays"] == 30
    assert fn["LoggingConfig"]["LogGroup"] == {"Ref": next(iter(resources(template, "AWS::Logs::LogGroup")))}


def test_gate_role_reads_reports_and_only_its_registry_group(assembly):
    template = assembly.template_json("dev", STACK)
    (policy,) = [p["Properties"] for k, p in resources(template, "AWS::IAM::Policy").items() if k.startswith("EvaluationGateRole")]
    statements = policy["PolicyDocument"]["Statement"]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not {a for a in actions if a.startswith(("s3:Put", "s3:Delete", "sagemaker:Create", "sagemaker:Update"))}
    registry = next(s for s in statements if s.get("Sid") == "ReadChampionFromRegistry")
    assert registry["Resource"] == [
        "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/dev-direct-marketing",
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/dev-direct-marketing/*",
    ]
    s3_read = next(s for s in statements if "s3:GetObject*" in s["Action"])
    assert s3_read["Resource"][1]["Fn::Join"][1][1] == f"/pipelines/dev/{EXAMPLE}/*"  # its own model's runs only


def test_the_gates_network_calls_are_held_to_its_account_and_region_but_describe(assembly):
    """Lambda Developer Guide ("Giving Lambda functions access to resources in an Amazon VPC"): the execution role
    creates and deletes the function's interfaces, and DescribeNetworkInterfaces works only on "*"."""
    template = assembly.template_json("dev", STACK)
    (policy,) = [p["Properties"]["PolicyDocument"]["Statement"] for k, p in resources(template, "AWS::IAM::Policy").items()
                 if k.startswith("EvaluationGateRole")]
    ec2 = {s["Sid"]: s for s in policy if any(a.startswith("ec2:") for a in as_list(s["Action"]))}
    # AWSLambdaVPCAccessExecutionRole, version 3 (AWS Managed Policy Reference): DescribeSubnets besides the interfaces.
    assert ec2["FindNetworkInterfaces"] == {"Sid": "FindNetworkInterfaces", "Effect": "Allow", "Resource": "*",
                                            "Action": ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]}
    attach = ec2.pop("AttachToPlatformVpc")
    assert sorted(attach["Action"]) == ["ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface",
                                        "ec2:DeleteNetworkInterface", "ec2:UnassignPrivateIpAddresses"]
    assert attach["Resource"] == "arn:aws:ec2:us-east-1:123456789012:*/*"
    assert sorted(ec2) == ["FindNetworkInterfaces"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_failures_and_new_models_notify_an_encrypted_topic(assembly, env):
    template = assembly.template_json(env, STACK)
    topic_id, topic = next(iter(resources(template, "AWS::SNS::Topic").items()))
    (key_id,) = resources(template, "AWS::KMS::Key")
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert template["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True
    topic_policy = props(template, "AWS::SNS::TopicPolicy")["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in topic_policy)
    # EventBridge may publish for this stack's three rules only (aws:SourceArn: EventBridge User Guide, "Using
    # resource-based policies for Amazon EventBridge"): no statement lets it publish for any other rule.
    (events_publish,) = [s for s in topic_policy if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert events_publish["Action"] == "sns:Publish" and events_publish["Resource"] == {"Ref": topic_id}
    rule_ids = sorted(resources(template, "AWS::Events::Rule"))
    (sources,) = events_publish["Condition"]["ArnEquals"].values()
    assert list(events_publish["Condition"]["ArnEquals"]) == ["aws:SourceArn"]
    assert sorted(sources, key=json.dumps) == [{"Fn::GetAtt": [r, "Arn"]} for r in rule_ids]
    key_policy = template["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
    # EventBridge publishes to the topic through its key (CloudWatch alarms too: test_serving_stack).
    assert any(s.get("Principal") == {"Service": "events.amazonaws.com"} for s in key_policy)
    rules = [r["Properties"] for r in resources(template, "AWS::Events::Rule").values()]
    patterns = {json.dumps([r["EventPattern"]["detail-type"], r["EventPattern"]["detail"].get("ModelApprovalStatus")]): r
                for r in rules}
    failed = patterns['[["SageMaker Model Building Pipeline Execution Status Change"], null]']
    assert failed["EventPattern"]["detail"]["currentPipelineExecutionStatus"] == ["Failed"]
    account = load_environment(CONFIG_DIR / f"{env}.yaml").account
    assert failed["EventPattern"]["detail"]["pipelineArn"] == [f"arn:aws:sagemaker:us-east-1:{account}:pipeline/{env}-{EXAMPLE}"]
    # Every state change of a version in this group reaches the topic exactly once: approvals with the
    # promotion command (below), every other status as it is.
    registered = patterns['[["SageMaker Model Package State Change"], [{"anything-but": ["Approved"]}]]']
    assert registered["EventPattern"]["detail"]["ModelPackageGroupName"] == [f"{env}-direct-marketing"]
    approved = patterns['[["SageMaker Model Package State Change"], ["Approved"]]']
    assert approved["EventPattern"]["source"] == ["aws.sagemaker"]
    assert approved["EventPattern"]["detail"]["ModelPackageGroupName"] == [f"{env}-direct-marketing"]
    assert len(rules) == 3
    for rule in (failed, registered, approved):
        assert rule["Targets"][0]["Arn"] == {"Ref": topic_id}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_an_approved_version_notifies_the_command_that_promotes_it(assembly, env):
    rules = resources(assembly.template_json(env, STACK), "AWS::Events::Rule").values()
    (approved,) = [r["Properties"] for r in rules if r["Properties"]["EventPattern"]["detail"].get("ModelApprovalStatus") == ["Approved"]]
    (target,) = approved["Targets"]
    assert target["InputTransformer"]["InputPathsMap"] == {"detail-ModelPackageArn": "$.detail.ModelPackageArn"}
    message = json.loads(target["InputTransformer"]["InputTemplate"])
    assert f"run: python -m delivery promote --env {env} --model {EXAMPLE} --model-package <detail-ModelPackageArn> " in message
    assert f"config/{env}.yaml" in message
    # The command in the message is the one the CLI accepts.
    from delivery.__main__ import _parser

    args = _parser().parse_args(message.split("run: ")[1].split(" and open")[0].split()[3:])
    assert (args.command, args.env, args.model, args.model_package) == ("promote", env, EXAMPLE, "<detail-ModelPackageArn>")


@pytest.mark.parametrize("env, policy", [("dev", "Delete"), ("staging", "Retain"), ("prod", "Retain")])
def test_registry_group_is_stateful_and_kept_in_protected_environments(assembly, env, policy):
    groups = resources(assembly.template_json(env, "Data"), "AWS::SageMaker::ModelPackageGroup")
    models = load_environment(CONFIG_DIR / f"{env}.yaml").models
    # One group per model of the catalog, each under a logical ID that depends on its name alone.
    assert {k: g["Properties"]["ModelPackageGroupName"] for k, g in groups.items()} == {
        model.registry_id: f"{env}-{name}" for name, model in models.items()}
    for group in groups.values():
        assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == policy


def test_training_code_tarball_is_deterministic_and_clean(tmp_path):
    scripts = tmp_path / "scripts"
    shutil.copytree(ROOT / "training_scripts", scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "__pycache__").mkdir()  # local runs leave caches behind; they must not ship
    (scripts / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"cache")
    write_tarball(scripts, tmp_path / "a.tar.gz")
    (scripts / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"other cache")
    write_tarball(scripts, tmp_path / "b.tar.gz")
    data = (tmp_path / "a.tar.gz").read_bytes()
    assert data == (tmp_path / "b.tar.gz").read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        names = archive.getnames()
        assert all(m.mtime == 0 and m.uid == 0 for m in archive.getmembers())
    # The scripts, and the offline build backend the toolkit's `pip install .` needs (test below).
    assert names == sorted([p.name for p in scripts.iterdir() if p.suffix == ".py"] + ["offline_build_backend.py", "pyproject.toml"])
    assert {"train.py", "inference.py", "sm_contract.py"} <= set(names)
    # The toolkit would pip-install it, which fails in a network-isolated job.
    assert "requirements.txt" not in names and "README.md" not in names


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_gate_gets_a_dead_letter_queue_and_reserved_concurrency_where_the_environment_asks(assembly, env):
    gate = load_environment(CONFIG_DIR / f"{env}.yaml").gate_function
    template = assembly.template_json(env, STACK)
    (function,) = [f["Properties"] for k, f in resources(template, "AWS::Lambda::Function").items() if "EvaluationGate" in k]
    queues = resources(template, "AWS::SQS::Queue")
    if gate.dead_letter_queue:
        (queue_id, queue), = queues.items()
        assert function["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}}
        assert "KmsMasterKeyId" in queue["Properties"]  # encrypted with the environment's data key
        (policy,) = resources(template, "AWS::SQS::QueuePolicy").values()
        (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        # A producer of an SSE-KMS queue needs GenerateDataKey on its key (SQS Developer Guide, "Amazon SQS key
        # management"), or Lambda's send to the dead-letter queue fails.
        role_policy = next(p["Properties"]["PolicyDocument"]["Statement"] for k, p in resources(template, "AWS::IAM::Policy").items()
                           if k.startswith("EvaluationGateRole"))
        (encrypt,) = [s for s in role_policy if s.get("Sid") == "EncryptDeadLetters"]
        assert encrypt["Action"] == "kms:GenerateDataKey" and encrypt["Resource"] == queue["Properties"]["KmsMasterKeyId"]
    else:
        assert "DeadLetterConfig" not in function and not queues
    assert function.get("ReservedConcurrentExecutions") == gate.reserved_concurrency


#: What sagemaker-containers 2.8.6 (the XGBoost 3.0-5 image's script-mode toolkit, PyPI sagemaker-containers
#: 2.8.6.post2, src/sagemaker_containers/_modules.py: prepare() and install()) writes into a code directory
#: without a setup.py, before it runs `python -m pip install .` there.
TOOLKIT_SETUP_PY = """
from setuptools import setup
setup(packages=[''],
      name="train",
      version='1.0.0',
      include_package_data=True)
"""


def toolkit_install(code: Path, venv: Path) -> subprocess.CompletedProcess:
    """The toolkit's install step, offline: prepare() then `pip install .` with no index, as in a network-isolated job."""
    if not (code / "setup.py").exists():
        (code / "setup.py").write_text(TOOLKIT_SETUP_PY)
        (code / "setup.cfg").write_text("[wheel]\nuniversal = 1\n")
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "."],
                          cwd=code, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": os.devnull})


def test_the_code_asset_installs_with_the_toolkits_pip_install_and_no_index(tmp_path):
    """Under network isolation the toolkit's `pip install .` cannot fetch setuptools for an isolated build: the
    asset carries a build backend that needs nothing (stacks/training/offline_install). Without it the same
    install fails, so this test would catch its loss."""
    import venv

    venv.EnvBuilder(with_pip=True).create(tmp_path / "venv")
    archive = tmp_path / "sourcedir.tar.gz"
    write_tarball(ROOT / "training_scripts", archive)
    with tarfile.open(archive) as tar:
        assert {"pyproject.toml", "offline_build_backend.py"} <= set(tar.getnames())
        tar.extractall(tmp_path / "code", filter="data")
    done = toolkit_install(tmp_path / "code", tmp_path / "venv")
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-1500:]
    assert "Successfully installed training-code-1.0.0" in done.stdout or "Successfully installed training_code" in done.stdout

    # The model's code/ that train.py ships from there: the serving toolkit runs the same `pip install .` on it
    # (sagemaker_containers/_server.py start() -> _modules.import_module), also network-isolated.
    (tmp_path / "model").mkdir()  # SM_MODEL_DIR
    shipped = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; import train; "
                              "train.ship_serving_code(Path(sys.argv[1]))", str(tmp_path / "model" / "code")],
                             cwd=tmp_path / "code", capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(tmp_path / "code")})
    assert shipped.returncode == 0, shipped.stderr[-1500:]
    assert {"pyproject.toml", "offline_build_backend.py", "inference.py"} <= {p.name for p in (tmp_path / "model" / "code").iterdir()}
    served = toolkit_install(tmp_path / "model" / "code", tmp_path / "venv")
    assert served.returncode == 0, served.stdout[-1500:] + served.stderr[-1500:]

    bare = tmp_path / "bare"  # the scripts alone, as the asset was before
    shutil.copytree(ROOT / "training_scripts", bare, ignore=shutil.ignore_patterns("__pycache__", "*.md", "requirements.txt"))
    failed = toolkit_install(bare, tmp_path / "venv")
    assert failed.returncode != 0 and "setuptools" in failed.stdout + failed.stderr


def test_data_in_a_teams_code_folder_is_named_at_synth(tmp_path):
    """Everything in code_dir but *.md, requirements.txt and caches ships in sourcedir.tar.gz to every job: a CSV
    (or any file over 5 MB) left there is data on every job's disk and in every execution's asset; synth says so."""
    from tests.helpers.assembly import synth_app
    from tests.helpers.configs import own_code_dir, shipped, write_config

    with own_code_dir() as code:
        (code / "customers.csv").write_text("a,b\n1,2\n")
        (code / "notes.md").write_text("not shipped")
        data = shipped("dev")
        data["models"][EXAMPLE]["code_dir"] = str(code.relative_to(ROOT))
        (tmp_path / "config").mkdir()
        write_config(tmp_path / "config", data)
        notices = synth_app(tmp_path / "out", tmp_path / "config").notices()
    shipped_data = [n for n in notices if "ships data to every job" in n]
    assert shipped_data == [f"dev: models.{EXAMPLE}.code_dir {code.relative_to(ROOT)} ships data to every job in sourcedir.tar.gz: "
                            "customers.csv (keep the code folder to code; a dataset belongs in dataset.data_file)"]
    assert data_like_files(ROOT / "training_scripts") == []  # the bundled folder gets no such notice
    with own_code_dir() as code:  # not data by its name, but over 5 MB: model weights, a vendored wheel
        with (code / "weights.bin").open("wb") as big:
            big.truncate(LARGE_FILE_BYTES + 1)  # sparse: no 5 MB written
        (code / "small.bin").write_bytes(b"\0" * 1024)
        assert data_like_files(code) == ["weights.bin"]
