"""A SageMaker notebook instance with its lifecycle configuration and security group."""

from __future__ import annotations

from aws_cdk import Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config import NotebookConfig
from notebook_lifecycle import SdkDefaults, render_on_create, render_on_start

#: Amazon Linux 2023 (AL2's notebook-al2-v3 left support on 2026-06-30); the lifecycle scripts are
#: written for it (systemd, no cron). The newest AL2023 platform that both SageMaker's API (botocore)
#: and CloudFormation's resource schema accept: botocore also lists notebook-al2023-v2, which
#: CloudFormation's schema does not take yet (tests/unit/test_notebooks.py watches both lists).
#: Create-only on AWS::SageMaker::NotebookInstance (CloudFormation's schema), and the instances are named: changing
#: it fails every deployed notebook's update unless the notebook is renamed or removed first.
PLATFORM_IDENTIFIER = "notebook-al2023-v1"


class LifecycleNotebook(Construct):
    """Private, locked-down notebook: no direct internet, no root, IMDSv2, KMS-encrypted volume.

    The lifecycle scripts are real files (notebook_lifecycle/); on-start installs
    packages in the background and schedules the idle auto-stop.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        instance_name: str,
        notebook: NotebookConfig,
        role: iam.IRole,
        vpc: ec2.IVpc,
        subnet: ec2.ISubnet,
        key: kms.IKey,
        sdk_defaults: SdkDefaults | None = None,
    ) -> None:
        """``sdk_defaults``: the SageMaker Python SDK's defaults the on-start script writes for jobs started here."""
        super().__init__(scope, id_)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description=f"Notebook {instance_name}: no inbound; HTTPS out to VPC endpoints and package indexes",
            allow_all_outbound=False,
        )
        # HTTPS only: VPC endpoints inside the VPC, package indexes through the NAT gateway.
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS")

        self.lifecycle_config = sagemaker.CfnNotebookInstanceLifecycleConfig(
            self,
            "LifecycleConfig",
            on_create=[
                sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(
                    content=Fn.base64(render_on_create())
                )
            ],
            on_start=[
                sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(
                    content=Fn.base64(
                        render_on_start(idle_minutes=notebook.idle_minutes, packages=list(notebook.packages),
                                        sdk_defaults=sdk_defaults)
                    )
                )
            ],
        )
        self.instance = sagemaker.CfnNotebookInstance(
            self,
            "Instance",
            # A stable, human-facing name: people open notebooks by name in the console.
            notebook_instance_name=instance_name,
            instance_type=notebook.instance_type,
            role_arn=role.role_arn,
            subnet_id=subnet.subnet_id,
            security_group_ids=[self.security_group.security_group_id],
            kms_key_id=key.key_id,
            direct_internet_access="Disabled",
            root_access="Disabled",
            volume_size_in_gb=notebook.volume_size_gb,
            platform_identifier=PLATFORM_IDENTIFIER,
            lifecycle_config_name=self.lifecycle_config.attr_notebook_instance_lifecycle_config_name,
            instance_metadata_service_configuration=sagemaker.CfnNotebookInstance.InstanceMetadataServiceConfigurationProperty(
                minimum_instance_metadata_service_version="2"
            ),
        )
