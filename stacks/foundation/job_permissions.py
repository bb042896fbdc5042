"""Who may start SageMaker jobs, and on what terms: shared by the notebooks role (experiments) and each model's
pipeline role (stacks/training/training_pipeline_stack.py)."""

from __future__ import annotations

import re

from stacks.contracts import Workloads
from stacks.foundation.execution_role import SageMakerExecutionRole

JOB_KINDS = ("ProcessingJob", "TrainingJob", "TransformJob", "HyperParameterTuningJob")
#: ARN resource types of those jobs: ProcessingJob -> processing-job, ...
JOB_RESOURCE_TYPES = tuple(re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower() for kind in JOB_KINDS)
#: Jobs that take a VpcConfig; callers may create them only inside the platform VPC.
VPC_JOB_CREATE_ACTIONS = [f"sagemaker:Create{kind}" for kind in JOB_KINDS if kind != "TransformJob"]
JOB_FOLLOW_UP_ACTIONS = [f"sagemaker:{verb}{kind}" for kind in JOB_KINDS for verb in ("Describe", "Stop")] + [
    "sagemaker:AddTags",
    "sagemaker:ListTrainingJobsForHyperParameterTuningJob",  # a tuning step reads its best training job
]
JOB_NAMES_REASON = (
    "job names are chosen per run (by the pipeline or the data scientist); scoped to job resource "
    "types in this account and region."
)


def key_conditions(key_arn: str) -> dict:
    """A job's output must be encrypted with this key, and its volumes too where it names a volume key."""
    return {"ArnEquals": {"sagemaker:OutputKmsKeyArn": key_arn}, "ArnEqualsIfExists": {"sagemaker:VolumeKmsKeyArn": key_arn}}


def in_platform_vpc(workloads: Workloads) -> dict:
    """A job (or model) that names the platform's workload subnets and security group, and nothing else."""
    return {
        "Null": {"sagemaker:VpcSubnets": "false", "sagemaker:VpcSecurityGroupIds": "false"},
        "ForAllValues:StringEquals": {
            "sagemaker:VpcSubnets": workloads.subnet_ids,
            "sagemaker:VpcSecurityGroupIds": [workloads.security_group.security_group_id],
        },
    }


def encrypted_in_platform_vpc(workloads: Workloads, key_arn: str) -> dict:
    """Jobs in the platform VPC, with traffic between their instances encrypted and their output encrypted with the data
    key (a job that asks otherwise is denied). The volume key is checked only when the job names one: instance types
    with local NVMe storage refuse a volume key. sagemaker:OutputKmsKeyArn and sagemaker:VolumeKmsKeyArn are condition
    keys of the four Create*Job actions, compared with the key's ARN ("Actions, resources, and condition keys for
    Amazon SageMaker", Service Authorization Reference)."""
    return {**in_platform_vpc(workloads), **key_conditions(key_arn), "Bool": {"sagemaker:InterContainerTrafficEncryption": "true"}}


def job_resources(role: SageMakerExecutionRole) -> list[str]:
    """Every job resource type, in the role's stack's account and region."""
    return [role.arn("sagemaker", f"{kind}/*") for kind in JOB_RESOURCE_TYPES]
