"""The evaluation gate: a Lambda function in the platform VPC that decides promote/reject.

Its role reads evaluation reports from the artifacts bucket and lists/describes model
packages of one registry group, and nothing else; logs go to a KMS-encrypted group with
a retention period. Where the environment tracks its runs, the function is told the MLflow
tracking server and its model's experiment (MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME) and
may find the execution's run and tag it with its decision (reached through the VPC's SageMaker
Experiments endpoint: it runs in the workload subnets).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.contracts import Workloads
from stacks.shared.compliance import acknowledge
from stacks.shared.log_retention import retention_days
from stacks.shared.tracking_access import GATE_ACTIONS, log_to_tracking_server

CODE = Path(__file__).resolve().parents[2] / "lambda" / "evaluation_gate"


@dataclass(frozen=True)
class Tracking:
    """Where a model's runs are logged: the environment's tracking server and the model's experiment."""

    env_name: str
    #: MLFLOW_TRACKING_URI: the server's ARN, which the sagemaker-mlflow plugin takes as the tracking URI.
    server_arn: str
    experiment_name: str

    @property
    def environment(self) -> dict[str, str]:
        return {"MLFLOW_TRACKING_URI": self.server_arn, "MLFLOW_EXPERIMENT_NAME": self.experiment_name}


