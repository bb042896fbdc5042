"""The disaster-recovery copy of an environment's model artifacts: a replica bucket in another region.

Deployed only when the environment's config sets data.replication.region. It holds its own KMS key
(alias naming.replica_key_alias) and the replica bucket (fixed name naming.replica_bucket_name), both
named so that the data stack's replication rule can address them from the source region without a
cross-region reference. Versioned, encrypted, TLS-only, access-logged like every data bucket.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

import naming
from config import EnvironmentConfig
from stacks.shared.removal import key_pending_window, stateful_removal_policy
from stacks.shared.secure_bucket import SecureBucket, access_logs_bucket


class DataReplicaStack(Stack):
    """The replica bucket of the model artifacts and its key, in the disaster-recovery region."""

    def __init__(self, scope: Construct, id_: str, *, env_config: EnvironmentConfig, **kwargs) -> None:
        super().__init__(scope, id_, **kwargs)
        removal = stateful_removal_policy(env_config)
        data = env_config.data
        self.key = kms.Key(
            self, "ReplicaKey", enable_key_rotation=True, removal_policy=removal,
            description=f"Encrypts the {env_config.name} model-artifact replica",
            pending_window=key_pending_window(removal),
        )
        self.key.add_alias(naming.replica_key_alias(env_config.name))
        logs = access_logs_bucket(
            self, "ReplicaAccessLogs", removal_policy=removal,
            noncurrent_version_expiration_days=data.noncurrent_version_expiration_days,
            abort_incomplete_upload_days=data.abort_incomplete_upload_days,
            expiration_days=data.access_log_expiration_days,
        )
        self.bucket = SecureBucket(
            self, "ModelArtifactsReplica",
            bucket_name=naming.replica_bucket_name(env_config.name, self.account, self.region),
            encryption_key=self.key, access_logs=logs, removal_policy=removal,
            noncurrent_version_expiration_days=data.noncurrent_version_expiration_days,
            abort_incomplete_upload_days=data.abort_incomplete_upload_days,
            replication_reason="This bucket is the cross-region replica of the model artifacts; replicating the "
                               "replica again would only add a third copy.",
        ).bucket
