"""Execution roles: separate, least-privilege, PassRole only to the roles they pass."""

from __future__ import annotations

import json

import pytest

import naming
from config import load_environment
from tests.helpers.configs import ENVIRONMENTS
from tests.helpers.paths import CONFIG_DIR
from tests.helpers.templates import as_list

ROLES = ("Jobs", "Experiments", "Endpoints", "Monitoring", "Pipelines", "Notebooks")


def roles(template) -> dict[str, dict]:
    """Role logical ID prefix (Jobs, ...) -> role resource."""
    found = template.find_resources("AWS::IAM::Role")
    return {next(r for r in ROLES if i.startswith(r)): res for i, res in found.items()}


def statements_of(template, role_name: str) -> list[dict]:
    role_id = next(i for i in template.find_resources("AWS::IAM::Role") if i.startswith(role_name))
    out = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            out += policy["Properties"]["PolicyDocument"]["Statement"]
    return out


def actions(statements) -> set[str]:
    found: set[str] = set()
    for s in statements:
        found.update([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    return found


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def template(request, assembly):
    return assembly.template(request.param, "Roles")


def test_separate_roles_trusting_only_sagemaker_in_this_account(template):
    found = roles(template)
    assert sorted(found) == sorted(ROLES)
    for name, role in found.items():
        if name == "Notebooks":
            continue  # see test_notebook_role_trust_has_no_condition_sagemaker_does_not_send
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}, name
        assert list(statement["Condition"]["StringEquals"]) == ["aws:SourceAccount"], name


def test_no_managed_policies_and_no_full_access(template):
    for name, role in roles(template).items():
        assert "ManagedPolicyArns" not in role["Properties"], name
    assert "FullAccess" not in json.dumps(template.to_json())


#: CDK grant action sets (each acknowledged next to its grant); no other action may hold a wildcard.
GRANT_WILDCARDS = {"s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*",
                   "kms:GenerateDataKey*", "kms:ReEncrypt*"}
#: Statements allowed to name Resource "*", because their actions support no resource scoping.
#: AccessMlflowUi: sagemaker-mlflow:AccessUI has no resource type (notebooks, with tracking on).
UNSCOPED_STATEMENTS = {"PublishSageMakerMetrics", "EcrAuthToken", "DescribeNetwork", "RemoveInterfacePermissions", "AccessMlflowUi"}


def test_no_wildcard_actions_beyond_cdk_grant_sets(template):
    for name in ROLES:
        for action in actions(statements_of(template, name)):
            assert "*" not in action or action in GRANT_WILDCARDS, (name, action)


def test_only_unscopable_actions_use_resource_star(template):
    for name in ROLES:
        for statement in statements_of(template, name):
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if "*" in resources:
                assert statement.get("Sid") in UNSCOPED_STATEMENTS, (name, statement)


def pass_role_targets(template, name) -> list:
    """The roles a role may pass: logical IDs of this stack's roles, ARNs of roles named elsewhere."""
    passes = [s for s in statements_of(template, name) if s["Action"] == "iam:PassRole"]
    for s in passes:
        assert s["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    return [r if isinstance(r, str) else r["Fn::GetAtt"][0] for s in passes for r in as_list(s["Resource"])]


def test_pass_role_is_limited_to_the_roles_each_workload_passes(template):
    """Notebooks pass the experiments role; each model's pipeline role passes its jobs role, from the model's stack
    (test_a_models_pipeline_passes_its_jobs_role_invokes_its_gate_and_registers_into_its_group)."""
    ids = {name: next(i for i in template.find_resources("AWS::IAM::Role") if i.startswith(name)) for name in ROLES}
    assert pass_role_targets(template, "Pipelines") == []
    assert pass_role_targets(template, "Notebooks") == [ids["Experiments"]]
    assert pass_role_targets(template, "Experiments") == []
    assert pass_role_targets(template, "Endpoints") == []
    assert pass_role_targets(template, "Monitoring") == []


@pytest.mark.parametrize("name", ["Jobs", "Pipelines"])
def test_the_retired_roles_have_no_permissions_and_keep_their_exports(template, name):
    """Each model's pipeline and jobs run as roles of the model's own stack now. The environment-wide ones stay a
    release, with nothing granted, so that a deployed environment updates: CloudFormation refuses to remove an export
    another stack still imports ("Exporting stack output values", CloudFormation User Guide), and this stack deploys
    before the pipeline stacks that stop importing it."""
    role_id = next(i for i in template.find_resources("AWS::IAM::Role") if i.startswith(name))
    assert statements_of(template, name) == []
    role = template.to_json()["Resources"][role_id]["Properties"]
    assert "Policies" not in role and "ManagedPolicyArns" not in role and "retired" in role["Description"]
    exported = {json.dumps(o["Value"]) for o in template.to_json()["Outputs"].values() if "Export" in o}
    assert json.dumps({"Fn::GetAtt": [role_id, "Arn"]}) in exported and json.dumps({"Ref": role_id}) in exported


#: What the Serving stacks deployed before each endpoint and monitor had its own role imported from this stack (their
#: synthesized templates at the release before: tests/snapshots/test_serving_stack at commit cd1b5d3).
SERVING_IMPORTS_BEFORE = ("ExportsOutputFnGetAttEndpointsRole6A79C798Arn73D18E56", "ExportsOutputRefEndpointsRole6A79C7983436BA62",
                          "ExportsOutputFnGetAttMonitoringRoleD3E808C7Arn16BD0F0D")


@pytest.mark.parametrize("name", ["Endpoints", "Monitoring"])
def test_the_retired_serving_roles_keep_their_permissions_and_every_export_deployed_serving_stacks_import(template, name):
    """Each endpoint and monitor runs as a role of its own Serving stack now. The environment-wide ones stay a release
    with their permissions (an endpoint or a schedule keeps running as them until its Serving stack's update replaces
    its model or job definition) and with the exports the deployed Serving stacks import, byte for byte: CloudFormation
    refuses to remove an export in use, and this stack deploys first."""
    role_id = next(i for i in template.find_resources("AWS::IAM::Role") if i.startswith(name))
    assert "retired" in template.to_json()["Resources"][role_id]["Properties"]["Description"]
    assert "s3:GetObject*" in actions(statements_of(template, name))  # still loads models, reads captures
    exports = {o["Export"]["Name"] for o in template.to_json()["Outputs"].values() if "Export" in o}
    env = next(iter(exports)).split("-Roles:")[0]
    assert {f"{env}-Roles:{imported}" for imported in SERVING_IMPORTS_BEFORE} <= exports


def resources_for(statements, action) -> list:
    out = []
    for s in statements:
        if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]):
            out += s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
    return out


