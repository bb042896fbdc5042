"""IAM's size quotas, checked at synth: a role whose policies add up past what IAM allows fails `cdk synth`
with one line naming it, instead of failing the deploy of whichever stack crosses the line.

The quotas and the rule that white space does not count are AWS's ("IAM and AWS STS quotas",
docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html: inline policies of a role 10,240
characters in all, a managed policy 6,144, 10 managed policies a role, a trust policy 2,048).
"""

from __future__ import annotations

import json
import subprocess
import sys

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

import app as app_module
from stacks.shared import quotas
from tests.helpers.assembly import cdk_context
from tests.helpers.paths import CONFIG_DIR, ROOT

ENV = cdk.Environment(account="123456789012", region="us-east-1")


def shared_role_app(outdir, *, models: int, resources_per_model: int = 8) -> None:
    """Like the platform: a role in one stack, and a stack per model that adds an inline policy to it through an
    import, each naming a generated function ARN and a few objects."""
    app = cdk.App(outdir=str(outdir))
    roles = cdk.Stack(app, "Roles", env=ENV)
    role = iam.Role(roles, "PipelinesRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::bucket/key"]))
    for index in range(models):
        stack = cdk.Stack(app, f"Model{index}", env=ENV)
        function = cdk.aws_lambda.Function(stack, "Gate", runtime=cdk.aws_lambda.Runtime.PYTHON_3_13, handler="h.h",
                                           code=cdk.aws_lambda.Code.from_inline("def h(e, c): pass"))
        objects = [f"arn:aws:s3:::bucket/model-{index}/{n}" for n in range(resources_per_model)]
        iam.Policy(stack, "Run", roles=[role], statements=[
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function.function_arn]),
            *([iam.PolicyStatement(actions=["s3:GetObject"], resources=objects)] if objects else []),
        ])
    app.synth()


def test_a_policy_of_literal_text_counts_as_its_json_without_white_space(tmp_path):
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "S", env=ENV)
    role = iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    role.add_to_principal_policy(iam.PolicyStatement(sid="Read", actions=["s3:GetObject"], resources=["arn:aws:s3:::b/k 1"]))
    app.synth()
    template = json.loads((tmp_path / "S.template.json").read_text())
    (policy,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    document = policy["Properties"]["PolicyDocument"]
    assert quotas._Assembly(tmp_path).size(document, "S") == len(json.dumps(document, separators=(",", ":")))


def test_policies_added_to_a_role_from_other_stacks_count_against_it_and_fail_synth_with_one_line(tmp_path, capsys):
    shared_role_app(tmp_path / "fits", models=3)
    assert quotas.quota_problems(tmp_path / "fits") == []
    shared_role_app(tmp_path / "over", models=40)
    (problem,) = quotas.quota_problems(tmp_path / "over")
    assert problem.startswith("Roles: role PipelinesRole")
    assert "'s inline policies would add up to " in problem and "(41 policies, 40 of them in other stacks of its environment)" in problem
    assert "IAM allows 10,240 a role (docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html); allowed: fewer models" in problem
    assert app_module.exceeded_quotas(tmp_path / "over") == 1
    assert capsys.readouterr().err == f"quota: {problem}\n"


def test_an_unresolved_reference_counts_at_the_longest_it_can_resolve_to(tmp_path):
    """A generated Lambda function's ARN is at most arn:aws-us-gov:lambda:<14>:<12>:function:<64>; an estimate
    below the real figure would let a deploy fail, so none is shorter than that."""
    shared_role_app(tmp_path, models=1, resources_per_model=0)
    assembly = quotas._Assembly(tmp_path)
    (policy,) = [r for r in assembly.templates["Model0"]["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    invoke = policy["Properties"]["PolicyDocument"]["Statement"][0]
    longest = "arn:aws-us-gov:lambda:ap-southeast-2:123456789012:function:" + "f" * 64
    assert assembly.text(invoke["Resource"], "Model0") >= len(longest)
    assert quotas._Assembly(tmp_path).role_of(policy["Properties"]["Roles"][0], "Model0") == ("Roles", next(
        k for k, r in assembly.templates["Roles"]["Resources"].items() if r["Type"] == "AWS::IAM::Role"))


@pytest.mark.parametrize(("kind", "message"), [
    ("managed", "managed policy Big"),
    ("count", "would have 11 managed policies; IAM allows 10 a role by default"),
    ("trust", "trust policy would be"),
])
def test_a_managed_policy_too_large_too_many_managed_policies_and_a_long_trust_policy_are_named(tmp_path, kind, message):
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "S", env=ENV)
    principals = [iam.ArnPrincipal(f"arn:aws:iam::123456789012:role/caller-{'x' * 40}-{n}") for n in range(40 if kind == "trust" else 1)]
    role = iam.Role(stack, "R", assumed_by=iam.CompositePrincipal(*principals) if len(principals) > 1 else principals[0])
    if kind == "managed":
        iam.ManagedPolicy(stack, "Big", roles=[role], statements=[iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[f"arn:aws:s3:::bucket/{'k' * 50}-{n}" for n in range(100)])])
    if kind == "count":
        for n in range(11):
            iam.ManagedPolicy(stack, f"P{n}", roles=[role],
                              statements=[iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"arn:aws:s3:::b/{n}"])])
    app.synth()
    (problem,) = quotas.quota_problems(tmp_path)
    assert problem.startswith("S: ") and message in problem and quotas.QUOTAS_PAGE in problem


