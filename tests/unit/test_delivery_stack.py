"""The delivery pipeline: git → synth and unit tests → self-mutation → dev → staging (+ smoke test)
→ approval → prod (+ smoke test), cross-account, encrypted with a rotating key, checked by cdk-nag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from config import load_environment
from tests.helpers.assembly import synth_app
from tests.helpers.configs import EXAMPLE, SERVING
from tests.helpers.delivery import (
    ACCOUNTS,
    CONNECTION,
    DELIVERY,
    TOOLING,
    delivery_config_dir,
    deploy_actions,
    pipeline_actions,
    pipeline_grant_and_lint_problems,
)
from tests.helpers.paths import CONFIG_DIR, ROOT
from tests.helpers.templates import resources


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("cdk.out.delivery")
    synth_app(outdir, delivery_config_dir(tmp_path_factory.mktemp("config")))
    return outdir


@pytest.fixture(scope="module")
def template(out) -> dict:
    return json.loads((out / "Delivery.template.json").read_text())


@pytest.fixture(scope="module")
def pipeline(template) -> dict:
    (pipeline,) = resources(template, "AWS::CodePipeline::Pipeline").values()
    return pipeline["Properties"]


def project_of(template: dict, action: dict) -> dict:
    return template["Resources"][action["Configuration"]["ProjectName"]["Ref"]]["Properties"]


def test_stages_run_source_synth_selfmutation_assets_then_environments_in_config_order(pipeline):
    assert [s["Name"] for s in pipeline["Stages"]] == ["Source", "Build", "UpdatePipeline", "Assets", "dev", "staging", "prod"]
    assert pipeline["PipelineType"] == "V2"
    assert pipeline["RestartExecutionOnUpdate"] is True
    (mutate,) = pipeline_actions(pipeline, "UpdatePipeline")
    assert mutate["Name"] == "SelfMutate"


def test_self_mutation_installs_the_cdk_cli_that_package_json_pins(pipeline, template):
    (mutate,) = pipeline_actions(pipeline, "UpdatePipeline")
    spec = json.loads(project_of(template, mutate)["Source"]["BuildSpec"])
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert spec["phases"]["install"]["commands"] == [f"npm install -g aws-cdk@{pinned}"]


def test_every_build_installs_only_pinned_npm_packages(template):
    """An unpinned `npm install -g cdk-assets` (CDK Pipelines' default for asset publishing) runs whatever npm holds that
    day with the roles that publish into every environment; each global install names an exact version."""
    import re

    from stacks.delivery.delivery_stack import CDK_ASSETS_VERSION

    installed = []
    for project in resources(template, "AWS::CodeBuild::Project").values():
        spec = json.loads(project["Properties"]["Source"]["BuildSpec"])
        for phase in spec["phases"].values():
            for command in phase.get("commands", []):
                if command.startswith("npm install -g "):
                    installed += command.removeprefix("npm install -g ").split()
    assert f"cdk-assets@{CDK_ASSETS_VERSION}" in installed
    unpinned = [package for package in installed if not re.fullmatch(r"(@?[^@\s]+)@\d+\.\d+\.\d+", package)]
    assert not unpinned, unpinned


def test_the_asset_publishing_role_cannot_start_or_stop_builds(template, pipeline):
    """CDK Pipelines grants its asset role codebuild:StartBuild on *, though the pipeline's CodeBuild action role is
    the one that starts the asset builds: the asset role is denied it, and the asset actions run as the action role."""
    roles = {k for k, r in resources(template, "AWS::IAM::Role").items() if k.startswith("PipelineAssetsFileRole")}
    (role,) = roles
    statements = [s for k, p in resources(template, "AWS::IAM::Policy").items()
                  if {"Ref": role} in p["Properties"]["Roles"] for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert {"Sid": "NeverStartsBuilds", "Effect": "Deny", "Action": ["codebuild:StartBuild", "codebuild:StopBuild"],
            "Resource": "*"} in statements
    actions = pipeline_actions(pipeline, "Assets")
    assert actions and all(a["RoleArn"]["Fn::GetAtt"][0] not in roles for a in actions)


def test_source_is_the_configured_repository_and_branch_through_the_connection(pipeline):
    (source,) = pipeline_actions(pipeline, "Source")
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"] == {
        "ConnectionArn": CONNECTION,
        "FullRepositoryId": "my-org/sagemaker-platform",
        "BranchName": "main",
        "DetectChanges": True,  # a push starts the pipeline
    }


def test_synth_installs_pins_runs_unit_tests_then_synth(pipeline, template):
    (synth,) = pipeline_actions(pipeline, "Build")
    spec = json.loads(project_of(template, synth)["Source"]["BuildSpec"])
    assert spec["phases"]["install"]["runtime-versions"] == {"python": "3.11", "nodejs": "24"}
    # make installs the pinned venv and CDK CLI (requirements + constraints, npm ci) before each target.
    assert spec["phases"]["build"]["commands"] == ["make unit", "make synth"]
    assert spec["artifacts"]["base-directory"] == "cdk.out"
    environment = project_of(template, synth)["Environment"]
    assert environment["EnvironmentVariables"] == [{"Name": "PYTEST_XDIST_AUTO_NUM_WORKERS", "Type": "PLAINTEXT", "Value": "4"}]
    assert environment["Image"] == "aws/codebuild/standard:8.0"
    assert environment["PrivilegedMode"] is False


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_each_environment_deploys_every_stack_with_its_own_accounts_deploy_role(pipeline, env):
    actions = pipeline_actions(pipeline, env)
    deploys = deploy_actions(actions)
    cfg = load_environment(CONFIG_DIR / f"{env}.yaml")
    models = list(cfg.models)
    assert sorted(a["Name"] for a in deploys) == sorted(
        [f"{s}.Deploy" for s in ("Data", "Network", "Roles") + (("Notebooks",) if cfg.notebooks else ())
         + (("Studio",) if cfg.studio.enabled else ())]
        + [f"{m}-TrainingPipeline.Deploy" for m in models] + [f"{SERVING}.Deploy"]  # the delivery config serves the example
    )
    for action in deploys:
        role = json.dumps(action["RoleArn"])
        assert f":iam::{ACCOUNTS[env]}:role/cdk-hnb659fds-deploy-role-{ACCOUNTS[env]}-us-east-1" in role
        assert action["Configuration"]["StackName"].startswith(f"{env}-")


def test_only_prod_waits_for_a_manual_approval_and_it_comes_before_any_deploy(pipeline):
    for env in ("dev", "staging"):
        assert not [a for a in pipeline_actions(pipeline, env) if a["ActionTypeId"]["Category"] == "Approval"]
    actions = pipeline_actions(pipeline, "prod")
    (approve,) = [a for a in actions if a["ActionTypeId"]["Category"] == "Approval"]
    assert approve["ActionTypeId"]["Provider"] == "Manual"
    assert approve["RunOrder"] < min(a["RunOrder"] for a in deploy_actions(actions))


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_smoke_test_runs_after_every_deploy_and_invokes_each_models_endpoint(pipeline, template, env):
    actions = pipeline_actions(pipeline, env)
    (smoke,) = [a for a in actions if a["Name"] == f"SmokeTest-{EXAMPLE}"]
    assert smoke["RunOrder"] > max(a["RunOrder"] for a in deploy_actions(actions))
    spec = json.loads(project_of(template, smoke)["Source"]["BuildSpec"])
    role = f"arn:aws:iam::{ACCOUNTS[env]}:role/{env}-{EXAMPLE}-smoke-test"
    assert spec["phases"]["build"]["commands"] == [
        f"python -m delivery smoke-test --env {env} --region us-east-1 --endpoint {env}-{EXAMPLE} "
        f"--sample delivery/samples/{EXAMPLE}.csv --role-arn {role}"
    ]
    assert (ROOT / "delivery" / "samples" / f"{EXAMPLE}.csv").is_file()
    assert "boto3" in spec["phases"]["install"]["commands"][0] and "-c constraints.txt" in spec["phases"]["install"]["commands"][0]
    # The step's own role may assume that one role and nothing else outside the pipeline.
    role_id = project_of(template, smoke)["ServiceRole"]["Fn::GetAtt"][0]
    statements = [s for p in resources(template, "AWS::IAM::Policy").values()
                  if {"Ref": role_id} in p["Properties"]["Roles"] for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assumes = [s for s in statements if s["Action"] == "sts:AssumeRole"]
    assert assumes == [{"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": role}]


def test_dev_has_no_smoke_test_and_no_smoke_test_role_because_its_stage_asks_for_none(pipeline, out):
    assert [a["Name"] for a in pipeline_actions(pipeline, "dev") if a["ActionTypeId"]["Provider"] == "CodeBuild"] == []
    template = json.loads(next((out / "assembly-dev").glob(f"dev{SERVING.replace('-', '')}*.template.json")).read_text())
    assert not [r for r in resources(template, "AWS::IAM::Role").values()
                if r["Properties"].get("RoleName", "").endswith("-smoke-test")]


def test_the_endpoint_trusts_only_the_pipeline_account_for_describe_and_invoke(out):
    template = json.loads(next((out / "assembly-staging").glob(f"staging{SERVING.replace('-', '')}*.template.json")).read_text())
    (role,) = [r["Properties"] for r in resources(template, "AWS::IAM::Role").values()
               if r["Properties"].get("RoleName") == f"staging-{EXAMPLE}-smoke-test"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{TOOLING}:root"}
    (policy,) = resources(template, "AWS::IAM::ManagedPolicy").values()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [{
        "Sid": "DescribeAndInvokeTheEndpoint",
        "Action": ["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint"],
        "Effect": "Allow",
        "Resource": "arn:aws:sagemaker:us-east-1:222222222222:endpoint/staging-direct-marketing",
    }]


def test_artifacts_are_encrypted_with_a_rotating_key_that_every_environment_account_may_use(pipeline, template):
    key_id = pipeline["ArtifactStore"]["EncryptionKey"]["Id"]["Fn::GetAtt"][0]
    key = template["Resources"][key_id]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    assert pipeline["ArtifactStore"]["EncryptionKey"] == {"Id": {"Fn::GetAtt": [key_id, "Arn"]}, "Type": "KMS"}
    bucket = template["Resources"][pipeline["ArtifactStore"]["Location"]["Ref"]]["Properties"]
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]}, "SSEAlgorithm": "aws:kms"}
    assert bucket["LoggingConfiguration"]["LogFilePrefix"] == "artifacts/"
    assert bucket["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    policy = json.dumps(key["Properties"]["KeyPolicy"])
    for account in ACCOUNTS.values():
        assert f":iam::{account}:role/cdk-hnb659fds-deploy-role-{account}-us-east-1" in policy


def test_every_build_logs_to_a_group_of_its_step_that_expires_and_uses_a_key_kept_in_the_tooling_account(template, pipeline):
    """CodeBuild's default log group (/aws/codebuild/<project>) never expires and has no customer key. Each step's
    project logs to its own group instead (the generated asset projects share one), kept for delivery.yaml's
    log_retention_days, encrypted with a rotating key that is not the artifacts key: that one is shared with every
    environment's deploy role. CloudWatch Logs may use the key only for this account's log groups
    (kms:EncryptionContext:aws:logs:arn, "Encrypt log data in CloudWatch Logs using AWS KMS",
    docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html)."""
    groups = resources(template, "AWS::Logs::LogGroup")
    artifacts_key = pipeline["ArtifactStore"]["EncryptionKey"]["Id"]["Fn::GetAtt"][0]
    projects = resources(template, "AWS::CodeBuild::Project")
    group_of = {}
    for name, project in projects.items():
        config = project["Properties"]["LogsConfig"]["CloudWatchLogs"]
        assert config["Status"] == "ENABLED", name
        group_of[name] = config["GroupName"]["Ref"]
        group = groups[group_of[name]]
        assert group["Properties"]["RetentionInDays"] == DELIVERY["log_retention_days"] == 90, name  # the file's value
        assert group["DeletionPolicy"] == "Retain", name
        key_id = group["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]
        assert key_id != artifacts_key and template["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True
    own = {action["Name"]: group_of[action["Configuration"]["ProjectName"]["Ref"]]
           for stage in pipeline["Stages"] for action in stage["Actions"] if action["ActionTypeId"]["Provider"] == "CodeBuild"
           and not stage["Name"] == "Assets"}
    assert {"Synth", "SelfMutate", "SmokeTest-direct-marketing"} <= own.keys()
    assert len(set(own.values())) == len(own), f"steps share a log group: {own}"
    assets = {group_of[a["Configuration"]["ProjectName"]["Ref"]] for a in pipeline_actions(pipeline, "Assets")}
    assert len(assets) == 1 and not assets & set(own.values())
    (statement,) = [s for s in template["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
                    if s.get("Sid") == "AllowCloudWatchLogsInThisAccount"]
    assert statement["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert statement["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:{TOOLING}:*"}}


def test_the_fixture_pipeline_with_its_smoke_tests_is_cfn_lint_clean_and_grants_no_admin_rights(out):
    """The user's config/ may serve no model (test_delivery_invariants then has no smoke-test projects to check):
    this pipeline has them, in two stages."""
    assert pipeline_grant_and_lint_problems(out) == []


def test_a_stage_that_asks_for_a_smoke_test_without_an_endpoint_gets_a_notice(tmp_path):
    config = delivery_config_dir(tmp_path / "config", only="prod")
    for env in ("prod",):
        data = yaml.safe_load((config / f"{env}.yaml").read_text())
        serving = data["models"][EXAMPLE]["serving"]
        del serving["model_package_arn"], serving["monitoring"]["baseline_prefix"]
        (config / f"{env}.yaml").write_text(yaml.safe_dump(data))
    notices = synth_app(tmp_path / "out", config).notices()
    assert (f"delivery: prod has no smoke test of {EXAMPLE} yet: no endpoint is declared "
            f"(models.{EXAMPLE}.serving.model_package_arn in {config / 'prod.yaml'})") in notices
    # The shipped placeholder account is valid to synthesize, and said of: no pipeline can deploy to it.
    assert (f"delivery: prod's account 333333333333 ({config / 'prod.yaml'}) is a placeholder from the shipped config "
            "or AWS's examples: set your own before deploying the pipeline") in notices
    data = yaml.safe_load((config / "prod.yaml").read_text())
    data["account"] = "739104826315"
    (config / "prod.yaml").write_text(yaml.safe_dump(data))
    assert "delivery: the pipeline's account 111111111111 (delivery.yaml) is a placeholder from the docs or AWS's " \
           "examples: set your tooling account before deploying the pipeline" in notices
    delivery = yaml.safe_load((config / "delivery.yaml").read_text())
    delivery.update(account="901234567890", connection_arn=delivery["connection_arn"].replace("111111111111", "901234567890"))
    (config / "delivery.yaml").write_text(yaml.safe_dump(delivery))
    assert not [n for n in synth_app(tmp_path / "out2", config).notices() if "is a placeholder" in n]
    pipeline = next(iter(resources(json.loads((tmp_path / "out" / "Delivery.template.json").read_text()),
                                   "AWS::CodePipeline::Pipeline").values()))["Properties"]
    assert [a["Name"] for a in pipeline_actions(pipeline, "prod") if a["ActionTypeId"]["Provider"] != "CloudFormation"] == ["Approve"]


def test_cdk_nag_reaches_the_pipeline_stack(tmp_path, monkeypatch):
    """Without the acknowledgments next to the generated grants, the packs fail the synth on them."""
    from stacks.delivery.delivery_stack import DeliveryPipelineStack

    monkeypatch.setattr(DeliveryPipelineStack, "_acknowledge_generated_grants", lambda _self: None)
    with pytest.raises(Exception, match="ValidationFailed"):
        synth_app(tmp_path / "out", delivery_config_dir(tmp_path / "config", only="staging"))
    report = json.loads((tmp_path / "out" / "validation-report.json").read_text())
    paths = {c["constructPath"] for p in report["pluginReports"] for v in p["violations"] for c in v["violatingConstructs"]}
    assert paths and all(path.startswith("Delivery/Pipeline/") for path in paths)
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-IAM5[Action::s3:GetObject*]", "NIST.800.53.R5-IAMNoInlinePolicy"} <= rules


def test_environment_stacks_keep_their_names_and_selectors_with_the_pipeline(out):
    # The stages stay children of the app: `cdk deploy 'dev/*'` and the emulator deploy the same stacks.
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"assembly-dev", "assembly-staging", "assembly-prod", "Delivery"} <= set(manifest["artifacts"])
    dev = json.loads((out / "assembly-dev" / "manifest.json").read_text())
    names = sorted(a["displayName"] for a in dev["artifacts"].values() if a.get("type") == "aws:cloudformation:stack")
    cfg = load_environment(CONFIG_DIR / "dev.yaml")
    assert names == sorted(["dev/Data", "dev/Network", "dev/Notebooks", "dev/Roles", *(["dev/Studio"] if cfg.studio.enabled else []),
                            f"dev/{SERVING}", *(f"dev/{m}-TrainingPipeline" for m in cfg.models)])


def test_without_delivery_yaml_the_app_has_no_pipeline(serving_assembly):
    """The serving assembly's config has an endpoint in every environment and no delivery.yaml."""
    manifest = json.loads((serving_assembly.outdir / "manifest.json").read_text())
    stacks = [name for name, artifact in manifest["artifacts"].items() if artifact["type"] == "aws:cloudformation:stack"]
    stages = sorted(name for name, artifact in manifest["artifacts"].items() if artifact["type"] == "cdk:cloud-assembly")
    assert stacks == [] and stages == ["assembly-dev", "assembly-prod", "assembly-sandbox", "assembly-staging"]
    # ...and no environment trusts a pipeline account with its endpoint.
    for env in ("dev", "prod", "sandbox", "staging"):
        roles = resources(serving_assembly.template_json(env, SERVING), "AWS::IAM::Role").values()
        # The endpoint's own role and, where a monitor runs, its own; no smoke-test role.
        assert {json.dumps(r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]) for r in roles} == {
            json.dumps({"Service": "sagemaker.amazonaws.com"})}