@pytest.mark.parametrize("name", ["Notebooks", "Experiments"])
def test_notebooks_and_their_jobs_write_artifacts_only_under_their_own_prefixes(template, name):
    """What pipelines wrote (models, reports, baselines) is read-only to notebooks and the jobs they start."""
    statements = statements_of(template, name)
    written = resources_for(statements, "s3:PutObject")
    # Objects of the artifacts bucket (CDK's grant also lists the bucket itself, which no object action matches).
    objects = sorted(r["Fn::Join"][1][1] for r in written if "Fn::Join" in r and "model-artifacts" in json.dumps(r))
    assert objects == ["/mlflow/*", "/notebooks/*"], written
    assert any("model-artifacts-bucket-arn" in json.dumps(r) and json.dumps(r).endswith('"/*"]]}')
               for r in resources_for(statements, "s3:GetObject*"))  # reads all of it


def test_endpoints_only_read_model_artifacts(template):
    statements = statements_of(template, "Endpoints")
    assert resources_for(statements, "s3:PutObject") == []
    assert "raw-data-bucket-arn" not in json.dumps(statements)
    assert not any(a.startswith("sagemaker:") for a in actions(statements))


def sagemaker_actions_are_scoped_to_resource_types(template, name: str) -> None:
    for statement in statements_of(template, name):
        if any(a.startswith("sagemaker:") for a in actions([statement])):
            for resource in as_list(statement["Resource"]):
                assert isinstance(resource, str) and resource.startswith("arn:aws:sagemaker:us-east-1:"), resource
                assert resource.split(":")[5].split("/")[0] != "*"


