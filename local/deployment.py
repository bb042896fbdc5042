"""Deploy a stage to the emulator with the real CDK CLI, and list what it created.

Shared by `make demo` and the integration test, so the demo is exactly what is tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import naming
from local.cdk_cli import bootstrap, deploy, destroy
from local.emulator import ACCOUNT, Emulator

#: CloudFormation types the inventory reports, with a short label each.
REPORTED_TYPES = {
    "AWS::KMS::Key": "KMS key",
    "AWS::S3::Bucket": "S3 bucket",
    "AWS::EC2::VPC": "VPC",
    "AWS::EC2::Subnet": "subnet",
    "AWS::EC2::VPCEndpoint": "VPC endpoint",
    "AWS::EC2::SecurityGroup": "security group",
    "AWS::Logs::LogGroup": "log group",
    "AWS::IAM::Role": "IAM role",
    "AWS::SageMaker::NotebookInstanceLifecycleConfig": "notebook lifecycle config",
    "AWS::SageMaker::NotebookInstance": "notebook instance",
    "AWS::SageMaker::ModelPackageGroup": "model package group",
    "AWS::SageMaker::Pipeline": "SageMaker pipeline",
    "AWS::Lambda::Function": "Lambda function",
    "AWS::SNS::Topic": "SNS topic",
    "AWS::Events::Rule": "EventBridge rule",
}


@dataclass
class StackInventory:
    """One deployed stack as CloudFormation reports it: status and resources by type."""

    name: str
    status: str
    resources: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # type -> [(logical, physical)]


def stage_stack_names(emulator: Emulator, env_name: str) -> list[str]:
    cfn = emulator.client("cloudformation")
    stacks = cfn.describe_stacks()["Stacks"]
    return sorted(s["StackName"] for s in stacks if s["StackName"].startswith(f"{env_name}-"))


def inventory(emulator: Emulator, env_name: str) -> list[StackInventory]:
    """What CloudFormation says each stack of the stage created."""
    cfn = emulator.client("cloudformation")
    result = []
    for name in stage_stack_names(emulator, env_name):
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        entry = StackInventory(name=name, status=stack["StackStatus"])
        paginator = cfn.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=name):
            for resource in page["StackResourceSummaries"]:
                entry.resources.setdefault(resource["ResourceType"], []).append(
                    (resource["LogicalResourceId"], resource.get("PhysicalResourceId", ""))
                )
        result.append(entry)
    return result


def deploy_stage(emulator: Emulator, env_name: str, *, capture: bool = True, cdk_out: Path | None = None,
                 config_dir: Path | None = None) -> None:
    """``cdk_out``: where the CLI writes the cloud assembly (default cdk.out); ``config_dir``: the environment
    files the app reads (default config/). Like `cdk deploy`, it deletes no stack the app no longer declares."""
    env = emulator.env()
    bootstrap(env, ACCOUNT, emulator.region, capture=capture, output=cdk_out, config_dir=config_dir)
    deploy(env, [naming.stage_selector(env_name)], capture=capture, output=cdk_out, config_dir=config_dir)


def destroy_stage(emulator: Emulator, env_name: str, *, capture: bool = True, cdk_out: Path | None = None,
                  config_dir: Path | None = None) -> None:
    destroy(emulator.env(), [naming.stage_selector(env_name)], capture=capture, output=cdk_out, config_dir=config_dir)


def format_inventory(stacks: list[StackInventory]) -> str:
    lines = []
    for stack in stacks:
        lines.append(f"{stack.name}  [{stack.status}]")
        for resource_type, label in REPORTED_TYPES.items():
            for logical, physical in sorted(stack.resources.get(resource_type, [])):
                lines.append(f"    {label:<26} {physical}  ({logical})")
    return "\n".join(lines)