def test_every_step_names_runtimes_its_image_offers(template):
    """A runtime-versions entry the image lacks fails the build's install phase ("Unknown runtime version"). Held to
    the image's own list: tests/fixtures/codebuild/, from aws/aws-codebuild-docker-images' ubuntu/standard/8.0/runtimes.yml
    (see also "Available runtimes" in the CodeBuild user guide)."""
    text = (ROOT / "tests/fixtures/codebuild/ubuntu-standard-8.0-runtimes.yml").read_text()
    # BaseLoader: every scalar stays text, so version 3.10 is not read as the float 3.1; it builds no objects.
    offered = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506
    versions = {runtime: set(entry["versions"]) - {"default"} for runtime, entry in offered["runtimes"].items()}
    projects = resources(template, "AWS::CodeBuild::Project")
    named = []
    for project in projects.values():
        assert project["Properties"]["Environment"]["Image"] == "aws/codebuild/standard:8.0"
        spec = json.loads(project["Properties"]["Source"]["BuildSpec"])
        for runtime, version in spec["phases"].get("install", {}).get("runtime-versions", {}).items():
            assert str(version) in versions[runtime], f"{runtime} {version} is not on standard:8.0 (it offers {sorted(versions[runtime])})"
            named.append(runtime)
    assert {"python", "nodejs"} <= set(named)