def test_sagemaker_actions_are_scoped_to_resource_types(template):
    sagemaker_actions_are_scoped_to_resource_types(template, "Notebooks")


@pytest.mark.parametrize("env, expected", [
    ("dev", ["arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/dev-data-science"]),
    ("staging", ["arn:aws:sagemaker:us-east-1:222222222222:notebook-instance/staging-validation"]),
    ("prod", []),
])
def test_notebooks_can_stop_exactly_their_own_instances(assembly, env, expected):
    statements = statements_of(assembly.template(env, "Roles"), "Notebooks")
    assert resources_for(statements, "sagemaker:StopNotebookInstance") == expected


def test_notebook_role_trust_has_no_condition_sagemaker_does_not_send(template):
    notebook_role = roles(template)["Notebooks"]
    (statement,) = notebook_role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert "Condition" not in statement


def test_endpoint_logs_match_sagemakers_per_endpoint_log_groups(template):
    (resource,) = resources_for(statements_of(template, "Endpoints"), "logs:PutLogEvents")
    assert resource.endswith(":log-group:/aws/sagemaker/Endpoints/*:*")


def test_notebooks_launch_jobs_only_inside_the_platform_vpc(template):
    jobs_are_launched_only_inside_the_platform_vpc(template, "Notebooks", "LaunchEncryptedExperimentsInPlatformVpc")


def jobs_are_launched_only_inside_the_platform_vpc(template, name: str, sid: str) -> None:
    (statement,) = [s for s in statements_of(template, name) if s.get("Sid") == sid]
    assert {"sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob",
            "sagemaker:CreateHyperParameterTuningJob"} <= actions([statement])
    condition = statement["Condition"]
    assert condition["Null"] == {"sagemaker:VpcSubnets": "false", "sagemaker:VpcSecurityGroupIds": "false"}
    subnets = condition["ForAllValues:StringEquals"]["sagemaker:VpcSubnets"]
    assert len(subnets) >= 2 and all("WorkloadsSubnet" in s["Fn::ImportValue"] for s in subnets)
    (group,) = condition["ForAllValues:StringEquals"]["sagemaker:VpcSecurityGroupIds"]
    assert "WorkloadSecurityGroup" in group["Fn::ImportValue"]
    # Traffic between their instances encrypted, their output (and any volume key they name) on the data key.
    assert condition["Bool"] == {"sagemaker:InterContainerTrafficEncryption": "true"}
    env = template.to_json()["Resources"][next(i for i in template.find_resources("AWS::IAM::Role") if i.startswith(name))][
        "Properties"]["Description"].split(":")[0]
    # The data key: its named export in the roles stack; in a model's stack, the key its volumes take grants on.
    data_key = {"Fn::ImportValue": "sagemaker-platform-" + env + "-data-key-arn"} if name == "Notebooks" else next(
        s["Resource"] for s in statements_of(template, name) if "kms:CreateGrant" in actions([s]))
    assert "data-key-arn" in json.dumps(data_key) or "DataKey" in json.dumps(data_key)
    assert condition["ArnEquals"] == {"sagemaker:OutputKmsKeyArn": data_key}
    assert condition["ArnEqualsIfExists"] == {"sagemaker:VolumeKmsKeyArn": data_key}
    transforms = [s for s in statements_of(template, name) if "sagemaker:CreateTransformJob" in actions([s])]
    if name == "Notebooks":  # a transform runs as its model's role: the pipelines' models, the jobs role
        assert not transforms and not [s for s in statements_of(template, name) if "sagemaker:CreateModel" in actions([s])]
    else:
        (transform,) = transforms
        assert transform["Condition"] == {"ArnEquals": {"sagemaker:OutputKmsKeyArn": data_key},
                                          "ArnEqualsIfExists": {"sagemaker:VolumeKmsKeyArn": data_key}}
    for other in statements_of(template, name):
        if other.get("Sid") != sid:
            assert not {"sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob"} & actions([other])


