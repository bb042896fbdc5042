"""Pipeline definitions for tests: stand-in deploy-time values and dev's pipeline config with changes."""

from __future__ import annotations

from typing import Any

from config import load_environment
from config.environment import ModelConfig
from stacks.training.pipeline_definition import PipelineResources
from tests.helpers.configs import EXAMPLE
from tests.helpers.paths import CONFIG_DIR

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#: What the stack would pass as CDK tokens, as plain strings.
RESOURCES = PipelineResources(
    env_name="dev",
    model_name=EXAMPLE,
    config_file="config/dev.yaml",
    input_uri=f"s3://dev-raw/{EXAMPLE}/Caravan.csv",
    allowed_inputs=(f"s3://dev-raw/{EXAMPLE}/",),
    image_uri="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
    debugger_image_uri="503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rules:latest",
    jobs_role_arn="arn:aws:iam::123456789012:role/dev-jobs",
    artifacts_bucket="dev-artifacts",
    kms_key_arn=KEY,
    code_uri="s3://cdk-assets/abc123.tar.gz",
    code_file="abc123.tar.gz",
    gate_function_arn="arn:aws:lambda:us-east-1:123456789012:function:gate",
    model_package_group=f"dev-{EXAMPLE}",
    subnet_ids=["subnet-0a", "subnet-0b"],
    security_group_ids=["sg-0123"],
)


def pipeline(**changes: Any) -> ModelConfig:
    """The example model's config in dev with nested changes, e.g. pipeline(training={"instance_count": 2})."""
    data = load_environment(CONFIG_DIR / "dev.yaml").models[EXAMPLE].model_dump()
    for key, value in changes.items():
        if isinstance(value, dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return ModelConfig.model_validate(data, strict=False)
