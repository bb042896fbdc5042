"""Stateful data layer: the customer-managed key, the data lake's buckets and the model registry.

Kept in its own stack so that compute stacks can be replaced freely while data,
whose logical IDs are pinned by tests, stays put.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, CfnOutput, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config import EnvironmentConfig
from stacks.components.removal import stateful_removal_policy
from stacks.components.secure_bucket import SecureBucket, access_logs_bucket


@dataclass(frozen=True)
class DataExports:
    """Export names other stacks import. Stable names make the contract explicit and keep
    the IAM findings that mention these resources predictable enough to review."""

    key_arn: str
    raw_data_bucket_arn: str
    model_artifacts_bucket_arn: str

    def import_buckets(self, scope: Construct, key: kms.IKey | None) -> tuple[s3.IBucket, s3.IBucket]:
        """(raw data, model artifacts) in another stack, by export name, with the key their grants need."""
        return tuple(
            s3.Bucket.from_bucket_attributes(scope, id_, bucket_arn=Fn.import_value(export), encryption_key=key)
            for id_, export in (("RawData", self.raw_data_bucket_arn), ("ModelArtifacts", self.model_artifacts_bucket_arn))
        )

    @classmethod
    def for_environment(cls, env_name: str) -> DataExports:
        prefix = f"sagemaker-platform-{env_name}"
        return cls(
            key_arn=f"{prefix}-data-key-arn",
            raw_data_bucket_arn=f"{prefix}-raw-data-bucket-arn",
            model_artifacts_bucket_arn=f"{prefix}-model-artifacts-bucket-arn",
        )


def model_package_group_name(env_name: str) -> str:
    """The registry group every pipeline run of an environment registers into."""
    return f"{env_name}-direct-marketing"


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
        self.key.add_alias(f"alias/sagemaker-platform/{env_config.name}/data")
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

        # Registered model versions are the record of what may be deployed: stateful, kept with the data.
        self.model_package_group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=model_package_group_name(env_config.name),
            model_package_group_description=f"{env_config.name}: XGBoost direct-marketing response models",
        )
        self.model_package_group.apply_removal_policy(removal)

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