def test_vpc_interface_management_is_confined_to_the_platform_vpc(template):
    """ec2:CreateNetworkInterface is authorized on the new interface, the subnet and the security group;
    only the last two carry ec2:Vpc (Service Authorization Reference), so the VPC is held there."""
    for name in ("Experiments", "Endpoints", "Notebooks"):
        create = [s for s in statements_of(template, name) if "ec2:CreateNetworkInterface" in actions([s])]
        by_sid = {s["Sid"]: s for s in create}
        assert set(by_sid) == {"CreateInterfaces", "CreateInterfacesInPlatformVpc"}
        assert "Condition" not in by_sid["CreateInterfaces"]
        assert "ec2:Vpc" in by_sid["CreateInterfacesInPlatformVpc"]["Condition"]["ArnEquals"]
        (manage,) = [s for s in statements_of(template, name) if "ec2:DeleteNetworkInterface" in actions([s])]
        assert "ec2:Vpc" in manage["Condition"]["ArnEquals"]


def test_kms_grants_only_for_aws_resources(template):
    for name in ("Experiments", "Notebooks"):
        (statement,) = [s for s in statements_of(template, name) if "kms:CreateGrant" in actions([s])]
        assert statement["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


MODEL_STACKS = [(env, model) for env in ENVIRONMENTS for model in load_environment(CONFIG_DIR / f"{env}.yaml").models]


@pytest.fixture(scope="module", params=MODEL_STACKS, ids=[f"{env}-{model}" for env, model in MODEL_STACKS])
def model_stack(request, assembly):
    """(environment config, model name, the model's TrainingPipeline template), for every model of the fixture config."""
    env, model = request.param
    return load_environment(CONFIG_DIR / f"{env}.yaml"), model, assembly.template(env, f"{model}-TrainingPipeline")


def object_patterns(resources: list, export: str) -> list[str]:
    """The object key patterns granted in the bucket whose ARN the export holds (Fn::Join of the import and a suffix)."""
    return sorted(r["Fn::Join"][1][1] for r in resources if "Fn::Join" in r and r["Fn::Join"][1][0] == {"Fn::ImportValue": export})


def test_a_models_jobs_read_its_data_and_write_its_runs_only(model_stack):
    """Each model's jobs (whose code may be another team's: code_dir) run as that model's role. It reads the model's
    prefix of the raw data and writes under the model's runs prefix (and MLflow's store with tracking on): never
    another model's data, registered model.tar.gz, evaluation report or baseline."""
    env_config, model, template = model_stack
    env = env_config.name
    statements = statements_of(template, "Jobs")
    raw, artifacts = f"sagemaker-platform-{env}-raw-data-bucket-arn", f"sagemaker-platform-{env}-model-artifacts-bucket-arn"
    read = resources_for(statements, "s3:GetObject*") + resources_for(statements, "s3:GetObject")
    written = resources_for(statements, "s3:PutObject")
    writes = [f"/pipelines/{env}/{model}/*"] + (["/mlflow/*"] if env_config.tracking.enabled else [])
    assert object_patterns(read, raw) == [f"/{model}/*"]
    assert object_patterns(written, raw) == []
    assert object_patterns(written, artifacts) == object_patterns(read, artifacts) == sorted(writes)
    # Nothing else in either bucket: the artifacts bucket itself (CDK's List*/GetBucket*) and the patterns above; the
    # one other object read is the code asset (test_training_pipeline_stack.test_scripts_ship_as_one_asset_the_jobs_role_may_read).
    assert {json.dumps(r) for r in read + written if isinstance(r, dict) and "Fn::Join" not in r} == {
        json.dumps({"Fn::ImportValue": artifacts})}
    assert [r for r in read + written if isinstance(r, str) and ":::cdk-" not in r] == []
    # The raw data's keys are listed under the model's prefix only; the bucket itself is located, nothing more.
    on_raw = [s for s in statements if {"Fn::ImportValue": raw} in as_list(s["Resource"])]
    assert sorted((s["Sid"], s["Action"], json.dumps(s.get("Condition"))) for s in on_raw) == [
        ("ListModelData", "s3:ListBucket", json.dumps({"StringLike": {"s3:prefix": [f"{model}/*"]}})),
        ("LocateRawDataBucket", "s3:GetBucketLocation", "null")]
    assert pass_role_targets(template, "Jobs") == []


def test_a_models_jobs_role_networks_and_uses_keys_as_the_platform_allows(model_stack):
    """The same VPC and KMS limits as every other SageMaker role (test_vpc_interface_management_is_confined_to_the_platform_vpc,
    test_kms_grants_only_for_aws_resources), and no wildcard beyond CDK's grant sets."""
    _, _, template = model_stack
    statements = statements_of(template, "Jobs")
    by_sid = {s["Sid"]: s for s in statements if "ec2:CreateNetworkInterface" in actions([s])}
    assert set(by_sid) == {"CreateInterfaces", "CreateInterfacesInPlatformVpc"}
    assert "ec2:Vpc" in by_sid["CreateInterfacesInPlatformVpc"]["Condition"]["ArnEquals"]
    (manage,) = [s for s in statements if "ec2:DeleteNetworkInterface" in actions([s])]
    assert "ec2:Vpc" in manage["Condition"]["ArnEquals"]
    (grant,) = [s for s in statements if "kms:CreateGrant" in actions([s])]
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    for action in actions(statements):
        assert "*" not in action or action in GRANT_WILDCARDS, action
    for statement in statements:
        if "*" in as_list(statement["Resource"]):
            assert statement.get("Sid") in UNSCOPED_STATEMENTS, statement
    (role,) = [r for i, r in template.find_resources("AWS::IAM::Role").items() if i.startswith("Jobs")]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"} and list(trust["Condition"]["StringEquals"]) == ["aws:SourceAccount"]


def test_a_models_pipeline_passes_its_jobs_role_invokes_its_gate_and_registers_into_its_group(model_stack):
    """Each model's executions run as a role of its own stack: the jobs it starts are in the platform VPC with output
    on the data key (as the notebooks'), run as this model's jobs role, and register into this model's group only,
    with the statuses its config allows; the gate it invokes is this model's."""
    env_config, model, template = model_stack
    ids = {name: next(i for i in template.find_resources("AWS::IAM::Role") if i.startswith(name)) for name in ("Executions", "Jobs")}
    pipeline = next(iter(template.find_resources("AWS::SageMaker::Pipeline").values()))["Properties"]
    assert pipeline["RoleArn"] == {"Fn::GetAtt": [ids["Executions"], "Arn"]}
    assert pass_role_targets(template, "Executions") == [ids["Jobs"]]
    jobs_are_launched_only_inside_the_platform_vpc(template, "Executions", "LaunchEncryptedJobsInPlatformVpc")
    sagemaker_actions_are_scoped_to_resource_types(template, "Executions")
    statements = statements_of(template, "Executions")
    group = naming.model_package_group_name(env_config.name, model)
    prefix = f"arn:aws:sagemaker:us-east-1:{env_config.account}:"
    (register,) = [s for s in statements if "sagemaker:CreateModelPackage" in actions([s])]
    assert register["Resource"] == f"{prefix}model-package/{group}/*"
    assert register["Condition"] == {"StringEquals": {
        "sagemaker:ModelApprovalStatus": list(env_config.models[model].evaluation.allowed_approval_statuses)}}
    (read,) = [s for s in statements if "sagemaker:DescribeModelPackageGroup" in actions([s])]
    assert sorted(read["Resource"]) == sorted([f"{prefix}model/*", f"{prefix}model-package/{group}/*",
                                               f"{prefix}model-package-group/{group}"])
    (function_id,) = [i for i, r in template.find_resources("AWS::Lambda::Function").items() if "VpcConfig" in r["Properties"]]
    assert resources_for(statements, "lambda:InvokeFunction") == [{"Fn::GetAtt": [function_id, "Arn"]}]
    runs = f"/pipelines/{env_config.name}/{model}/*"
    artifacts = f"sagemaker-platform-{env_config.name}-model-artifacts-bucket-arn"
    assert object_patterns(resources_for(statements, "s3:GetObject*"), artifacts) == [runs]
    assert resources_for(statements, "s3:PutObject") == []
    (grant,) = [s for s in statements if "kms:CreateGrant" in actions([s])]
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    for action in actions(statements):
        assert "*" not in action or action in GRANT_WILDCARDS, action
