"""Notebook instances: the data scientist's workbench, declared per environment."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

import naming
from config import EnvironmentConfig
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
        **kwargs,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
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
            )


def _construct_id(name: str) -> str:
    return naming.pascal_case(name) or "Notebook"
