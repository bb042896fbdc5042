"""SageMaker Studio for teams: a VPC-only domain, one execution role per team, one user profile and one
private JupyterLab space per member, and each team's JupyterLab lifecycle configuration.

The domain's apps run only in the platform's private subnets (AppNetworkAccessType VpcOnly) and reach AWS
through the network stack's interface endpoints (STUDIO_ENDPOINTS there). Its home file system and the spaces'
volumes are encrypted with the environment's data key. The security group is in the default user and space
settings and in every profile, so lifecycle scripts and apps start with it. Idle JupyterLab apps are stopped
by the domain's built-in app lifecycle settings.

A team's role reaches only its models: their S3 prefixes, pipelines, registry groups and (the tracking server
has no finer IAM scope) the environment's MLflow server; in Studio, only spaces whose names start with the team
and that carry its tag (naming.STUDIO_TEAM_TAG), on the instance types the team is allowed.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, CustomResource, Duration, Fn, RemovalPolicy, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sso as sso
from constructs import Construct

import naming
from config import EnvironmentConfig
from config.studio import TeamConfig, space_display_name, space_name
from notebook_lifecycle import render_jupyterlab_on_start
from stacks.contracts import DataExports, Workloads
from stacks.foundation.execution_role import SageMakerExecutionRole
from stacks.shared.compliance import acknowledge
from stacks.shared.log_retention import retention_days
from stacks.shared.removal import stateful_removal_policy
from stacks.shared.tracking_access import NOTEBOOK_ACTIONS, UI_ACTION, UI_URL_ACTIONS, tracking_server_arn

#: Pipelines: what a team may do with its models' pipelines (start, follow, stop, retry an execution).
PIPELINE_ACTIONS = ["sagemaker:StartPipelineExecution", "sagemaker:DescribePipeline", "sagemaker:ListPipelineExecutions"]
PIPELINE_EXECUTION_ACTIONS = ["sagemaker:DescribePipelineExecution", "sagemaker:ListPipelineExecutionSteps",
                              "sagemaker:DescribePipelineDefinitionForExecution", "sagemaker:StopPipelineExecution",
                              "sagemaker:RetryPipelineExecution"]
#: Registry: read a model's group and its versions (approving stays with the delivery process).
REGISTRY_ACTIONS = ["sagemaker:DescribeModelPackageGroup", "sagemaker:DescribeModelPackage"]
#: Spaces of the team (names <team>-*, tagged with the team): what Studio's UI calls as the space's role.
SPACE_ACTIONS = ["sagemaker:DescribeSpace", "sagemaker:DeleteSpace"]
#: Apps in those spaces: CreateApp is the call that takes sagemaker:InstanceTypes (held to the team's types). AddTags:
#: with the domain's TagPropagation on, an app is created with the tags that reach it from its domain and space.
APP_ACTIONS = ["sagemaker:DeleteApp", "sagemaker:DescribeApp", "sagemaker:AddTags"]
#: Listing calls with no resource type (Service Authorization Reference): Studio's home page makes them.
LIST_ACTIONS = ["sagemaker:ListSpaces", "sagemaker:ListApps", "sagemaker:ListUserProfiles", "sagemaker:ListPipelines", "sagemaker:ListModelPackages",
                "sagemaker:ListModelPackageGroups", "sagemaker:ListStudioLifecycleConfigs"]
#: lambda/studio_teardown: what deletes a disposable environment's domain cleanly (its module docstring says why).
TEARDOWN_CODE = Path(__file__).resolve().parents[2] / "lambda" / "studio_teardown"
#: What a person of the team needs in IAM authentication mode to open Studio as their profile (console or CLI).
ACCESS_ACTIONS = ["sagemaker:CreatePresignedDomainUrl", "sagemaker:DescribeUserProfile"]


#: IAM's longest role description (CreateRole's Description: at most 1,000 characters, botocore's iam model).
ROLE_DESCRIPTION_MAX = 1000


def team_role_description(env: str, team: str, models: list[str]) -> str:
    """The team role's description: the models it reaches, or their count where the names would not fit IAM's."""
    description = f"{env}: Studio team {team} (models {', '.join(models)})"
    return description if len(description) <= ROLE_DESCRIPTION_MAX else f"{env}: Studio team {team} ({len(models)} models)"

class StudioStack(Stack):
    """The domain, its default (grant-less) role, and per team: role, lifecycle config, profiles and spaces."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        env_config: EnvironmentConfig,
        data: DataExports,
        workloads: Workloads,
        **kwargs,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        cfg, studio = env_config, env_config.studio
        removal = stateful_removal_policy(cfg)
        key_arn = Fn.import_value(data.key_arn)
        idle = studio.idle_shutdown

        self.security_group = studio_security_group(self, "SecurityGroup", workloads.vpc,
                                                    f"{cfg.name} Studio: profiles without a team, shared spaces")
        self.workloads = workloads

        # A profile without a team (created by hand) and shared spaces get this role: it may write its logs, nothing else.
        default = SageMakerExecutionRole(self, "NoTeam", description=f"{cfg.name}: Studio default (no team): logs only",
                                         studio=True)
        default.allow_log_groups("studio")
        acknowledge(default.role, "Inline policy written by CDK for this one role only.", "NIST.800.53.R5-IAMNoInlinePolicy")

        idle_settings = {
            "lifecycle_management": "ENABLED",
            "idle_timeout_in_minutes": idle.default_minutes,
            "min_idle_timeout_in_minutes": idle.min_minutes,
            "max_idle_timeout_in_minutes": idle.max_minutes,
        }
        # Idle shutdown lives here only: CloudFormation's UserProfile and Space schemas take no AppLifecycleManagement in
        # their JupyterLab settings (tests/unit/test_studio.py watches them), and a profile without its own takes the
        # domain's DefaultUserSettings, as do the private spaces it owns (DefaultSpaceSettings cover shared spaces).
        sg = [self.security_group.security_group_id]
        max_volume = max((team.volume_size_gb for team in studio.teams.values()), default=5)
        self.domain = sagemaker.CfnDomain(
            self, "Domain",
            domain_name=naming.studio_domain_name(cfg.name),
            auth_mode=studio.auth.mode,
            app_network_access_type="VpcOnly",
            vpc_id=workloads.vpc.vpc_id,
            subnet_ids=workloads.subnet_ids,
            kms_key_id=key_arn,
            tag_propagation="ENABLED",
            default_user_settings=sagemaker.CfnDomain.UserSettingsProperty(
                execution_role=default.role.role_arn,
                security_groups=sg,
                default_landing_uri="studio::",
                studio_web_portal="ENABLED",
                jupyter_lab_app_settings=sagemaker.CfnDomain.JupyterLabAppSettingsProperty(
                    app_lifecycle_management=sagemaker.CfnDomain.AppLifecycleManagementProperty(
                        idle_settings=sagemaker.CfnDomain.IdleSettingsProperty(**idle_settings))),
                space_storage_settings=sagemaker.CfnDomain.DefaultSpaceStorageSettingsProperty(
                    default_ebs_storage_settings=sagemaker.CfnDomain.DefaultEbsStorageSettingsProperty(
                        default_ebs_volume_size_in_gb=5, maximum_ebs_volume_size_in_gb=max_volume)),
            ),
            default_space_settings=sagemaker.CfnDomain.DefaultSpaceSettingsProperty(
                execution_role=default.role.role_arn,
                security_groups=sg,
                jupyter_lab_app_settings=sagemaker.CfnDomain.JupyterLabAppSettingsProperty(
                    app_lifecycle_management=sagemaker.CfnDomain.AppLifecycleManagementProperty(
                        idle_settings=sagemaker.CfnDomain.IdleSettingsProperty(**idle_settings))),
            ),
        )
        # The home file system holds every profile's files: kept where the environment keeps its data.
        self.domain.apply_removal_policy(removal)
        domain_id = self.domain.attr_domain_id
        CfnOutput(self, "DomainId", value=domain_id, description="The Studio domain's ID")

        if studio.auth.mode == "SSO":
            for index, group in enumerate(studio.auth.groups):
                sso.CfnApplicationAssignment(
                    self, f"IdentityCenterGroup{index}", application_arn=self.domain.attr_single_sign_on_application_arn,
                    principal_id=group, principal_type="GROUP",
                )

        self.team_roles: dict[str, iam.IRole] = {}
        #: The profiles and spaces, which the teardown (disposable environments) is ordered before.
        self.members: list[sagemaker.CfnUserProfile | sagemaker.CfnSpace] = []
        for team, team_config in studio.teams.items():
            self._team(cfg, team, team_config, data, key_arn, domain_id, removal)
        if removal == RemovalPolicy.DESTROY:
            self._teardown(cfg, key_arn, domain_id, workloads)

    def _teardown(self, cfg: EnvironmentConfig, key_arn: str, domain_id: str, workloads: Workloads) -> None:
        """Custom::StudioTeardown (lambda/studio_teardown/handler.py): on stack deletion, apps, spaces, profiles, the domain
        with its home volume, and SageMaker's NFS security groups; ordered after all of them, so deleted first."""
        log_group = logs.LogGroup(self, "TeardownLogs", encryption_key=kms.Key.from_key_arn(self, "DataKey", key_arn),
                                  retention=retention_days(cfg.network.flow_log_retention_days), removal_policy=RemovalPolicy.DESTROY)
        role = iam.Role(self, "TeardownRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description=f"{cfg.name}: delete the Studio domain's apps, spaces, profiles, domain and NFS groups")
        log_group.grant_write(role)
        arn = lambda resource: self.format_arn(service="sagemaker", resource=resource)
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="ListTheDomainsContents", actions=["sagemaker:ListApps", "sagemaker:ListSpaces", "sagemaker:ListUserProfiles",
                                                   "sagemaker:ListStudioLifecycleConfigs"],
            resources=["*"]))
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="DeleteTheEnvironmentsLifecycleConfigs", actions=["sagemaker:DeleteStudioLifecycleConfig"],
            resources=[arn(f"studio-lifecycle-config/{naming.studio_lifecycle_config_prefix(cfg.name, team)}*") for team in cfg.studio.teams]))
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="DeleteTheDomainsContents", actions=["sagemaker:DeleteApp", "sagemaker:DeleteSpace", "sagemaker:DeleteUserProfile"],
            resources=[arn(f"app/{domain_id}/*"), arn(f"space/{domain_id}/*"), arn(f"user-profile/{domain_id}/*")]))
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="DeleteTheDomain", actions=["sagemaker:DescribeDomain", "sagemaker:DeleteDomain"], resources=[arn(f"domain/{domain_id}")]))
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="FindSecurityGroups", actions=["ec2:DescribeSecurityGroups"], resources=["*"]))
        # It tears down only when its own stack is being deleted (not when it leaves the template or an update rolls back).
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="ReadOwnStacksStatus", actions=["cloudformation:DescribeStacks"], resources=[self.stack_id]))
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="DeleteNfsSecurityGroupsInPlatformVpc",
            actions=["ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:DeleteSecurityGroup"],
            resources=[self.format_arn(service="ec2", resource="security-group/*")],
            conditions={"ArnEquals": {"ec2:Vpc": workloads.vpc.vpc_arn}}))
        function = lambda_.Function(
            self, "TeardownFunction",
            description=f"{cfg.name}: on stack deletion, delete the Studio domain and what CloudFormation cannot",
            runtime=lambda_.Runtime.PYTHON_3_14, architecture=lambda_.Architecture.ARM_64, handler="handler.handler",
            code=lambda_.Code.from_asset(str(TEARDOWN_CODE), exclude=["__pycache__", "*.pyc"]),
            role=role, timeout=Duration.minutes(15), memory_size=256, log_group=log_group,
        )
        teardown = CustomResource(self, "Teardown", service_token=function.function_arn, resource_type="Custom::StudioTeardown",
                                  properties={"DomainId": domain_id, "VpcId": workloads.vpc.vpc_id,
                                              "LifecycleConfigPrefixes": [naming.studio_lifecycle_config_prefix(cfg.name, team)
                                                                          for team in cfg.studio.teams]},
                                  # A function that dies without answering fails the stack after this, not after an hour.
                                  service_timeout=Duration.minutes(20))
        # Deleted before every profile and space (the domain is ordered by the DomainId it reads).
        teardown.node.add_dependency(*self.members)
        # The function reads its role with GetAtt, which orders them (cfn-lint W3005): keep only the policy, which the
        # function needs at deletion too.
        policy = role.node.find_child("DefaultPolicy").node.default_child
        function.node.default_child.add_override("DependsOn", [self.get_logical_id(policy)])
        acknowledge(role, "Inline policy written by CDK for this one role only; created and deleted with the role.",
                    "NIST.800.53.R5-IAMNoInlinePolicy")
        acknowledge(
            role,
            "The List calls and ec2:DescribeSecurityGroups support no resource-level permissions (Service Authorization "
            "Reference); the deletes are held to this domain's apps, spaces and profiles (their names are people's and "
            "generated) and to security groups of the platform VPC (ec2:Vpc condition); the log stream names are Lambda's.",
            "AwsSolutions-IAM5[Resource::*]",
            f"AwsSolutions-IAM5[Resource::arn:{self.partition}:ec2:{self.region}:{self.account}:security-group/*]",
            *(f"AwsSolutions-IAM5[Resource::{_shown_with_domain(self, kind, '*')}]" for kind in ("app", "space", "user-profile")),
            *(f"AwsSolutions-IAM5[Resource::arn:{self.partition}:sagemaker:{self.region}:{self.account}:studio-lifecycle-config/"
              f"{naming.studio_lifecycle_config_prefix(cfg.name, team)}*]" for team in cfg.studio.teams),
        )
        acknowledge(function, "Runs once, when the stack is deleted, and only calls the SageMaker and EC2 control-plane APIs: "
                    "it touches no data, and outside the VPC it needs no EC2 endpoint or NAT gateway to reach them.",
                    "NIST.800.53.R5-LambdaInsideVPC", "HIPAA.Security-LambdaInsideVPC", "PCI.DSS.321-LambdaInsideVPC")
        acknowledge(function, "Invoked by CloudFormation, which reports a failure on the stack (the stack's deletion stops "
                    "there); a dead-letter queue applies to asynchronous invocations only.", "NIST.800.53.R5-LambdaDLQ")
        acknowledge(function, "Runs once per stack deletion: reserving concurrency would take from the account's unreserved "
                    "pool for a function that is idle all its life.", "NIST.800.53.R5-LambdaConcurrency")

    def _team(self, cfg: EnvironmentConfig, team: str, config: TeamConfig, data: DataExports, key_arn: str,
              domain_id: str, removal) -> None:
        scope = Construct(self, _construct_id(team))
        # AWS recommends a security group per profile rather than the domain's ("Connect Amazon SageMaker Studio in a VPC
        # to external resources"): one per team keeps one team's apps from reaching another's.
        sg = [studio_security_group(scope, "SecurityGroup", self.workloads.vpc, f"{cfg.name} Studio team {team}").security_group_id]
        script = render_jupyterlab_on_start(packages=list(config.packages))
        role = SageMakerExecutionRole(scope, "Execution", description=team_role_description(cfg.name, team, config.models),
                                      studio=True)
        Tags.of(role.role).add(naming.STUDIO_TEAM_TAG, team)
        self.team_roles[team] = role.role
        grant_team_data(role, cfg, config.models, team, data, key_arn)
        grant_team_models(role, cfg, config.models)
        grant_team_spaces(role, team, config, domain_id, [naming.studio_lifecycle_config_name(cfg.name, team, script, cfg.resource_tags)])
        role.allow_log_groups("studio")
        # Spaces' EBS volumes are encrypted with the data key (the domain's KmsKeyId): SageMaker attaches them under grants.
        role.allow_key_grants_for_aws_resources(kms.Key.from_key_arn(scope, "DataKey", key_arn))
        if cfg.tracking.enabled:
            # sagemaker-mlflow actions are authorized on the server only (no experiment-level resource or condition
            # key in the Service Authorization Reference): a team logs and reads on its environment's server.
            server = tracking_server_arn(self, cfg.name)
            role.allow("UseTrackingServer", NOTEBOOK_ACTIONS, [server])
            role.allow("OpenTrackingServerUi", UI_URL_ACTIONS, [server])
            role.allow("AccessMlflowUi", [UI_ACTION], ["*"], wildcard_reason="sagemaker-mlflow:AccessUI supports no "
                       "resource-level permissions; which server's UI opens is decided by the presigned URL, granted on "
                       "this environment's server only.")
        acknowledge(role.role, "Inline policy written by CDK for this one role only.", "NIST.800.53.R5-IAMNoInlinePolicy")

        lifecycle = sagemaker.CfnStudioLifecycleConfig(
            scope, "LifecycleConfig",
            studio_lifecycle_config_name=naming.studio_lifecycle_config_name(cfg.name, team, script, cfg.resource_tags),
            studio_lifecycle_config_app_type="JupyterLab",
            studio_lifecycle_config_content=Fn.base64(script),
        )
        default_spec = {"instance_type": config.instance_types[0],
                        "lifecycle_config_arn": lifecycle.attr_studio_lifecycle_config_arn}
        team_tag = {"key": naming.STUDIO_TEAM_TAG, "value": team}
        for member in config.members:
            # Keyed by the member alone, at stack scope: moving someone to another team updates their profile in place
            # (a new logical ID would create a second profile of the same name first, which SageMaker refuses).
            profile = sagemaker.CfnUserProfile(
                self, f"Profile{_construct_id(member)}",
                domain_id=domain_id,
                user_profile_name=member,
                single_sign_on_user_identifier="UserName" if cfg.studio.auth.mode == "SSO" else None,
                single_sign_on_user_value=cfg.studio.auth.user_name(member) if cfg.studio.auth.mode == "SSO" else None,
                user_settings=sagemaker.CfnUserProfile.UserSettingsProperty(
                    execution_role=role.role.role_arn,
                    security_groups=sg,
                    jupyter_lab_app_settings=sagemaker.CfnUserProfile.JupyterLabAppSettingsProperty(
                        default_resource_spec=sagemaker.CfnUserProfile.ResourceSpecProperty(**default_spec),
                        lifecycle_config_arns=[lifecycle.attr_studio_lifecycle_config_arn],
                    ),
                ),
                tags=[team_tag, {"key": naming.STUDIO_USER_TAG, "value": member}],
            )
            profile.apply_removal_policy(removal)
            self.members.append(profile)
            space = sagemaker.CfnSpace(
                self, f"Space{_construct_id(member)}",
                domain_id=domain_id,
                space_name=space_name(team, member),
                space_display_name=space_display_name(team, member),
                ownership_settings=sagemaker.CfnSpace.OwnershipSettingsProperty(owner_user_profile_name=member),
                space_sharing_settings=sagemaker.CfnSpace.SpaceSharingSettingsProperty(sharing_type="Private"),
                space_settings=sagemaker.CfnSpace.SpaceSettingsProperty(
                    app_type="JupyterLab",
                    jupyter_lab_app_settings=sagemaker.CfnSpace.SpaceJupyterLabAppSettingsProperty(
                        default_resource_spec=sagemaker.CfnSpace.ResourceSpecProperty(**default_spec)),
                    space_storage_settings=sagemaker.CfnSpace.SpaceStorageSettingsProperty(
                        ebs_storage_settings=sagemaker.CfnSpace.EbsStorageSettingsProperty(
                            ebs_volume_size_in_gb=config.volume_size_gb)),
                ),
                tags=[team_tag],
            )
            # A space's volume is its owner's work: kept where the environment keeps its data.
            space.apply_removal_policy(removal)
            space.node.add_dependency(profile)
            self.members.append(space)

        if cfg.studio.auth.mode == "IAM":
            # A person opens only their own profile: the profile's studio-user tag must be their IAM user name, or the
            # studio-user tag of the role session they signed in with (an identity provider's session tag). AWS's pattern
            # for per-user Studio access ("Control access to the Studio domain by user profile", aws:ResourceTag and
            # policy variables).
            profiles = self.format_arn(service="sagemaker", resource="user-profile", resource_name=f"{domain_id}/*")
            own = {f"aws:ResourceTag/{naming.STUDIO_TEAM_TAG}": team}
            access = iam.ManagedPolicy(
                scope, "Access", description=f"{cfg.name}: open one's own Studio profile in team {team} (attach to the team's people)",
                statements=[
                    iam.PolicyStatement(sid="OpenOwnProfileAsIamUser", actions=ACCESS_ACTIONS, resources=[profiles],
                                        conditions={"StringEquals": {**own, f"aws:ResourceTag/{naming.STUDIO_USER_TAG}": "${aws:username}"}}),
                    iam.PolicyStatement(sid="OpenOwnProfileAsTaggedSession", actions=ACCESS_ACTIONS, resources=[profiles],
                                        conditions={"StringEquals": {**own, f"aws:ResourceTag/{naming.STUDIO_USER_TAG}":
                                                                     f"${{aws:PrincipalTag/{naming.STUDIO_USER_TAG}}}"}}),
                ],
            )
            acknowledge(access, f"The domain's user profiles tagged {naming.STUDIO_TEAM_TAG}={team} whose {naming.STUDIO_USER_TAG} tag "
                        "is the caller's own name: profile names are the members', and the tag conditions pick the one.",
                        f"AwsSolutions-IAM5[Resource::{_shown_with_domain(self, 'user-profile', '*')}]")
            CfnOutput(self, f"{_construct_id(team)}AccessPolicy", value=access.managed_policy_arn,
                      description=f"Attach to team {team}'s people (IAM authentication): opens their Studio profiles")


