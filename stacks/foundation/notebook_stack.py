"""Notebook instances: the data scientist's workbench, declared per environment."""

from __future__ import annotations

from aws_cdk import Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

import naming
from config import EnvironmentConfig
from notebook_lifecycle import SdkDefaults
from stacks.contracts import DataExports, Workloads
from stacks.foundation.notebook import LifecycleNotebook


class NotebookStack(Stack):
    """One LifecycleNotebook per entry of the environment's `notebooks` list."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        env_config: EnvironmentConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        role: iam.IRole,
        key: kms.IKey,
        experiments_role: iam.IRole,
        workloads: Workloads,
        data: DataExports,
        **kwargs,
    ) -> None:
        """``experiments_role``, ``workloads``, ``data``: what jobs started from a notebook must use (the notebooks role
        allows no other), written as the SageMaker Python SDK's defaults on each instance."""
        super().__init__(scope, id_, **kwargs)
        artifacts = s3.Bucket.from_bucket_arn(self, "ModelArtifacts", Fn.import_value(data.model_artifacts_bucket_arn))
        sdk_defaults = SdkDefaults(
            bucket=artifacts.bucket_name, role_arn=experiments_role.role_arn, subnet_ids=tuple(workloads.subnet_ids),
            security_group_id=workloads.security_group.security_group_id, kms_key_arn=key.key_arn,
        )
        self.notebooks: dict[str, LifecycleNotebook] = {}
        for notebook in env_config.notebooks:
            (subnet,) = vpc.select_subnets(
                subnet_group_name=subnets.subnet_group_name, availability_zones=[env_config.notebook_zone(notebook)]
            ).subnets
            self.notebooks[notebook.name] = LifecycleNotebook(
                self,
                _construct_id(notebook.name),
                instance_name=naming.notebook_instance_name(env_config.name, notebook.name),
                notebook=notebook,
                role=role,
                vpc=vpc,
                subnet=subnet,
                key=key,
                sdk_defaults=sdk_defaults,
            )


def _construct_id(name: str) -> str:
    return naming.pascal_case(name) or "Notebook"
