"""The environment's MLflow tracking server (SageMaker managed MLflow) and the role it runs as.

AWS::SageMaker::MlflowTrackingServer: Ref is the server's name, Fn::GetAtt TrackingServerArn its ARN. Its
artifact store is the model-artifacts bucket under naming.MLFLOW_ARTIFACTS_PREFIX, so run artifacts are
encrypted with the data key (the bucket's SSE-KMS default) and kept, versioned and replicated as every other
artifact is. The server's role reads and writes only that prefix; with automatic model registration on it
may also create and update this environment's Model Registry groups and versions (the policy of AWS's
sagemaker_mlflow_setup.ipynb, aws/amazon-sagemaker-examples, scoped to <env>-* groups).

Clients (jobs, the gate, notebooks) reach the server through the VPC's SageMaker Experiments interface
endpoint (network_stack.py) and write artifacts to S3 themselves; their grants are in roles_stack.py and
evaluation_gate.py. A server runs, and is billed, continuously (SageMaker pricing: per hour by size).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

import naming
from config.tracking import TrackingConfig
from stacks.shared.compliance import acknowledge

#: WeeklyMaintenanceWindowStart (CloudFormation schema: ^(Mon|Tue|Wed|Thu|Fri|Sat|Sun):([01]\d|2[0-3]):([0-5]\d)$,
#: case-sensitive, UTC): Sunday night, when no scheduled training runs.
MAINTENANCE_WINDOW = "Sun:03:30"
#: What the server does with its Model Registry when automatic_model_registration is on (AWS's
#: sagemaker_mlflow_setup.ipynb policy for the tracking server role).
REGISTRY_ACTIONS = ["sagemaker:AddTags", "sagemaker:CreateModelPackageGroup", "sagemaker:CreateModelPackage",
                    "sagemaker:UpdateModelPackage", "sagemaker:DescribeModelPackageGroup"]


class MlflowTrackingServer(Construct):
    """One environment's tracking server; ``arn`` is what clients use as MLFLOW_TRACKING_URI."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        env_name: str,
        config: TrackingConfig,
        bucket: s3.IBucket,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        prefix = naming.MLFLOW_ARTIFACTS_PREFIX
        # The MLflow tracking server guide's trust policy names sagemaker.amazonaws.com alone; SageMaker's
        # confused-deputy guide does not list tracking servers among the callers that send aws:SourceAccount.
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{env_name}: the MLflow tracking server's artifact store (and registry, when it registers models)",
        )
        statements = [
            iam.PolicyStatement(sid="ReadWriteArtifacts", actions=["s3:GetObject", "s3:PutObject"],
                                resources=[bucket.arn_for_objects(f"{prefix}/*")]),
            # Listing the bucket, with no prefix condition: SageMaker checks the artifact store with this role when it
            # creates the server, and a HeadBucket (authorized as s3:ListBucket) carries no s3:prefix; AWS's own setup
            # (sagemaker_mlflow_setup.ipynb) grants s3:List* on the bucket. Keys only: objects are read under mlflow/.
            iam.PolicyStatement(sid="ListArtifacts", actions=["s3:ListBucket"], resources=[bucket.bucket_arn]),
            # Where the artifact store is: clients of S3 ask before they sign for the bucket's region (AWS's own
            # setup grants the server s3:Get* on the bucket; this is the one bucket-level read it needs).
            iam.PolicyStatement(sid="LocateArtifactStore", actions=["s3:GetBucketLocation"], resources=[bucket.bucket_arn]),
            # The bucket encrypts with the data key (SSE-KMS): reading and writing objects uses it, through S3 only.
            iam.PolicyStatement(sid="UseDataKeyThroughS3", actions=["kms:Decrypt", "kms:GenerateDataKey"],
                                resources=[key.key_arn],
                                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}}),
        ]
        groups = stack.format_arn(service="sagemaker", resource="model-package-group", resource_name=f"{env_name}-*")
        packages = stack.format_arn(service="sagemaker", resource="model-package", resource_name=f"{env_name}-*/*")
        if config.automatic_model_registration:
            statements.append(iam.PolicyStatement(sid="RegisterModelsOfThisEnvironment", actions=REGISTRY_ACTIONS,
                                                  resources=[groups, packages]))
        self.policy = iam.Policy(self, "Policy", roles=[self.role], statements=statements)
        wildcards = [f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(bucket.node.default_child)}.Arn>/{prefix}/*]"]
        if config.automatic_model_registration:
            wildcards += [f"AwsSolutions-IAM5[Resource::{groups}]", f"AwsSolutions-IAM5[Resource::{packages}]"]
        acknowledge(
            self.policy,
            f"The server chooses artifact keys per experiment and run ({prefix}/<experiment id>/<run id>/...), so its "
            f"objects are {prefix}/* of the one artifacts bucket; registered models are groups and versions it names "
            f"after MLflow models, held to this environment's {env_name}-* groups.",
            *wildcards,
        )
        acknowledge(
            self.policy,
            "Policy for the tracking server's role only, created and deleted with the server it serves; it is not "
            "shared between roles, which is what the rule guards against.",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )

        self.server = sagemaker.CfnMlflowTrackingServer(
            self,
            "Server",
            tracking_server_name=naming.mlflow_tracking_server_name(env_name),
            artifact_store_uri=f"s3://{bucket.bucket_name}/{prefix}",
            role_arn=self.role.role_arn,
            tracking_server_size=config.size,
            mlflow_version=config.mlflow_version,
            automatic_model_registration=config.automatic_model_registration,
            weekly_maintenance_window_start=MAINTENANCE_WINDOW,
        )
        # SageMaker checks the artifact store with the role when it creates the server: the grants come first.
        self.server.node.add_dependency(self.policy)
        # The runs' history lives in the server (its metadata store): kept with the data where the data is kept.
        self.server.apply_removal_policy(removal_policy)
        #: MLFLOW_TRACKING_URI for the sagemaker-mlflow plugin.
        self.arn = self.server.attr_tracking_server_arn
