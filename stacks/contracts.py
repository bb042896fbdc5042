"""What one stack hands another: the cross-stack contracts of an environment.

Stacks depend on these types, not on each other's modules: the network stack builds a
Workloads, the data stack publishes the exports a DataExports names, and the roles,
training and serving stacks consume both. CDK types only; names come from `naming`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

import naming

#: Subnet group of the private subnets that notebooks, jobs and endpoints run in.
WORKLOADS = "Workloads"


@dataclass(frozen=True)
class Workloads:
    """Where jobs, endpoints and the evaluation gate run: the VPC's Workloads subnets and security group."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    security_group: ec2.ISecurityGroup

    @property
    def subnet_ids(self) -> list[str]:
        return self.vpc.select_subnets(subnet_group_name=self.subnets.subnet_group_name).subnet_ids


@dataclass(frozen=True)
class DataExports:
    """Export names other stacks import. Stable names make the contract explicit and keep
    the IAM findings that mention these resources predictable enough to review."""

    key_arn: str
    raw_data_bucket_arn: str
    model_artifacts_bucket_arn: str

    def import_buckets(self, scope: Construct, key: kms.IKey | None) -> tuple[s3.IBucket, s3.IBucket]:
        """(raw data, model artifacts) in another stack, by export name, with the key their grants need."""
        raw, artifacts = (
            s3.Bucket.from_bucket_attributes(scope, id_, bucket_arn=Fn.import_value(export), encryption_key=key)
            for id_, export in (("RawData", self.raw_data_bucket_arn), ("ModelArtifacts", self.model_artifacts_bucket_arn))
        )
        return raw, artifacts

    @classmethod
    def for_environment(cls, env_name: str) -> DataExports:
        return cls(
            key_arn=naming.data_key_export(env_name),
            raw_data_bucket_arn=naming.raw_data_bucket_export(env_name),
            model_artifacts_bucket_arn=naming.model_artifacts_bucket_export(env_name),
        )
