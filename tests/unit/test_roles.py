"""Execution roles: separate, least-privilege, PassRole only to the roles they pass."""

from __future__ import annotations

import json

import pytest

from tests.helpers.configs import ENVIRONMENTS

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
UNSCOPED_STATEMENTS = {"PublishSageMakerMetrics", "EcrAuthToken", "DescribeNetwork", "ManageInterfacesInPlatformVpc", "AccessMlflowUi"}


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
    passes = [s for s in statements_of(template, name) if s["Action"] == "iam:PassRole"]
    for s in passes:
        assert s["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    return [r["Fn::GetAtt"][0] for s in passes for r in ([s["Resource"]] if isinstance(s["Resource"], dict) else s["Resource"])]


def test_pass_role_is_limited_to_the_roles_each_workload_passes(template):
    ids = {name: next(i for i in template.find_resources("AWS::IAM::Role") if i.startswith(name)) for name in ROLES}
    assert pass_role_targets(template, "Pipelines") == [ids["Jobs"]]
    assert pass_role_targets(template, "Notebooks") == [ids["Experiments"]]
    assert pass_role_targets(template, "Jobs") == []
    assert pass_role_targets(template, "Experiments") == []
    assert pass_role_targets(template, "Endpoints") == []
    assert pass_role_targets(template, "Monitoring") == []


def resources_for(statements, action) -> list:
    out = []
    for s in statements:
        if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]):
            out += s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
    return out


def test_jobs_read_raw_data_but_write_only_artifacts(template):
    statements = statements_of(template, "Jobs")
    written = json.dumps(resources_for(statements, "s3:PutObject"))
    read = json.dumps(resources_for(statements, "s3:GetObject*"))
    assert "model-artifacts-bucket-arn" in written and "raw-data-bucket-arn" not in written
    assert "raw-data-bucket-arn" in read and "model-artifacts-bucket-arn" in read


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


def test_sagemaker_actions_are_scoped_to_resource_types(template):
    for name in ("Pipelines", "Notebooks"):
        for statement in statements_of(template, name):
            if any(a.startswith("sagemaker:") for a in actions([statement])):
                for resource in statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]:
                    assert isinstance(resource, str) and resource.startswith("arn:aws:sagemaker:us-east-1:"), resource
                    assert resource.split(":")[5].split("/")[0] != "*"


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


@pytest.mark.parametrize("name, sid", [("Pipelines", "LaunchEncryptedJobsInPlatformVpc"),
                                       ("Notebooks", "LaunchEncryptedExperimentsInPlatformVpc")])
def test_jobs_can_only_be_launched_inside_the_platform_vpc(template, name, sid):
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
    data_key = {"Fn::ImportValue": "sagemaker-platform-" + template.to_json()["Resources"][next(
        i for i in template.find_resources("AWS::IAM::Role") if i.startswith(name))]["Properties"]["Description"].split(":")[0]
        + "-data-key-arn"}
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
    for name in ("Jobs", "Experiments", "Endpoints", "Notebooks"):
        create = [s for s in statements_of(template, name) if "ec2:CreateNetworkInterface" in actions([s])]
        by_sid = {s["Sid"]: s for s in create}
        assert set(by_sid) == {"CreateInterfaces", "CreateInterfacesInPlatformVpc"}
        assert "Condition" not in by_sid["CreateInterfaces"]
        assert "ec2:Vpc" in by_sid["CreateInterfacesInPlatformVpc"]["Condition"]["ArnEquals"]
        (manage,) = [s for s in statements_of(template, name) if "ec2:DeleteNetworkInterface" in actions([s])]
        assert "ec2:Vpc" in manage["Condition"]["ArnEquals"]


def test_kms_grants_only_for_aws_resources(template):
    for name in ("Jobs", "Experiments", "Pipelines", "Notebooks"):
        (statement,) = [s for s in statements_of(template, name) if "kms:CreateGrant" in actions([s])]
        assert statement["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
