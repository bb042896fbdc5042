"""Stateful data layer: the customer-managed key, the data lake's buckets and the model registry.

Kept in its own stack so that compute stacks can be replaced freely while data,
whose logical IDs are pinned by tests, stays put.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

import naming
from config import EnvironmentConfig
from stacks.contracts import DataExports
from stacks.shared.removal import stateful_removal_policy
from stacks.shared.secure_bucket import SecureBucket, access_logs_bucket


class DataStack(Stack):
    """KMS key with rotation; raw-data, model-artifact and access-log buckets; the model registry group."""

    def __init__(self, scope: Construct, id_: str, *, env_config: EnvironmentConfig, **kwargs) -> None:
        super().__init__(scope, id_, **kwargs)
        removal = stateful_removal_policy(env_config)
        data = env_config.data

        self.key = kms.Key(
            self,
            "DataKey",
            description=f"Encrypts the {env_config.name} SageMaker platform's data, volumes and logs",
            enable_key_rotation=True,
            removal_policy=removal,
            # Shortest window where data is disposable; the maximum where it is not.
            pending_window=Duration.days(7 if removal == RemovalPolicy.DESTROY else 30),
        )
        self.key.add_alias(naming.data_key_alias(env_config.name))
        # CloudWatch Logs encrypts VPC flow logs (and later job logs) with this key. The
        # encryption context pins use to log groups of this account and region.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsInThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": self.format_arn(
                            service="logs", resource="*", arn_format=ArnFormat.NO_RESOURCE_NAME
                        )
                    }
                },
            )
        )

        self.access_logs_bucket = access_logs_bucket(
            self,
            "AccessLogs",
            removal_policy=removal,
            noncurrent_version_expiration_days=data.noncurrent_version_expiration_days,
            abort_incomplete_upload_days=data.abort_incomplete_upload_days,
            expiration_days=data.access_log_expiration_days,
        )

        bucket_props = dict(
            encryption_key=self.key,
            access_logs=self.access_logs_bucket,
            removal_policy=removal,
            noncurrent_version_expiration_days=data.noncurrent_version_expiration_days,
            abort_incomplete_upload_days=data.abort_incomplete_upload_days,
        )
        self.raw_data_bucket = SecureBucket(self, "RawData", **bucket_props).bucket
        self.model_artifacts_bucket = SecureBucket(self, "ModelArtifacts", **bucket_props).bucket

        # Registered model versions are the record of what may be deployed: stateful, kept with the data,
        # one group per model of the catalog. A model removed from the config leaves this stack's template;
        # a retained group stays in the account (see docs/configuration.md, "Removing a model").
        self.model_package_groups: dict[str, sagemaker.CfnModelPackageGroup] = {}
        for model in env_config.models.values():
            group = sagemaker.CfnModelPackageGroup(
                self,
                model.registry_id,
                model_package_group_name=naming.model_package_group_name(env_config.name, model.name),
                model_package_group_description=f"{env_config.name}: {model.registry_description}",
            )
            group.apply_removal_policy(removal)
            self.model_package_groups[model.name] = group

        self.exports = DataExports.for_environment(env_config.name)
        CfnOutput(self, "DataKeyArn", value=self.key.key_arn, export_name=self.exports.key_arn)
        CfnOutput(
            self, "RawDataBucketArn", value=self.raw_data_bucket.bucket_arn,
            export_name=self.exports.raw_data_bucket_arn,
        )
        CfnOutput(
            self, "ModelArtifactsBucketArn", value=self.model_artifacts_bucket.bucket_arn,
            export_name=self.exports.model_artifacts_bucket_arn,
        )
        CfnOutput(self, "RawDataBucketName", value=self.raw_data_bucket.bucket_name)
        CfnOutput(self, "ModelArtifactsBucketName", value=self.model_artifacts_bucket.bucket_name)
