"""An S3 bucket with the data lake's non-negotiables built in."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.shared.compliance import acknowledge


def baseline_bucket_props(
    *,
    removal_policy: RemovalPolicy,
    noncurrent_version_expiration_days: int,
    abort_incomplete_upload_days: int,
    extra_lifecycle_rules: tuple[s3.LifecycleRule, ...] = (),
) -> dict:
    """What every bucket of the platform has, whatever its encryption: versioned, TLS 1.2+ only,
    public access blocked, ACLs off, old versions and stale uploads expired, and emptied on
    `cdk destroy` only where its data is disposable."""
    return dict(
        enforce_ssl=True,
        minimum_tls_version=1.2,
        versioned=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=[
            *extra_lifecycle_rules,
            s3.LifecycleRule(
                id="expire-noncurrent-versions",
                noncurrent_version_expiration=Duration.days(noncurrent_version_expiration_days),
            ),
            s3.LifecycleRule(
                id="abort-incomplete-uploads",
                abort_incomplete_multipart_upload_after=Duration.days(abort_incomplete_upload_days),
            ),
        ],
        removal_policy=removal_policy,
        auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
    )


class SecureBucket(Construct):
    """A data bucket: the baseline plus SSE-KMS with the customer key and server access logging.

    Lifecycle rules expire noncurrent versions and abort stale multipart uploads, so
    versioning protects against mistakes without growing storage forever.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        encryption_key: kms.IKey,
        access_logs: s3.IBucket,
        removal_policy: RemovalPolicy,
        noncurrent_version_expiration_days: int,
        abort_incomplete_upload_days: int,
        extra_lifecycle_rules: tuple[s3.LifecycleRule, ...] = (),
        replicated: bool = False,
        replication_reason: str | None = None,
        bucket_name: str | None = None,
    ) -> None:
        """``replicated``: the caller adds a replication rule (no acknowledgment then); ``replication_reason``:
        why this bucket is not replicated, when the default reason does not fit (a replica's own)."""
        super().__init__(scope, id_)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=encryption_key,
            # S3 Bucket Keys cut KMS request costs by orders of magnitude for large datasets.
            bucket_key_enabled=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=f"{id_.lower()}/",
            **baseline_bucket_props(
                removal_policy=removal_policy,
                noncurrent_version_expiration_days=noncurrent_version_expiration_days,
                abort_incomplete_upload_days=abort_incomplete_upload_days,
                extra_lifecycle_rules=extra_lifecycle_rules,
            ),
        )
        if not replicated:
            acknowledge(
                self.bucket,
                replication_reason or "Versioning with noncurrent-version retention guards against loss; cross-region "
                "replication is set per environment for the model artifacts (data.replication in its config).",
                "NIST.800.53.R5-S3BucketReplicationEnabled",
            )


def access_logs_bucket(
    scope: Construct,
    id_: str,
    *,
    removal_policy: RemovalPolicy,
    noncurrent_version_expiration_days: int,
    abort_incomplete_upload_days: int,
    expiration_days: int,
) -> s3.Bucket:
    """The target of SecureBuckets' server access logs: the baseline, SSE-S3, logs expired after expiration_days."""
    bucket = s3.Bucket(
        scope,
        id_,
        # S3 server access logging can only deliver to SSE-S3 buckets, not SSE-KMS.
        encryption=s3.BucketEncryption.S3_MANAGED,
        **baseline_bucket_props(
            removal_policy=removal_policy,
            noncurrent_version_expiration_days=noncurrent_version_expiration_days,
            abort_incomplete_upload_days=abort_incomplete_upload_days,
            extra_lifecycle_rules=(s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(expiration_days)),),
        ),
    )
    acknowledge(
        bucket,
        "This is the server-access-log target of the other buckets; logging it into itself would loop.",
        "AwsSolutions-S1",
        "NIST.800.53.R5-S3BucketLoggingEnabled",
    )
    acknowledge(
        bucket,
        "Replicating access logs to another region is not required: they are audit copies, versioned here.",
        "NIST.800.53.R5-S3BucketReplicationEnabled",
    )
    acknowledge(
        bucket,
        "S3 server access logging delivers only to SSE-S3 encrypted buckets; SSE-KMS targets are rejected.",
        "NIST.800.53.R5-S3DefaultEncryptionKMS",
    )
    return bucket