def studio_security_group(scope: Construct, id_: str, vpc: ec2.IVpc, what: str) -> ec2.SecurityGroup:
    """Studio apps: nothing inbound from outside the group; HTTPS out to the VPC endpoints (and NAT, where there is one); NFS
    and TCP 8192-65535 within the group, as SageMaker's developer guide asks of a VPC-only domain ("Connect Amazon SageMaker
    Studio in a VPC to external resources": NFS over TCP 2049 between the domain and its EFS volume, and at least
    8192-65535 within the security group)."""
    group = ec2.SecurityGroup(scope, id_, vpc=vpc, allow_all_outbound=False,
                              description=f"{what}: no inbound from outside; HTTPS out to VPC endpoints and package indexes")
    group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to VPC endpoints (and NAT, where there is one)")
    # Rule descriptions take EC2's character set only: no apostrophe (test_platform_invariants holds every template to it).
    group.connections.allow_internally(ec2.Port.tcp(2049), "NFS to the home file system of the domain")
    group.connections.allow_internally(ec2.Port.tcp_range(8192, 65535), "Between the apps of the domain")
    return group


def grant_team_data(role: SageMakerExecutionRole, cfg: EnvironmentConfig, models: list[str], team: str, data: DataExports,
                    key_arn: str) -> None:
    """S3 under the team's models' prefixes only, and the data key through S3 only."""
    raw, artifacts = Fn.import_value(data.raw_data_bucket_arn), Fn.import_value(data.model_artifacts_bucket_arn)
    raw_prefixes = [f"{model}/" for model in models]
    # Writes: the team's data and its scratch prefix only. A run's outputs (models, reports, baselines) are what the
    # gate and the registry trust: the team reads them, only the pipeline writes them.
    written = [f"{naming.STUDIO_SCRATCH_PREFIX}/{team}/"]
    read_only = [naming.pipeline_runs_prefix(cfg.name, m) + "/" for m in models] + [
        f"{naming.data_capture_prefix(naming.endpoint_name(cfg.name, m))}/" for m in models] + [
        f"{naming.monitoring_reports_prefix(naming.endpoint_name(cfg.name, m))}/" for m in models]
    reason = ("object keys under the team's models' prefixes are data, chosen per run; the prefixes name the models "
              "(and the team's scratch space), in the environment's two buckets only.")
    role.allow("ReadWriteOwnModelsData", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
               [Fn.join("", [raw, "/", p, "*"]) for p in raw_prefixes] + [Fn.join("", [artifacts, "/", p, "*"]) for p in written],
               wildcard_reason=reason,
               token_wildcards=tuple(f"{data.raw_data_bucket_arn}/{p}*" for p in raw_prefixes)
               + tuple(f"{data.model_artifacts_bucket_arn}/{p}*" for p in written))
    role.allow("ReadOwnModelsOutputs", ["s3:GetObject"], [Fn.join("", [artifacts, "/", p, "*"]) for p in read_only],
               wildcard_reason=reason,
               token_wildcards=tuple(f"{data.model_artifacts_bucket_arn}/{p}*" for p in read_only))
    for sid, bucket, prefixes in (("ListOwnModelsRawData", raw, raw_prefixes),
                                  ("ListOwnModelsArtifacts", artifacts, written + read_only)):
        role.allow(sid, ["s3:ListBucket"], [bucket], {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}})
    role.allow("UseDataKeyThroughS3", ["kms:Decrypt", "kms:GenerateDataKey"], [key_arn],
               {"StringEquals": {"kms:ViaService": f"s3.{cfg.region}.amazonaws.com"}})


