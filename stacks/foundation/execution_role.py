"""A SageMaker execution role and the statement sets that roles share.

Each helper grants one narrowly-scoped capability; roles are composed from them so
every role carries only what its workload does.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from catalog.images import repository
from stacks.shared.compliance import acknowledge

#: What pulling an image takes, besides ecr:GetAuthorizationToken.
PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
#: The wildcards of CDK's bucket grant sets, as cdk-nag names them.
READ_GRANT = ("Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*")
WRITE_GRANT = ("Action::s3:DeleteObject*", "Action::s3:Abort*")
KMS_GRANT = ("Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*")


class SageMakerExecutionRole(Construct):
    """An IAM role for SageMaker, guarded against the confused deputy where SageMaker supports it.

    SageMaker sends aws:SourceAccount when it assumes roles for training, processing, pipelines,
    inference and batch transform; its confused-deputy guide does not list notebook instances,
    and a condition on a key that is never sent would stop the notebook from starting. For Studio
    (``studio=True``) the guide gives one form only: aws:SourceArn ArnLike
    arn:<partition>:sagemaker:<region>:<account>:*, whose asterisk "does not stand for wildcard and should
    not be changed" (SageMaker Developer Guide, "Cross-service confused deputy prevention", SageMaker Studio).
    """

    def __init__(self, scope: Construct, id_: str, *, description: str, source_account_condition: bool = True,
                 studio: bool = False, role_name: str | None = None) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        principal = iam.ServicePrincipal("sagemaker.amazonaws.com")
        if studio:
            principal = principal.with_conditions(
                {"ArnLike": {"aws:SourceArn": f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:*"}})
        elif source_account_condition:
            principal = principal.with_conditions({"StringEquals": {"aws:SourceAccount": stack.account}})
        self.role = iam.Role(self, "Role", description=description, assumed_by=principal, role_name=role_name)

    def default_policy(self) -> iam.Policy:
        """The policy CDK writes for the role's statements, for a resource to depend on: a SageMaker resource names the
        role itself, and would otherwise be created before the role may do anything."""
        policy = self.role.node.try_find_child("DefaultPolicy")
        if not isinstance(policy, iam.Policy):
            raise TypeError(f"{self.role.node.path} has no statements, so CDK wrote no DefaultPolicy to depend on")
        return policy

    def arn(self, service: str, resource: str) -> str:
        """ARN in this stack's partition, region and account, e.g. arn("sagemaker", "training-job/*")."""
        return Stack.of(self).format_arn(service=service, resource=resource, arn_format=ArnFormat.NO_RESOURCE_NAME)

    def allow(
        self,
        sid: str,
        actions: list[str],
        resources: list[str],
        conditions: dict | None = None,
        *,
        wildcard_reason: str | None = None,
        token_wildcards: tuple[str, ...] = (),
    ) -> None:
        """Add one statement; any wildcard in it must come with the reason it cannot be narrower. A wildcard in a
        resource built from a token (an import, another resource's attribute) is named in ``token_wildcards`` as
        cdk-nag shows it: ``<export name>/prefix/*`` or ``...:space/<Domain.DomainId>/team-*``."""
        self.role.add_to_principal_policy(
            iam.PolicyStatement(sid=sid, actions=actions, resources=resources, conditions=conditions)
        )
        wildcards = [f"Action::{a}" for a in actions if "*" in a] + [
            f"Resource::{r}" for r in resources if not Token.is_unresolved(r) and "*" in r
        ] + [f"Resource::{r}" for r in token_wildcards]
        if wildcards and not wildcard_reason:
            raise ValueError(f"statement {sid} has wildcards {wildcards} but no wildcard_reason")
        if wildcards:
            acknowledge(self.role, f"{sid}: {wildcard_reason}", *(f"AwsSolutions-IAM5[{w}]" for w in wildcards))

    def grant_writes_under(self, bucket: s3.IBucket, export: str, patterns: list[str], *, read_whole_bucket: bool) -> None:
        """Read-write under each key pattern of the bucket exported as ``export`` (and read all of it with
        read_whole_bucket), acknowledging the wildcards of CDK's grant sets: the keys under them are chosen per run."""
        if read_whole_bucket:
            bucket.grant_read(self.role)
        for pattern in patterns:
            bucket.grant_read_write(self.role, pattern)
        self.acknowledge_grant_wildcards(
            (f"Bucket.grant_read() on the one bucket exported as {export} and grant_read_write() under " if read_whole_bucket
             else f"Bucket.grant_read_write() of the one bucket exported as {export} under ")
            + f"{' and '.join(patterns)} only (object keys are data, chosen per run; the action wildcards are CDK's grant "
            "sets); with KMS data-key use on the data key only.",
            *READ_GRANT, *WRITE_GRANT, *KMS_GRANT,
            *(f"Resource::{export}/{pattern}" for pattern in (["*"] if read_whole_bucket else []) + patterns),
        )

    def acknowledge_grant_wildcards(self, reason: str, *findings: str) -> None:
        """Acknowledge the wildcards a CDK grant_*() call writes, e.g. 'Action::s3:GetObject*'."""
        acknowledge(self.role, reason, *(f"AwsSolutions-IAM5[{f}]" for f in findings))

    def allow_log_groups(self, *groups: str) -> None:
        """Write (and read) only the SageMaker log groups this workload produces."""
        self.allow(
            "WriteOwnLogGroups",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams",
             "logs:GetLogEvents"],
            [self.arn("logs", f"log-group:/aws/sagemaker/{g}:*") for g in groups],
            wildcard_reason="log stream names (and each endpoint's own log group under Endpoints/) are "
            "chosen by SageMaker at run time; everything stays under the named /aws/sagemaker/ groups.",
        )

    def allow_sagemaker_metrics(self) -> None:
        # PutMetricData has no resource type; the namespace condition is its only scope.
        self.allow(
            "PublishSageMakerMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
            wildcard_reason="cloudwatch:PutMetricData supports no resource-level permissions; the namespace "
            "condition limits it to SageMaker's metrics.",
        )

    def allow_image_pull(self, *images: str, own_account: bool = False) -> None:
        """Pull the images this role's jobs or models run. SageMaker pulls a job's or a model's image as its execution
        role, AWS's own images too: an endpoint whose role lacks it fails with "The role ... does not have
        BatchGetImage permission for the image: '763104351884.dkr.ecr...'" (aws/deep-learning-containers#759), and
        the SageMaker Developer Guide's execution-role policies grant the pull ("How to use SageMaker execution roles",
        sagemaker-roles.html). So: each named image's repository, in AWS's registry account for the region, and with
        ``own_account`` any repository of this account (images a notebook's experiments build)."""
        self.allow(
            "EcrAuthToken", ["ecr:GetAuthorizationToken"], ["*"],
            wildcard_reason="ecr:GetAuthorizationToken supports no resource-level permissions.",
        )
        stack = Stack.of(self)
        repositories = sorted({stack.format_arn(service="ecr", account=account, region=region, resource="repository",
                                                resource_name=name) for account, region, name in map(repository, images)})
        if repositories:
            self.allow("PullSageMakerImages", PULL_ACTIONS, repositories)
        if own_account:
            self.allow(
                "PullOwnAccountImages", PULL_ACTIONS, [self.arn("ecr", "repository/*")],
                wildcard_reason="images an experiment builds may live in any repository of this account and region; "
                "pull-only actions, no push.",
            )

    def allow_vpc_networking(self, vpc: ec2.IVpc) -> None:
        """What SageMaker needs to attach a job or endpoint to our VPC, and nothing elsewhere."""
        self.allow(
            "DescribeNetwork",
            ["ec2:DescribeVpcs", "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
             "ec2:DescribeNetworkInterfaces"],
            ["*"],
            wildcard_reason="EC2 Describe* calls support no resource-level permissions; read-only.",
        )
        # CreateNetworkInterface is authorized on three resources (Service Authorization Reference): the new
        # interface, which has no ec2:Vpc key yet, and the subnet and security group, which do. One statement
        # with an ec2:Vpc condition on "*" would deny the interface itself: the VPC is held on the other two.
        self.allow(
            "CreateInterfaces",
            ["ec2:CreateNetworkInterface"],
            [self.arn("ec2", "network-interface/*")],
            wildcard_reason="SageMaker creates the network interfaces at run time, so their IDs are unknown; the "
            "subnet and security group they are created in are held to the platform VPC by the next statement.",
        )
        self.allow(
            "CreateInterfacesInPlatformVpc",
            ["ec2:CreateNetworkInterface"],
            [self.arn("ec2", "subnet/*"), self.arn("ec2", "security-group/*")],
            {"ArnEquals": {"ec2:Vpc": vpc.vpc_arn}},
            wildcard_reason="any subnet and security group of the platform VPC (the ec2:Vpc condition), in this "
            "account and region.",
        )
        self.allow(
            "ManageInterfacesInPlatformVpc",
            ["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface"],
            [self.arn("ec2", "network-interface/*")],
            {"ArnEquals": {"ec2:Vpc": vpc.vpc_arn}},
            wildcard_reason="SageMaker's network interfaces get their IDs at run time; the ec2:Vpc condition "
            "confines these calls to interfaces in the platform VPC.",
        )
        # DeleteNetworkInterfacePermission names a permission's id, not an interface: the Service Authorization
        # Reference gives it no required resource, so neither an interface ARN nor ec2:Vpc is in its request, and a
        # statement on network-interface/* under ec2:Vpc would never match (SageMaker's own execution-role policies
        # grant the EC2 calls on "*": "How to use SageMaker execution roles", sagemaker-roles.html).
        self.allow(
            "RemoveInterfacePermissions", ["ec2:DeleteNetworkInterfacePermission"], ["*"],
            wildcard_reason="ec2:DeleteNetworkInterfacePermission names a permission id, not an interface: no resource "
            "or VPC to scope it by (Service Authorization Reference).",
        )

    def allow_key_grants_for_aws_resources(self, key: kms.IKey) -> None:
        """Let SageMaker attach the data key to the volumes it creates for this role's work."""
        self.allow(
            "CreateGrantsForSageMakerVolumes",
            ["kms:CreateGrant"],
            [key.key_arn],
            {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        )
        # DescribeKey carries no kms:GrantIsForAWSResource key (Service Authorization Reference): under the
        # grant's condition it would always be denied.
        self.allow("DescribeDataKey", ["kms:DescribeKey"], [key.key_arn])

    def allow_pass_role(self, *roles: iam.IRole) -> None:
        """PassRole to exactly the given roles, and only to SageMaker."""
        self.allow(
            "PassExecutionRolesToSageMaker",
            ["iam:PassRole"],
            [r.role_arn for r in roles],
            {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