def test_cdk_synth_exits_1_on_an_exceeded_quota(tmp_path):
    """Run as the CDK CLI runs the app (CDK_OUTDIR, CDK_CONTEXT_JSON with cdk.json's context): app.main() reads the
    assembly it wrote."""
    import os

    script = ("import sys, app, stacks.shared.quotas as q; "
              "q.INLINE_POLICIES_PER_ROLE = 100; sys.exit(app.main())")  # every real role is over 100 characters
    context = {**cdk_context(), "config_dir": str(CONFIG_DIR)}  # the fixture config, whatever config/ holds
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path / "out"), "CDK_CONTEXT_JSON": json.dumps(context)}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stderr[-2000:]
    assert any(line.startswith("quota: dev/Roles: role ") for line in result.stderr.splitlines()), result.stderr[-2000:]


def test_a_template_over_cloudformations_1_mb_is_named(tmp_path):
    """CDK only annotates a template over CloudFormation's 1 MB ("CloudFormation quotas", docs.aws.amazon.com/
    AWSCloudFormation/latest/UserGuide/cloudformation-limits.html); synth fails on it here."""
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Big", env=ENV)
    for n in range(70):
        topic = cdk.aws_sns.Topic(stack, f"T{n}")
        for t in range(40):
            cdk.Tags.of(topic).add(f"key-{t}-{'k' * 100}", "v" * 256)
    app.synth()
    problems = quotas.quota_problems(tmp_path)
    size = (tmp_path / "Big.template.json").stat().st_size
    assert size > quotas.TEMPLATE_BYTES
    assert problems == [f"Big: its template is {size:,} bytes; CloudFormation takes at most 1,048,576 ({quotas.CFN_QUOTAS_PAGE}) "
                        "(allowed: fewer or shorter tags, fewer availability zones, teams or models in that environment)"]


def test_roles_named_by_imported_arn_by_name_or_through_fn_sub_count_too(tmp_path):
    """A role imported by ARN (CDK writes Fn::Select of Fn::Split of the import), a role named by its name, and a
    policy whose resource is an Fn::Sub all count against the one role, each at least at its resolved size."""
    app = cdk.App(outdir=str(tmp_path))
    roles = cdk.Stack(app, "Roles", env=ENV)
    role = iam.Role(roles, "Shared", role_name="shared-role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    cdk.CfnOutput(roles, "Arn", value=role.role_arn, export_name="shared-role-arn")
    objects = [f"arn:aws:s3:::bucket/{'k' * 80}-{n}" for n in range(40)]  # about 4,300 characters a policy
    by_arn = cdk.Stack(app, "ByArn", env=ENV)
    iam.Policy(by_arn, "P", roles=[iam.Role.from_role_arn(by_arn, "R", cdk.Fn.import_value("shared-role-arn"))],
               statements=[iam.PolicyStatement(actions=["s3:GetObject"], resources=objects)])
    by_name = cdk.Stack(app, "ByName", env=ENV)
    iam.Policy(by_name, "P", roles=[iam.Role.from_role_name(by_name, "R", "shared-role")],
               statements=[iam.PolicyStatement(actions=["s3:GetObject"], resources=objects)])
    by_sub = cdk.Stack(app, "BySub", env=ENV)
    iam.Policy(by_sub, "P", roles=[role], statements=[iam.PolicyStatement(
        actions=["s3:GetObject"], resources=[cdk.Fn.sub("arn:aws:s3:::${B}/" + "k" * 3900, {"B": "bucket"})])])
    app.synth()
    assembly = quotas._Assembly(tmp_path)
    (shared,) = [k for k, r in assembly.templates["Roles"]["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    for stack in ("ByArn", "ByName", "BySub"):
        (policy,) = [r for r in assembly.templates[stack]["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
        assert assembly.role_of(policy["Properties"]["Roles"][0], stack) == ("Roles", shared), stack
    (sub,) = [r for r in assembly.templates["BySub"]["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    resolved = json.dumps(sub["Properties"]["PolicyDocument"], separators=(",", ":")).replace(
        json.dumps(sub["Properties"]["PolicyDocument"]["Statement"][0]["Resource"], separators=(",", ":")),
        json.dumps("arn:aws:s3:::bucket/" + "k" * 3900))
    assert assembly.size(sub["Properties"]["PolicyDocument"], "BySub") >= len(resolved)
    (problem,) = quotas.quota_problems(tmp_path)
    assert problem.startswith(f"Roles: role {shared}'s inline policies would add up to ") and "(3 policies" in problem


def test_a_role_named_in_a_way_the_check_cannot_follow_is_a_problem_not_skipped(tmp_path):
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "S", env=ENV)
    role = iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    policy = iam.Policy(stack, "P", roles=[role], statements=[iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"])])
    condition = cdk.CfnCondition(stack, "Always", expression=cdk.Fn.condition_equals("a", "a"))
    cfn = policy.node.default_child
    assert isinstance(cfn, iam.CfnPolicy)
    cfn.add_property_override("Roles", [cdk.Fn.condition_if(condition.logical_id, role.role_name, role.role_name)])
    app.synth()
    (problem,) = quotas.quota_problems(tmp_path)
    assert problem.startswith("S: policy P") and "which the quota check cannot follow to its role" in problem