def grant_team_models(role: SageMakerExecutionRole, cfg: EnvironmentConfig, models: list[str]) -> None:
    """The team's models' pipelines and registry groups, by name."""
    pipelines = [naming.pipeline_name(cfg.name, m) for m in models]
    groups = [naming.model_package_group_name(cfg.name, m) for m in models]
    role.allow("RunOwnModelsPipelines", PIPELINE_ACTIONS, [role.arn("sagemaker", f"pipeline/{p}") for p in pipelines])
    role.allow("FollowOwnModelsPipelineExecutions", PIPELINE_EXECUTION_ACTIONS,
               [role.arn("sagemaker", f"pipeline/{p}/execution/*") for p in pipelines],
               wildcard_reason="execution IDs are generated per run; under the team's models' pipelines only.")
    role.allow("ReadOwnModelsRegistry", REGISTRY_ACTIONS,
               [role.arn("sagemaker", f"model-package-group/{g}") for g in groups]
               + [role.arn("sagemaker", f"model-package/{g}/*") for g in groups],
               wildcard_reason="version numbers are assigned per registration; under the team's models' groups only.")


def grant_team_spaces(role: SageMakerExecutionRole, team: str, config: TeamConfig, domain_id: str, lifecycle_configs: list[str]) -> None:
    """In Studio: the team's spaces only (names <team>-*, tagged with the team, private to one of its members), apps and
    space defaults on its allowed instance types."""
    spaces = role.arn("sagemaker", f"space/{domain_id}/{team}-*")
    shown = _shown_with_domain(role, "space", f"{team}-*")
    tagged = {"StringEquals": {f"aws:ResourceTag/{naming.STUDIO_TEAM_TAG}": team}}
    reason = (f"spaces are created by the team's people with names of their choosing under the team's prefix ({team}-), and "
              "their apps get generated names; the team tag holds them to this team.")
    role.allow("DescribeDomain", ["sagemaker:DescribeDomain"], [role.arn("sagemaker", f"domain/{domain_id}")])
    role.allow("ListStudioAndModels", LIST_ACTIONS, ["*"],
               wildcard_reason="these List calls support no resource-level permissions (Service Authorization Reference); "
               "they return names, and every Describe or change is scoped by the statements around this one.")
    # ForAllValues alone holds when a request names no instance type; a space's default is then the one it has, which
    # CreateSpace and UpdateSpace (the calls that set it) hold to the team's types too.
    types = {"ForAllValues:StringEquals": {"sagemaker:InstanceTypes": list(config.instance_types)}}
    owners = [role.arn("sagemaker", f"user-profile/{domain_id}/{member}") for member in config.members]
    role.allow("CreateOwnTeamsSpaces", ["sagemaker:CreateSpace"], [spaces],
               {"StringEquals": {f"aws:RequestTag/{naming.STUDIO_TEAM_TAG}": team, "sagemaker:SpaceSharingType": "Private"},
                "ArnEquals": {"sagemaker:OwnerUserProfileArn": owners}, **types},
               wildcard_reason=reason, token_wildcards=(shown,))
    role.allow("TagNewTeamSpaces", ["sagemaker:AddTags"], [spaces],
               {"StringEquals": {f"aws:RequestTag/{naming.STUDIO_TEAM_TAG}": team}}, wildcard_reason=reason, token_wildcards=(shown,))
    role.allow("UpdateOwnTeamsSpaces", ["sagemaker:UpdateSpace"], [spaces], {**tagged, **types}, wildcard_reason=reason,
               token_wildcards=(shown,))
    role.allow("UseOwnTeamsSpaces", SPACE_ACTIONS, [spaces], tagged, wildcard_reason=reason, token_wildcards=(shown,))
    role.allow("ReadOwnLifecycleConfigs", ["sagemaker:DescribeStudioLifecycleConfig"],
               [role.arn("sagemaker", f"studio-lifecycle-config/{name}") for name in lifecycle_configs])
    role.allow("DescribeOwnTeamsProfiles", ["sagemaker:DescribeUserProfile"],
               [role.arn("sagemaker", f"user-profile/{domain_id}/*")], tagged,
               wildcard_reason="the domain's profiles carrying the team's tag (profile names are the members').",
               token_wildcards=(_shown_with_domain(role, "user-profile", "*"),))
    apps, shown_apps = role.arn("sagemaker", f"app/{domain_id}/{team}-*/*"), _shown_with_domain(role, "app", f"{team}-*/*")
    role.allow("StartAppsOnAllowedInstanceTypes", ["sagemaker:CreateApp"], [apps],
               {"ForAllValues:StringEquals": {"sagemaker:InstanceTypes": list(config.instance_types)}}, wildcard_reason=reason,
               token_wildcards=(shown_apps,))
    role.allow("UseOwnTeamsApps", APP_ACTIONS, [apps], wildcard_reason=reason, token_wildcards=(shown_apps,))


def _shown_with_domain(scope: Construct, resource_type: str, rest: str) -> str:
    """An ARN under the domain as cdk-nag shows it in a finding (the domain ID as <Domain.DomainId>)."""
    stack = Stack.of(scope)
    return f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:{resource_type}/<Domain.DomainId>/{rest}"


def _construct_id(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("-")) or "Team"
