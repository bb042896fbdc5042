"""Stateful data layer: the customer-managed key, the data lake's buckets, the model registry and, where the
environment tracks its runs, the MLflow tracking server (whose run history is data too).

Kept in its own stack so that compute stacks can be replaced freely while data,
whose logical IDs are pinned by tests, stays put.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, CfnResource, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

import naming
from config import ConfigError, EnvironmentConfig
from stacks.contracts import DataExports
from stacks.foundation.tracking_server import MlflowTrackingServer
from stacks.shared.compliance import acknowledge
from stacks.shared.log_retention import allow_cloudwatch_logs
from stacks.shared.removal import key_pending_window, stateful_removal_policy
from stacks.shared.secure_bucket import SecureBucket, access_logs_bucket


class DataStack(Stack):
    """KMS key with rotation; raw-data, model-artifact and access-log buckets; the model registry groups; the MLflow
    tracking server when the environment tracks its runs."""

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
            pending_window=key_pending_window(removal),
        )
        self.key.add_alias(naming.data_key_alias(env_config.name))
        # The key's id is imported only by the optional Notebooks stack, which `notebooks: []` leaves out of the app but
        # not out of the account: keep exporting it, or this first stack's update fails ("in use by <env>-Notebooks").
        self.export_value(self.key.key_id)
        # CloudWatch Logs encrypts VPC flow logs (and later job logs) with this key. The
        # encryption context pins use to log groups of this account and region.
        allow_cloudwatch_logs(self.key)

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
        replication = env_config.data.replication
        self.model_artifacts_bucket = SecureBucket(
            self, "ModelArtifacts", replicated=replication is not None, **bucket_props).bucket
        if replication:
            self.replicate_model_artifacts(env_config.name, replication.region)

        # Registered model versions are the record of what may be deployed: stateful, kept with the data,
        # one group per model of the catalog. A model removed from the config leaves this stack's template;
        # a retained group stays in the account (see docs/configuration.md, "Removing a model").
        # Each group's logical ID is its registry_id (a config value, so that a group deployed under another ID can be
        # adopted): the constructs live in a scope of their own, where no other construct's name can clash with it.
        self.model_package_groups: dict[str, sagemaker.CfnModelPackageGroup] = {}
        registries = Construct(self, "Registries")
        for model in env_config.models.values():
            group = sagemaker.CfnModelPackageGroup(
                registries,
                model.registry_id,
                model_package_group_name=naming.model_package_group_name(env_config.name, model.name),
                model_package_group_description=f"{env_config.name}: {model.registry_description}",
            )
            group.override_logical_id(model.registry_id)
            group.apply_removal_policy(removal)
            self.model_package_groups[model.name] = group

        # The environment's MLflow tracking server: its artifact store is this stack's bucket and key.
        self.tracking_server = None
        if env_config.tracking.enabled:
            self.tracking_server = MlflowTrackingServer(
                self, "Tracking", env_name=env_config.name, config=env_config.tracking,
                bucket=self.model_artifacts_bucket, key=self.key, removal_policy=removal,
            )
            CfnOutput(self, "MlflowTrackingServerArn", value=self.tracking_server.arn)

        self._check_registry_ids(env_config)
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

    def _check_registry_ids(self, cfg: EnvironmentConfig) -> None:
        """A registry_logical_id that another resource of this stack has would stop the synth with CDK's
        SectionAlreadyContains: say which model and resource instead."""
        groups = {self.resolve(g.logical_id): name for name, g in self.model_package_groups.items()}
        problems = [
            f"{cfg.source_file}: models.{groups[logical_id]}.registry_logical_id: {logical_id!r} is the logical ID of "
            f"{resource.node.path} in {cfg.name}-{naming.DATA_STACK} too (allowed: an ID no other resource of that stack has)"
            for resource in self.node.find_all() if isinstance(resource, CfnResource)
            and resource not in self.model_package_groups.values()
            and (logical_id := self.resolve(resource.logical_id)) in groups
        ]
        # CDK adds its metadata resource at synth, after this check can see it.
        problems += [f"{cfg.source_file}: models.{name}.registry_logical_id: 'CDKMetadata' is the logical ID of CDK's own "
                     f"metadata resource in {cfg.name}-{naming.DATA_STACK} (allowed: an ID no other resource of that stack has)"
                     for logical_id, name in groups.items() if logical_id == "CDKMetadata"]
        if problems:
            raise ConfigError(problems)

    def replicate_model_artifacts(self, env_name: str, replica_region: str) -> None:
        """Replicate every new model artifact (SSE-KMS objects included) to the replica bucket of
        <env>-DataReplica, re-encrypted there with the replica's own key (named by alias: S3 accepts an alias
        ARN as ReplicaKmsKeyID, and no cross-region reference is needed)."""
        source = self.model_artifacts_bucket
        replica_bucket = f"arn:{self.partition}:s3:::{naming.replica_bucket_name(env_name, self.account, replica_region)}"
        replica_alias = f"arn:{self.partition}:kms:{replica_region}:{self.account}:{naming.replica_key_alias(env_name)}"
        role = iam.Role(self, "ReplicationRole", assumed_by=iam.ServicePrincipal("s3.amazonaws.com"),
                        description=f"{env_name}: S3 replication of the model artifacts to {replica_region}")
        policy = iam.Policy(self, "ReplicationPolicy", roles=[role], statements=[
            iam.PolicyStatement(sid="ReadReplicationConfiguration", actions=["s3:GetReplicationConfiguration", "s3:ListBucket"],
                                resources=[source.bucket_arn]),
            iam.PolicyStatement(sid="ReadSourceVersions", resources=[source.arn_for_objects("*")], actions=[
                "s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"]),
            iam.PolicyStatement(sid="WriteReplicas", resources=[f"{replica_bucket}/*"],
                                actions=["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]),
            iam.PolicyStatement(sid="DecryptSourceObjects", actions=["kms:Decrypt"], resources=[self.key.key_arn],
                                conditions={"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}}),
            # The replica key is known here by its alias only (its id is another region's stack's): keys of that
            # region, through S3 there, and only the one with the replica alias. kms:ResourceAliases is a condition key
            # of KMS's key resource type, which kms:Encrypt and kms:GenerateDataKey act on (Service Authorization
            # Reference, "Actions, resources, and condition keys for AWS Key Management Service").
            iam.PolicyStatement(
                sid="EncryptReplicas", actions=["kms:Encrypt", "kms:GenerateDataKey"],
                resources=[f"arn:{self.partition}:kms:{replica_region}:{self.account}:key/*"],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{replica_region}.amazonaws.com"},
                            "ForAnyValue:StringEquals": {"kms:ResourceAliases": naming.replica_key_alias(env_name)}},
            ),
        ])
        acknowledge(
            policy,
            "Replication reads every object version of the source bucket and writes its replicas; the replica key is "
            "addressed by its alias from another region, so by key/* there, limited to the key with that alias "
            "(kms:ResourceAliases), through S3 only (kms:ViaService).",
            f"AwsSolutions-IAM5[Resource::<{self.get_logical_id(source.node.default_child)}.Arn>/*]",
            f"AwsSolutions-IAM5[Resource::{replica_bucket}/*]",
            f"AwsSolutions-IAM5[Resource::arn:{self.partition}:kms:{replica_region}:{self.account}:key/*]",
        )
        acknowledge(
            policy,
            "Policy for the replication role only, created and deleted with this data stack next to the rule it serves; "
            "it is not shared between roles, which is what the rule guards against.",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        cfn_bucket = source.node.default_child
        cfn_bucket.replication_configuration = s3.CfnBucket.ReplicationConfigurationProperty(
            role=role.role_arn,
            rules=[s3.CfnBucket.ReplicationRuleProperty(
                id="disaster-recovery", status="Enabled", priority=1,
                filter=s3.CfnBucket.ReplicationRuleFilterProperty(prefix=""),
                delete_marker_replication=s3.CfnBucket.DeleteMarkerReplicationProperty(status="Disabled"),
                source_selection_criteria=s3.CfnBucket.SourceSelectionCriteriaProperty(
                    sse_kms_encrypted_objects=s3.CfnBucket.SseKmsEncryptedObjectsProperty(status="Enabled")),
                destination=s3.CfnBucket.ReplicationDestinationProperty(
                    bucket=replica_bucket,
                    encryption_configuration=s3.CfnBucket.EncryptionConfigurationProperty(replica_kms_key_id=replica_alias)),
            )],
        )
        # No DependsOn the policy: it names the bucket's ARN (a cycle). S3 checks the role when it replicates,
        # not when the rule is set; the policy is in place before the first object replicates.