class EvaluationGate(Construct):
    """The Lambda function a pipeline's gate step calls, with a role that reads only reports and one registry group."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        artifacts: s3.IBucket,
        artifacts_export: str,
        log_key: kms.IKey,
        log_retention_days: int,
        log_removal_policy: RemovalPolicy,
        model_package_group: str,
        runs_prefix: str,
        workloads: Workloads,
        dead_letter_queue: bool = False,
        reserved_concurrency: int | None = None,
        tracking: Tracking | None = None,
    ) -> None:
        """``tracking``: the environment's MLflow tracking server and this model's experiment, when it has one."""
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.log_group = logs.LogGroup(
            self, "Logs", encryption_key=log_key, retention=retention_days(log_retention_days),
            removal_policy=log_removal_policy,
        )
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Evaluation gate: read evaluation reports and the model registry",
        )
        self.dead_letter_queue = None
        if dead_letter_queue:
            self.dead_letter_queue = sqs.Queue(
                self, "DeadLetters", encryption=sqs.QueueEncryption.KMS, encryption_master_key=log_key,
                enforce_ssl=True, retention_period=Duration.days(14), removal_policy=log_removal_policy,
            )
            acknowledge(
                self.dead_letter_queue,
                "This queue is the gate function's dead-letter queue; a dead-letter queue of its own would "
                "only hold what this one already holds.",
                "AwsSolutions-SQS3",
            )
        self.function = lambda_.Function(
            self,
            "Function",
            description="Promote or reject a trained model from its evaluation report and the approved champion",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(CODE), exclude=["__pycache__", "*.pyc"]),
            role=self.role,
            # With tracking, the first call of a fresh instance installs MLflow's client (handler.py: up to 90 s).
            timeout=Duration.seconds(180 if tracking else 60),
            memory_size=512 if tracking else 256,
            log_group=self.log_group,
            vpc=workloads.vpc,
            vpc_subnets=workloads.subnets,
            security_groups=[workloads.security_group],
            dead_letter_queue=self.dead_letter_queue,
            reserved_concurrent_executions=reserved_concurrency,
            environment=tracking.environment if tracking else None,
        )
        self.log_group.grant_write(self.role)
        # Its own model's runs only (pipelines/<env>/<model>/...): another model's reports are not its business.
        artifacts.grant_read(self.role, f"{runs_prefix}/*")
        group_arn = stack.format_arn(service="sagemaker", resource="model-package-group", resource_name=model_package_group)
        packages_arn = stack.format_arn(service="sagemaker", resource="model-package", resource_name=f"{model_package_group}/*")
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadChampionFromRegistry",
                actions=["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"],
                resources=[group_arn, packages_arn],
            )
        )
        # A List call names no resource (the Service Authorization Reference gives ListModelPackages no
        # required resource type): granted on one group's ARNs it is denied, and the gate would reject every model.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(sid="ListRegisteredVersions", actions=["sagemaker:ListModelPackages"], resources=["*"])
        )
        if tracking:
            # Find this execution's run in the model's experiment and tag it with the decision: the one server only.
            self.role.add_to_principal_policy(
                log_to_tracking_server(self, tracking.env_name, GATE_ACTIONS, sid="TagRunsOnTrackingServer"))
        # Lambda creates the function's network interfaces with this role (Lambda Developer Guide, "Giving Lambda
        # functions access to resources in an Amazon VPC": the execution role's permissions). Describe works only
        # on "*"; the others are held to this account and region, the narrowing the guide shows for
        # DeleteNetworkInterface ("arn:aws:ec2:us-west-2:123456789012:*/*"). No ec2:Vpc condition: Lambda checks
        # the role on network-interface/* before the interface, and so its VPC, exists. DescribeSubnets: AWS's managed
        # AWSLambdaVPCAccessExecutionRole lists it since its version 3 (2024-01-05), as Lambda now calls it.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(sid="FindNetworkInterfaces", actions=["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
                                resources=["*"])
        )
        in_this_account = stack.format_arn(service="ec2", resource="*", resource_name="*")
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AttachToPlatformVpc",
                actions=["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
                         "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
                resources=[in_this_account],
            )
        )
        if self.dead_letter_queue is not None:
            # Sending to a queue encrypted with a customer key needs GenerateDataKey too (SQS Developer Guide,
            # "Amazon SQS key management": the producer's permissions), not only what the log grant gives.
            self.role.add_to_principal_policy(iam.PolicyStatement(
                sid="EncryptDeadLetters", actions=["kms:GenerateDataKey"], resources=[log_key.key_arn]))
        # Function declares DependsOn its role and the role's policy; the GetAtt on the role already
        # orders the first (cfn-lint W3005). Keep only the policy: the ENI calls need it at creation.
        policy = self.role.node.find_child("DefaultPolicy").node.default_child
        self.function.node.default_child.add_override("DependsOn", [stack.get_logical_id(policy)])
        acknowledge(
            self.role,
            f"Read-only grant on evaluation reports under {runs_prefix}/ of the artifacts bucket (keys are per execution); "
            "model package versions get generated names inside the one named group; ec2:DescribeNetworkInterfaces and "
            "sagemaker:ListModelPackages support no resource-level permissions (read-only); the interfaces Lambda "
            "creates for the function get their IDs at run time and are held to this account and region.",
            "AwsSolutions-IAM5[Action::s3:GetObject*]",
            "AwsSolutions-IAM5[Action::s3:GetBucket*]",
            "AwsSolutions-IAM5[Action::s3:List*]",
            f"AwsSolutions-IAM5[Resource::{artifacts_export}/{runs_prefix}/*]",
            f"AwsSolutions-IAM5[Resource::{packages_arn}]",
            "AwsSolutions-IAM5[Resource::*]",
            f"AwsSolutions-IAM5[Resource::{in_this_account}]",
        )
        acknowledge(
            self.role,
            "Inline policy written by CDK grants for this one role only; created and deleted with the role.",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        if not dead_letter_queue:
            acknowledge(
                self.function,
                "Invoked synchronously by a SageMaker Pipelines Lambda step, which records the failure in the "
                "execution; a dead-letter queue only applies to asynchronous invocations (gate_function.dead_letter_queue).",
                "NIST.800.53.R5-LambdaDLQ",
            )
        if reserved_concurrency is None:
            acknowledge(
                self.function,
                "Runs once per pipeline execution; reserving concurrency would take from the account's unreserved "
                "pool (at least 10 must stay free, all a new account has); gate_function.reserved_concurrency sets it.",
                "NIST.800.53.R5-LambdaConcurrency",
            )
