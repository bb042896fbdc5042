"""A delivery pipeline config for tests: a tooling account that deploys the three shipped environments."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.helpers.configs import serving_config_dir

TOOLING = "111111111111"
ACCOUNTS = {"dev": "123456789012", "staging": "222222222222", "prod": "333333333333"}
CONNECTION = f"arn:aws:codeconnections:us-east-1:{TOOLING}:connection/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
DELIVERY = {
    "account": TOOLING,
    "region": "us-east-1",
    "repository": "my-org/sagemaker-platform",
    "branch": "main",
    "connection_arn": CONNECTION,
    "stages": [
        {"environment": "dev"},
        {"environment": "staging", "smoke_test": True},
        {"environment": "prod", "approval": True, "smoke_test": True},
    ],
    "log_retention_days": 90,  # not the default (365): the stack must take the file's value
}


def delivery_config_dir(target: Path, delivery: dict = DELIVERY, only: str | None = None) -> Path:
    """config/ with a model in every environment (so each declares an endpoint) and delivery.yaml.
    ``only``: just that environment and its stage (a third of the synth, for tests about one stage)."""
    serving_config_dir(target)
    if only:
        for path in target.glob("*.yaml"):
            if path.stem != only:
                path.unlink()
        delivery = {**delivery, "stages": [s for s in delivery["stages"] if s["environment"] == only]}
    (target / "delivery.yaml").write_text(yaml.safe_dump(delivery, sort_keys=False))
    return target


def pipeline_actions(pipeline: dict, name: str) -> list[dict]:
    """The actions of the pipeline's stage ``name`` (the CodePipeline resource's Properties)."""
    return next(s["Actions"] for s in pipeline["Stages"] if s["Name"] == name)


def deploy_actions(actions: list[dict]) -> list[dict]:
    return [a for a in actions if a["ActionTypeId"]["Provider"] == "CloudFormation"]


def pipeline_grant_and_lint_problems(out: Path) -> list[str]:
    """cfn-lint's findings on the Delivery template, and every grant CDK Pipelines wrote that is admin-like: a
    wildcard or IAM action, or an AWS-managed policy on a role. Empty when the pipeline is clean."""
    import json
    import subprocess
    import sys

    from tests.helpers.templates import resources

    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", "--",
                             str(out / "Delivery.template.json")], capture_output=True, text=True, timeout=300)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line] if result.returncode else []
    template = json.loads((out / "Delivery.template.json").read_text())
    for policy in [*resources(template, "AWS::IAM::Policy").values(), *resources(template, "AWS::IAM::ManagedPolicy").values()]:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            problems += [f"admin-like action {a} in {statement}" for a in actions if a == "*" or a.endswith(":*") or a.startswith("iam:")]
    problems += [f"role {role_id} has managed policies" for role_id, role in resources(template, "AWS::IAM::Role").items()
                 if "ManagedPolicyArns" in role["Properties"]]
    return problems


def pipeline_properties(out: Path) -> dict:
    """The CodePipeline resource's Properties in the Delivery template of the ``out`` assembly."""
    import json

    from tests.helpers.templates import resources

    (pipeline,) = resources(json.loads((out / "Delivery.template.json").read_text()), "AWS::CodePipeline::Pipeline").values()
    return pipeline["Properties"]
