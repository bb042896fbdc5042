"""The platform's invariants, over whatever config/ holds, with typical customizations on top.

A team that adopts the platform edits config/: it adds an environment, a notebook and a model of
its own (its CSV with categorical columns and missing values), trains on GPUs in dev, names a
model version to serve, puts in its own account ids. None of that may need a
test edited (the example-specific tests read tests/fixtures/config instead). This module copies
config/, makes those edits, synthesizes the app (cdk-nag's packs run during synth: an
unacknowledged finding fails it) and checks what the platform promises whatever the settings:
encrypted private buckets, locked-down notebooks, no managed *FullAccess policy, no ingress from
the internet, names from naming.py, IAM statements that work as AWS's Service Authorization
Reference says, cfn-lint clean templates, and one line per problem in a broken config.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import naming
from config import ConfigError, environment_files, load_environment, load_environments
from config.training import ENTRY_POINTS
from tests.helpers.assembly import Assembly, synth_app
from tests.helpers.cfn_schemas import resource_schema
from tests.helpers.configs import own_code_dir
from tests.helpers.iam_reference import problems_of, statements
from tests.helpers.paths import ROOT, USER_CONFIG_DIR
from tests.helpers.templates import resources

#: The team's own data: a categorical column, an identifier to drop, missing values, a yes/no label.
TEAM_CSV = "customer_id,plan,region,tenure_months,monthly_spend,churned\n" + "".join(
    f"{i},{'basic' if i % 3 else 'premium'},{'' if i % 7 == 0 else 'north' if i % 2 else 'south'},"
    f"{i % 48},{'' if i % 11 == 0 else 20 + i % 50},{'yes' if i % 5 == 0 else 'no'}\n" for i in range(1, 200))


TEAM_S3_DATA = "s3://team-data/churn/customers.csv"


def unused(preferred: list[str], taken: set[str]) -> str:
    """The first of these names that the team's config/ uses nowhere, nor as a prefix of it or with it as one
    (Studio refuses team names that prefix one another, and member names that differ only in case or hyphens):
    the edits below add to the team's config; they must not collide with it."""
    def key(name: str) -> str:
        return name.lower().replace("-", "")

    for name in preferred:
        if not any(key(name).startswith(key(t)) or key(t).startswith(key(name)) for t in taken):
            return name
    raise AssertionError(f"config/ uses every name of {preferred}; add another to this list")


USER_CONFIG = {path.stem: yaml.safe_load(path.read_text()) or {} for path in environment_files(USER_CONFIG_DIR)}
_STUDIOS = [env.get("studio") or {} for env in USER_CONFIG.values()]
QA = unused(["qa", "qainvariants", "zzinvariants"], set(USER_CONFIG))
CHURN = unused(["churn", "attrition", "zz-churn"], {m for env in USER_CONFIG.values() for m in env.get("models") or {}})
NOTEBOOK = unused(["research", "exploration", "zz-notebook"],
                  {nb.get("name", "") for env in USER_CONFIG.values() for nb in env.get("notebooks") or []})
TEAM = unused(["churners", "retention", "zz-team"], {t for studio in _STUDIOS for t in studio.get("teams") or {}})
MEMBER = unused(["dana", "erin", "zz-member"], {str(m) for studio in _STUDIOS for team in (studio.get("teams") or {}).values()
                                              for m in (team or {}).get("members") or []})


@pytest.fixture(scope="module")
def team_code() -> Iterator[Path]:
    """The team's own training code: the bundled scripts, changed, in a folder of their own, in the repo (code_dir is
    relative to its root), under build/, which git ignores; removed afterwards."""
    with own_code_dir("\n# the churn team's change\n") as code:
        yield code


def customized(target: Path, team_code: Path) -> Path:
    """config/ as the user has it, plus the edits a team makes first (each where it applies)."""
    target.mkdir(parents=True)
    team_csv = target.parent / "customers.csv"
    team_csv.write_text(TEAM_CSV)
    data = yaml.safe_load(yaml.safe_dump(USER_CONFIG))
    base = data.get("dev") or next(iter(data.values()))
    # A new environment, in another account.
    qa = yaml.safe_load(yaml.safe_dump(base))
    qa.update(account="444444444444", removal_policy="destroy")
    qa["network"]["cidr"] = "10.77.0.0/16"
    qa.get("tags", {}).pop("environment", None)
    for model in (qa.get("models") or {}).values():  # dev's versions and baselines are dev's own
        model.get("serving", {}).pop("model_package_arn", None)
        (model.get("serving", {}).get("monitoring") or {}).pop("baseline_prefix", None)
    data[QA] = qa
    for name, env in data.items():
        if name.startswith(("prod", "staging")):
            if name.startswith("staging"):  # another account: a version the user promoted there is in the old one
                env["account"] = "555555555555"
                for model in (env.get("models") or {}).values():
                    (model.get("serving") or {}).pop("model_package_arn", None)
                    (((model.get("serving") or {}).get("monitoring")) or {}).pop("baseline_prefix", None)
            else:  # prod serves each model on its fleet, the version promote would name (or the user's own)
                for model_name, model in (env.get("models") or {}).items():
                    serving = model.setdefault("serving", {}) or {}
                    model["serving"] = serving
                    serving.setdefault("model_package_arn", f"arn:aws:sagemaker:{env['region']}:{env['account']}:model-package/"
                                                            f"{naming.model_package_group_name(name, model_name)}/1")
                    if serving.get("mode", "instances") == "instances" and serving.get("monitoring", {}).get("enabled", True):
                        serving.setdefault("monitoring", {}).setdefault(
                            "baseline_prefix", naming.baseline_prefix(name, model_name, "exec-1"))
            continue
        # A model of the team's own; a model version to serve, as `promote` would name it; and, where the environment
        # takes them (its region, its tags), a notebook more, GPU training and the team in Studio.
        models = env.setdefault("models", {}) or {}
        env["models"] = models
        models[CHURN] = {"code_dir": str(team_code.relative_to(ROOT)),
                         "dataset": {"data_file": str(team_csv), "label_column": "churned", "positive_label": "yes",
                                     "categorical_columns": ["plan"], "drop_columns": ["customer_id"]},
                         "serving": {"mode": "serverless", "data_capture": {"enabled": False}, "monitoring": {"enabled": False}}}
        if name == QA:  # there, the team's data is already in S3, outside the platform's buckets
            models[CHURN]["dataset"]["data_file"] = TEAM_S3_DATA
        for model_name, model in models.items():
            serving = model.setdefault("serving", {})
            serving["model_package_arn"] = (f"arn:aws:sagemaker:{env['region']}:{env['account']}:model-package/"
                                            f"{naming.model_package_group_name(name, model_name)}/1")
            if serving.get("mode", "instances") == "instances" and serving.get("monitoring", {}).get("enabled", True):
                serving.setdefault("monitoring", {})["baseline_prefix"] = naming.baseline_prefix(name, model_name, "exec-1")
        for what, change in OPTIONAL_EDITS.items():
            candidate = yaml.safe_load(yaml.safe_dump(env))
            change(candidate)
            problem = _refusal(name, candidate)
            if problem:
                SKIPPED[name, what] = problem
            else:
                data[name] = env = candidate
    for name, env in data.items():
        (target / f"{name}.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    return target


def _notebook(env: dict) -> None:
    env.setdefault("notebooks", []).append({"name": NOTEBOOK, "instance_type": "ml.t3.large", "volume_size_gb": 10, "idle_minutes": 30})


def _gpu_training(env: dict) -> None:
    for model in env["models"].values():
        model.setdefault("training", {})["instance_types"] = ["ml.g5.xlarge"]


def _studio_team(env: dict) -> None:
    """The churn team in Studio, beside whatever teams the file has."""
    studio = env.setdefault("studio", {}) or {}
    env["studio"] = studio
    studio["enabled"] = True
    studio.setdefault("teams", {})[TEAM] = {"members": [MEMBER], "models": [CHURN], "instance_types": ["ml.m5.large"]}


#: Edits made where the environment takes them: a region may lack notebook instances or Studio, and Studio takes tag
#: values of at most 128 characters. What the config refused is kept in SKIPPED, (environment, edit) -> its message.
OPTIONAL_EDITS = {"notebook": _notebook, "gpu training": _gpu_training, "studio": _studio_team}
SKIPPED: dict[tuple[str, str], str] = {}


def _refusal(name: str, env: dict) -> str:
    """The loader's message for this environment file, or '' where it loads."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"{name}.yaml"
        path.write_text(yaml.safe_dump(env, sort_keys=False))
        try:
            load_environment(path)
        except ConfigError as error:
            return str(error)
    return ""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, team_code: Path) -> tuple[Assembly, list[str]]:
    config_dir = customized(tmp_path_factory.mktemp("config") / "config", team_code)
    names = sorted(env.name for env in load_environments(config_dir))
    assembly = synth_app(tmp_path_factory.mktemp("cdk.out"), config_dir)
    assembly.config_dir = config_dir  # type: ignore[attr-defined]  # read back by assembly_config
    return assembly, names


def assembly_config(assembly: Assembly) -> Path:
    return assembly.config_dir  # type: ignore[attr-defined]


def every_stack(app: tuple[Assembly, list[str]]):
    assembly, names = app
    for env in names:
        for stack in assembly.stack_names(env):
            yield env, stack, assembly.template_json(env, stack)


def test_the_customized_config_synthesizes_every_environment_with_its_stacks(app):
    assembly, names = app
    assert QA in names
    environments = {env.name: env for env in load_environments(assembly_config(assembly))}
    for env in names:
        stacks = set(assembly.stack_names(env))
        assert {naming.DATA_STACK, naming.NETWORK_STACK, naming.ROLES_STACK} <= stacks
        # Each model of the catalog has its own training stack, and a serving stack once it names a version.
        for model in environments[env].models.values():
            assert naming.model_stack_id(model.name, naming.TRAINING_STACK) in stacks
            assert (naming.model_stack_id(model.name, naming.SERVING_STACK) in stacks) == bool(model.serving.model_package_arn)
        assert len([s for s in stacks if s.endswith(naming.TRAINING_STACK)]) == len(environments[env].models)


def test_studio_is_vpc_only_encrypted_and_each_teams_role_reaches_only_its_models(app):
    """For every environment with Studio: the domain is VPC-only on the data key with idle shutdown on; every member has a
    profile with their team's role and a private space, both tagged with the team; a team role's S3 and SageMaker
    resources name only its own models (and its team's scratch prefix, and MLflow's shared store, read-only)."""
    assembly, names = app
    environments = {env.name: env for env in load_environments(assembly_config(assembly))}
    studios = [env for env in names if environments[env].studio.enabled]
    assert QA in studios or (QA, "studio") in SKIPPED  # where the config refused it, with the loader's reason
    for env in studios:
        cfg, template = environments[env], assembly.template_json(env, naming.STUDIO_STACK)
        (domain,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Domain"]
        assert (domain["AppNetworkAccessType"], domain["KmsKeyId"]) == ("VpcOnly", {"Fn::ImportValue": naming.data_key_export(env)})
        for settings in (domain["DefaultUserSettings"], domain["DefaultSpaceSettings"]):
            assert settings["SecurityGroups"]
            assert settings["JupyterLabAppSettings"]["AppLifecycleManagement"]["IdleSettings"]["LifecycleManagement"] == "ENABLED"
        profiles = {r["Properties"]["UserProfileName"]: r["Properties"] for r in template["Resources"].values()
                    if r["Type"] == "AWS::SageMaker::UserProfile"}
        for team, config in cfg.studio.teams.items():
            tag = {"Key": naming.STUDIO_TEAM_TAG, "Value": team}
            others = [m for m in cfg.models if m not in config.models]
            roles = set()
            for member in config.members:
                assert tag in profiles[member]["Tags"]
                roles.add(profiles[member]["UserSettings"]["ExecutionRole"]["Fn::GetAtt"][0])
            (role,) = roles
            policy = json.dumps([r["Properties"]["PolicyDocument"] for r in template["Resources"].values()
                                 if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]])
            for model in others:  # another team's model appears nowhere in this role's grants
                for text in (f"{naming.pipeline_runs_prefix(env, model)}/", f'"/{model}/*"'):
                    assert text not in policy, (env, team, model, text)
                # Its pipeline's name, whole: dev-churn must not match dev-churners (a team's own scratch names).
                pipeline = re.compile(re.escape(naming.pipeline_name(env, model)) + r"(?![a-z0-9-])")
                assert not pipeline.search(policy), (env, team, model, pipeline.pattern)
            for model in config.models:  # and its own do: raw data, runs, pipeline, registry group
                for text in (f"{naming.pipeline_runs_prefix(env, model)}/", f'"/{model}/*"', naming.model_package_group_name(env, model)):
                    assert text in policy, (env, team, model, text)
        for space in (r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Space"):
            assert space["SpaceSharingSettings"] == {"SharingType": "Private"}
            assert any(t["Key"] == naming.STUDIO_TEAM_TAG for t in space["Tags"])


def test_buckets_are_encrypted_private_and_versioned(app):
    for env, stack, template in every_stack(app):
        for logical_id, bucket in resources(template, "AWS::S3::Bucket").items():
            props = bucket["Properties"]
            assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], f"{env}/{stack}/{logical_id}"
            assert all(props["PublicAccessBlockConfiguration"].values()), f"{env}/{stack}/{logical_id}"
            assert props["VersioningConfiguration"] == {"Status": "Enabled"}, f"{env}/{stack}/{logical_id}"


def test_notebooks_have_no_internet_no_root_and_an_encrypted_volume(app):
    found = 0
    for env, _stack, template in every_stack(app):
        for notebook in resources(template, "AWS::SageMaker::NotebookInstance").values():
            props = notebook["Properties"]
            assert (props["DirectInternetAccess"], props["RootAccess"]) == ("Disabled", "Disabled"), env
            assert props["KmsKeyId"] and props["NotebookInstanceName"].startswith(f"{env}-"), env
            found += 1
    assert found >= 1  # the customization added one


def test_no_managed_full_access_policy_and_no_ingress_from_the_internet(app):
    for env, stack, template in every_stack(app):
        for role in resources(template, "AWS::IAM::Role").values():
            assert not any("FullAccess" in str(arn) for arn in role["Properties"].get("ManagedPolicyArns", [])), env
        for group in resources(template, "AWS::EC2::SecurityGroup").values():
            for rule in group["Properties"].get("SecurityGroupIngress", []):
                assert rule.get("CidrIp") != "0.0.0.0/0", f"{env}/{stack}"


def test_names_come_from_the_naming_module(app):
    """Every model's resources are named for its environment and itself, and its registry group's logical ID
    depends on its name alone (adding a model renames nothing of another)."""
    assembly, _ = app
    environments = {env.name: env for env in load_environments(assembly_config(assembly))}
    models = {name: list(env.models) for name, env in environments.items()}
    for env, stack, template in every_stack(app):
        model = next((m for m in models[env] if stack.startswith(f"{m}-")), None)
        for pipeline in resources(template, "AWS::SageMaker::Pipeline").values():
            assert model and pipeline["Properties"]["PipelineName"] == naming.pipeline_name(env, model)
        for endpoint in resources(template, "AWS::SageMaker::Endpoint").values():
            assert model and endpoint["Properties"]["EndpointName"] == naming.endpoint_name(env, model)
        groups = resources(template, "AWS::SageMaker::ModelPackageGroup")
        if stack == naming.DATA_STACK:
            assert {k: g["Properties"]["ModelPackageGroupName"] for k, g in groups.items()} == {
                environments[env].models[m].registry_id: naming.model_package_group_name(env, m) for m in models[env]}
        else:
            assert not groups


def test_every_iam_statement_works_as_the_service_authorization_reference_says(app):
    assembly, names = app
    problems = [f"{where}: {problem}" for env in names for stack in assembly.stack_names(env)
                for where, statement in statements(assembly, env, stack) for problem in problems_of(statement)]
    assert not problems, "\n".join(problems)


def ec2_description_pattern(shape: str) -> re.Pattern[str]:
    """What EC2 takes in a description, read from botocore's EC2 model: its documentation gives the set, and no pattern
    ("Constraints: Up to 255 characters in length. Allowed characters are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=;{}!$*"
    on UserIdGroupPair.Description, for a rule naming a security group). cfn-lint's schemas for standalone rules carry no
    pattern and the emulator takes anything, so only this catches an apostrophe before a real deploy refuses it."""
    import html

    import botocore.session

    model = botocore.session.get_session().get_service_model("ec2").shape_for(shape).members
    doc = html.unescape(model["Description"].documentation if "Description" in model else "")
    (allowed,) = re.findall(r"(?:Allowed|Valid) characters(?: are|:) a-z, A-Z, 0-9, spaces, and (\S+)</p>", doc)
    return re.compile(f"[a-zA-Z0-9 {re.escape(allowed)}]{{0,255}}")


def test_security_group_and_rule_descriptions_use_only_the_characters_ec2_takes(app):
    """Every security group's description and every rule's, inline or standalone, whatever the config names
    (environments, teams, notebooks): EC2 refuses the stack's resource otherwise, at deploy time only."""
    group = ec2_description_pattern("CreateSecurityGroupRequest")
    # The strictest rule set: a rule naming a group or a prefix list (IpRange's also takes "&").
    rule = ec2_description_pattern("UserIdGroupPair")
    assert "'" not in rule.pattern and "&" not in rule.pattern and "&" in group.pattern

    def text(value: object) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Fn::Join" in value:
            return value["Fn::Join"][0].join(text(v) for v in value["Fn::Join"][1])
        return "x"  # a reference: a name or an id, of the allowed characters

    checked, wrong = 0, []
    for env, stack, template in every_stack(app):
        for logical, resource in template.get("Resources", {}).items():
            props, kind = resource.get("Properties", {}), resource["Type"]
            found = []
            if kind == "AWS::EC2::SecurityGroup":
                found = [(group, props.get("GroupDescription", ""))] + [
                    (rule, r.get("Description", "")) for r in props.get("SecurityGroupIngress", []) + props.get("SecurityGroupEgress", [])]
            elif kind in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
                found = [(rule, props.get("Description", ""))]
            for pattern, value in found:
                checked += 1
                if not pattern.fullmatch(text(value)):
                    wrong.append(f"{env}/{stack} {logical}: {text(value)!r}")
    assert checked > 20 and not wrong, "\n".join(wrong)


def test_cfn_lint_finds_nothing(app):
    assembly, _ = app
    templates = sorted(str(p) for p in assembly.outdir.glob("assembly-*/*.template.json"))
    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", "--", *templates],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_a_broken_user_config_gives_one_line_per_problem(tmp_path, team_code):
    config_dir = customized(tmp_path / "config", team_code)
    first = sorted(config_dir.glob("*.yaml"))[0]
    data = yaml.safe_load(first.read_text())
    data["regoin"] = data.pop("region")
    first.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as excinfo:
        load_environments(config_dir)
    assert excinfo.value.problems
    assert all("\n" not in p and p.startswith(str(first)) for p in excinfo.value.problems)
    assert any("regoin: unknown key; did you mean region?" in p for p in excinfo.value.problems)


def test_a_model_ships_its_own_training_code_folder_and_the_others_the_bundled_one(app):
    """Each model's pipeline points at its own asset: the churn team's folder for churn, and each other model its own
    code_dir (training_scripts/ unless the user's config names a folder of its own)."""
    assembly, _ = app

    def shipped_train_py(stack: str) -> str:
        template = assembly.template_json(QA, stack)
        (pipeline,) = resources(template, "AWS::SageMaker::Pipeline").values()
        body = "".join(p if isinstance(p, str) else "" for p in pipeline["Properties"]["PipelineDefinition"]
                       ["PipelineDefinitionBody"]["Fn::Join"][1])
        asset_hash = body.split("sagemaker_submit_directory\":\"/opt/ml/input/data/code/")[1].split(".gz")[0]
        (asset,) = assembly.outdir.glob(f"asset.{asset_hash}*")  # the bundled archive, or a folder holding it
        (archive,) = [asset] if asset.is_file() else list(asset.glob("*.tar.gz"))
        with tarfile.open(archive) as tar:
            member = tar.extractfile("train.py")
            assert member is not None
            return member.read().decode()

    churn = shipped_train_py(naming.model_stack_id(CHURN, naming.TRAINING_STACK))
    assert churn.endswith("# the churn team's change\n")
    qa = next(env for env in load_environments(assembly_config(assembly)) if env.name == QA)
    for name, model in qa.models.items():  # the others: each its own code_dir's (training_scripts/ unless the user set one)
        if name != CHURN:
            assert shipped_train_py(naming.model_stack_id(name, naming.TRAINING_STACK)) == (ROOT / model.code_dir / "train.py").read_text()


def test_no_models_stack_puts_a_policy_on_a_shared_role(app):
    """A model's pipeline, jobs and endpoint run as roles of the model's own stacks: no model's stack grants anything to
    a role of another stack (an imported role). So models add nothing to a shared role's IAM quota, two models cannot
    overwrite each other's inline policy on one role (IAM keys them by name), and destroying one model removes no
    grant another uses."""
    assembly, names = app
    checked = 0
    for env in names:
        for stack in assembly.stack_names(env):
            if not stack.endswith((naming.TRAINING_STACK, naming.SERVING_STACK)):
                continue
            for logical_id, policy in resources(assembly.template_json(env, stack), "AWS::IAM::Policy").items():
                for role in policy["Properties"].get("Roles", []):
                    assert "Fn::ImportValue" not in json.dumps(role), f"{env}/{stack}/{logical_id} puts a policy on {role}"
                    checked += 1
    assert checked > len(names)


def test_every_role_fits_iams_policy_quotas(app):
    """Each Studio member adds to a team's role, and a role's policies may span stacks; IAM refuses a role past its
    quotas only when the stack that crosses the line deploys. `cdk synth` checks
    (app.py, stacks/shared/quotas.py): the team's config with the customizations must pass."""
    from stacks.shared.quotas import quota_problems

    assembly, _ = app
    assert quota_problems(assembly.outdir) == []


def test_the_region_check_knows_every_resource_type_a_region_may_lack(app):
    """The config refuses a region whose CloudFormation lacks a SageMaker type the environment declares
    (EnvironmentConfig.sagemaker_resource_types, against cfn-lint's region data). That list must be exactly the
    SageMaker types synth writes, and every other type synth writes must exist in every region the region field
    takes, or a region missing it would pass the config and fail at deploy."""
    from config.environment import cloudformation_types_in, sagemaker_regions

    assembly, names = app
    environments = {env.name: env for env in load_environments(assembly_config(assembly))}
    everywhere = frozenset.intersection(*(types for region in sagemaker_regions()
                                          if (types := cloudformation_types_in(region)) is not None))
    for env in names:
        used = {r["Type"] for stack in assembly.stack_names(env) for r in assembly.template_json(env, stack)["Resources"].values()}
        declared = set(environments[env].sagemaker_resource_types())
        assert {t for t in used if t.startswith("AWS::SageMaker::")} == declared, env
        unchecked = {t for t in used - declared if t.startswith("AWS::") and t not in everywhere}
        assert not unchecked, f"{env}: {sorted(unchecked)} are missing from some region the config accepts"


def role_statements(template: dict, logical_prefix: str) -> list[dict]:
    """The statements of a stack's own role whose logical id starts with ``logical_prefix``."""
    (role_id,) = [k for k, r in resources(template, "AWS::IAM::Role").items() if k.startswith(logical_prefix)]
    return [s for p in resources(template, "AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def jobs_role_statements(template: dict) -> list[dict]:
    """The statements of a TrainingPipeline stack's own jobs role."""
    return role_statements(template, "JobsRole")


def s3_objects(statements: list[dict]) -> dict[str, set[str]]:
    """The objects of the environment's buckets the statements read and write, as '<bucket export>/<key pattern>'."""
    objects: dict[str, set[str]] = {"read": set(), "write": set()}
    for statement in statements:
        acts = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        kinds = [kind for kind, prefixes in (("read", ("s3:GetObject",)), ("write", ("s3:Put", "s3:Delete")))
                 if any(a.startswith(prefixes) for a in acts)]
        for resource in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]):
            for kind in kinds if "Fn::Join" in resource else ():
                imported, suffix = resource["Fn::Join"][1]
                objects[kind].add(f"{imported['Fn::ImportValue']}{suffix}")
    return objects


def test_a_model_reads_its_s3_data_file_where_it_is_and_the_jobs_role_that_object_only(app):
    assembly, _ = app
    template = assembly.template_json(QA, naming.model_stack_id(CHURN, naming.TRAINING_STACK))
    (pipeline,) = resources(template, "AWS::SageMaker::Pipeline").values()
    body = "".join(p if isinstance(p, str) else "" for p in pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Join"][1])
    assert f'"Name":"InputDataUri","Type":"String","DefaultValue":"{TEAM_S3_DATA}"' in body
    statements = {s["Sid"]: s for s in jobs_role_statements(template) if "Sid" in s}
    bucket, key = TEAM_S3_DATA.removeprefix("s3://").split("/", 1)
    assert statements["ReadInputData"]["Action"] == "s3:GetObject"
    assert statements["ReadInputData"]["Resource"] == f"arn:aws:s3:::{bucket}/{key}"  # the stack's partition, resolved
    assert statements["ListInputData"]["Condition"] == {"StringEquals": {"s3:prefix": [key]}}
    assert [s for s in jobs_role_statements(template) if bucket in json.dumps(s)] == [
        statements["ReadInputData"], statements["ListInputData"]]


def test_each_models_jobs_reach_only_that_models_data_and_runs(app):
    """Whatever the catalog: every model's pipeline steps run as a role of the model's own stack, which reads objects
    only under the model's prefix of its environment's raw-data bucket (its data_file's object where that is
    elsewhere in S3, and its code object) and writes only under the model's runs prefix (and MLflow's store with
    tracking on). So no model's code, a team's own code_dir among them, reaches another model's data or models."""
    assembly, names = app
    environments = {env.name: env for env in load_environments(assembly_config(assembly))}
    checked = 0
    for env in names:
        cfg = environments[env]
        for model in cfg.models.values():
            template = assembly.template_json(env, naming.model_stack_id(model.name, naming.TRAINING_STACK))
            (role_id,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith("JobsRole")]
            (pipeline,) = resources(template, "AWS::SageMaker::Pipeline").values()
            parts = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Join"][1]
            roles = [p for p in parts if isinstance(p, dict) and "Role" in json.dumps(p)]
            assert roles and all(p == {"Fn::GetAtt": [role_id, "Arn"]} for p in roles), (env, model.name, roles)
            objects = s3_objects(jobs_role_statements(template))
            raw, artifacts = naming.raw_data_bucket_export(env), naming.model_artifacts_bucket_export(env)
            writes = {f"{artifacts}/{naming.pipeline_runs_prefix(env, model.name)}/*"} | (
                {f"{artifacts}/{naming.MLFLOW_ARTIFACTS_PREFIX}/*"} if cfg.tracking.enabled else set())
            assert objects == {"read": {f"{raw}/{model.name}/*"} | writes, "write": writes}, (env, model.name)
            checked += 1
    assert checked == sum(len(environments[env].models) for env in names) > 0


def test_each_served_models_endpoint_reads_only_that_models_versions(app):
    """Whatever the catalog: every served model's endpoint runs as a role of its own Serving stack, which reads objects
    only under the model's runs prefix (where its group's versions keep their artifacts), writes only its own
    captures (with data capture on an instance fleet) and lists no bucket. So no model's inference code, a team's own
    code_dir among them, reads another model's artifacts or writes into another endpoint's captures."""
    assembly, names = app
    environments = {env.name: env for env in load_environments(assembly_config(assembly))}
    checked = 0
    for env in names:
        for model in environments[env].models.values():
            if not model.serving.model_package_arn:
                continue
            template = assembly.template_json(env, naming.model_stack_id(model.name, naming.SERVING_STACK))
            (role_id,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith("ModelRole")]
            (sagemaker_model,) = resources(template, "AWS::SageMaker::Model").values()
            assert sagemaker_model["Properties"]["ExecutionRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}, (env, model.name)
            statements = role_statements(template, "ModelRole")
            artifacts = naming.model_artifacts_bucket_export(env)
            capturing = model.serving.mode == "instances" and model.serving.data_capture.enabled
            endpoint = naming.endpoint_name(env, model.name)
            writes = {f"{artifacts}/{naming.data_capture_prefix(endpoint)}/*"} if capturing else set()
            assert s3_objects(statements) == {"read": {f"{artifacts}/{naming.pipeline_runs_prefix(env, model.name)}/*"},
                                              "write": writes}, (env, model.name)
            assert not [a for st in statements for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
                        if a.startswith(("s3:List", "s3:*", "iam:"))], (env, model.name)
            checked += 1
    assert checked == sum(bool(m.serving.model_package_arn) for env in names for m in environments[env].models.values()) > 0


IMAGE = re.compile(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([a-z0-9._/-]+)")


def pulls(statements: list[dict]) -> set[str]:
    """The repositories (':ecr:<region>:<account>:repository/<name>' ends of ARNs) the statements may pull from."""
    found: set[str] = set()
    for statement in statements:
        if "ecr:BatchGetImage" in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]):
            for resource in ([statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]):
                found.add(":ecr:" + resource.split(":ecr:", 1)[1] if isinstance(resource, str) else json.dumps(resource))
    return found


def test_every_image_a_models_jobs_and_endpoint_run_is_one_their_role_may_pull(app):
    """SageMaker pulls a job's or a model's image as its execution role, AWS's own images too (an endpoint fails with
    "The role ... does not have BatchGetImage permission for the image", aws/deep-learning-containers#759). Whatever
    the catalog: every image a model's pipeline names (XGBoost, Debugger's rules) is a repository its jobs role may
    pull, its endpoint's role may pull the XGBoost repository its versions were registered with, and neither may
    pull any other repository."""
    from catalog.images import repository, xgboost_image

    assembly, names = app
    environments = {env.name: env for env in load_environments(assembly_config(assembly))}
    checked = 0
    for env in names:
        for model in environments[env].models.values():
            template = assembly.template_json(env, naming.model_stack_id(model.name, naming.TRAINING_STACK))
            (pipeline,) = resources(template, "AWS::SageMaker::Pipeline").values()
            body = json.dumps(pipeline["Properties"]["PipelineDefinition"])
            images = {f":ecr:{region}:{account}:repository/{name}" for account, region, name in IMAGE.findall(body)}
            assert images and pulls(jobs_role_statements(template)) == images, (env, model.name)
            if model.serving.model_package_arn:
                served = assembly.template_json(env, naming.model_stack_id(model.name, naming.SERVING_STACK))
                account, region, name = repository(xgboost_image(environments[env].region, model.framework_version))
                assert pulls(role_statements(served, "ModelRole")) == {f":ecr:{region}:{account}:repository/{name}"}, (env, model.name)
            checked += 1
    assert checked == sum(len(environments[env].models) for env in names) > 0


def git_ignored_code(config_dir: Path) -> list[str]:
    """The entry points of each model's code_dir in config_dir that git ignores here, as '<env>.<model>: <path>'."""
    wanted = {f"{model.code_dir}/{entry}": f"{env.name}.{name}" for env in load_environments(config_dir)
              for name, model in env.models.items() for entry in ENTRY_POINTS}
    result = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "--", *wanted], capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1), result.stderr  # 1: none ignored
    return [f"{wanted[path]}: {path}" for path in result.stdout.splitlines()]


def test_every_models_training_code_is_in_what_git_delivers(app, team_code):
    """The delivery pipeline builds from the repository: a code_dir that git ignores (build/, a venv, a folder in
    .gitignore) synthesizes on the machine that has it and is missing from the pipeline's source, so its synth
    fails there. The loader cannot see git (the pipeline's source has no .git); this test does, in every checkout
    `make unit` runs in. It passes on config/ as it is, and finds the test team's folder, which is under build/."""
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--is-inside-work-tree"], capture_output=True).returncode:
        # The pipeline's own source (a CodeConnections zip, no .git): what is there is what git delivered.
        assert not (ROOT / ".git").exists()
        return
    assert git_ignored_code(USER_CONFIG_DIR) == [], "git ignores these; commit the folder or move it out of .gitignore"
    team = team_code.relative_to(ROOT)
    assert git_ignored_code(assembly_config(app[0])) == [f"{QA}.{CHURN}: {team}/{entry}" for entry in ENTRY_POINTS]


def _exports(template: dict) -> dict[str, object]:
    """Export name -> the value it exports."""
    return {output["Export"]["Name"]: output["Value"] for output in template.get("Outputs", {}).values() if "Export" in output}


def test_turning_off_an_optional_stack_removes_no_export_it_imports(app, tmp_path_factory):
    """Notebooks, Studio and a model's Serving stack are optional: `notebooks: []`, `studio.enabled: false` and an
    unset `serving.model_package_arn` leave them out of the app, but `cdk deploy` does not delete a stack the app no
    longer has, so it keeps importing what it imported. CloudFormation refuses to remove an export that a deployed
    stack imports ("Export ... cannot be deleted as it is in use by ...": Fn::ImportValue's restrictions in the
    CloudFormation User Guide), which would fail the update of the very first stack deployed. So whatever an optional
    stack imports stays exported when it is turned off; only `cdk destroy` of that stack (docs/configuration.md) ends it."""
    assembly, names = app
    config_dir = assembly_config(assembly)
    stripped = tmp_path_factory.mktemp("config-stripped") / "config"
    stripped.mkdir()
    for path in sorted(config_dir.glob("*.yaml")):
        env = yaml.safe_load(path.read_text())
        if path.stem in names:
            env["notebooks"] = []
            env["studio"] = {**(env.get("studio") or {}), "enabled": False}
            for model in (env.get("models") or {}).values():
                (model.get("serving") or {}).pop("model_package_arn", None)
        (stripped / path.name).write_text(yaml.safe_dump(env, sort_keys=False))
    after = synth_app(tmp_path_factory.mktemp("cdk.out-stripped"), stripped)
    optional = (naming.NOTEBOOKS_STACK, naming.STUDIO_STACK, naming.SERVING_STACK)
    checked, problems = 0, []
    for env in names:
        remaining = set(after.stack_names(env))
        for stack in assembly.stack_names(env):
            if stack in remaining:
                before, now = _exports(assembly.template_json(env, stack)), _exports(after.template_json(env, stack))
                problems += [f"{env}/{stack}: {name}" for name in sorted(before) if before[name] != now.get(name)]
                checked += 1
            else:
                assert stack.endswith(optional), (env, stack)
    assert checked and not problems, "exports dropped or changed once optional stacks are off:\n" + "\n".join(problems)


def _pointer(properties: dict, pointer: str) -> object:
    """The value at a create-only property's JSON pointer ('/properties/VpcConfig/SubnetIds'), None where absent."""
    value: object = {"properties": properties}
    for part in pointer.strip("/").split("/"):
        if part == "*":  # a list of objects: compare the whole list
            return value
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _named(cfn_type: str, properties: dict) -> list[str]:
    """The create-only *Name properties this resource sets: CloudFormation can replace it only under a new name."""
    schema = resource_schema(cfn_type)
    return [p for p in schema.get("createOnlyProperties", []) if p.count("/") == 2 and p.endswith("Name")
            and _pointer(properties, p) is not None]


def ordinary_changes(config_dir: Path, target: Path, names: list[str]) -> Path:
    """The customized config after the edits an operator makes in the ordinary course: a tag edited and one added (as
    the limits allow),
    NAT and tracking turned off where nothing needs them (packages dropped), a newer version of every served model, a
    larger fleet."""
    target.mkdir(parents=True)
    fleets: list[str] = []
    for path in sorted(config_dir.glob("*.yaml")):
        env = yaml.safe_load(path.read_text())
        if path.stem in names:
            tags = dict(env.get("tags") or {})
            if tags:  # one value edited, at its length (the config may be at the length limit)
                key, value = next(iter(tags.items()))
                tags[key] = str(value)[:-1] + ("y" if str(value).endswith("x") else "x")
            if len(tags) < 40 and "cost-center" not in {k.lower() for k in tags}:  # and one added, where one fits
                tags["cost-center"] = "ml-0042"
            env["tags"] = tags
            if not path.stem.startswith(("prod", "staging")):
                env["network"]["nat_gateways"] = 0
                for holder in [*env.get("notebooks", []), *((env.get("studio") or {}).get("teams") or {}).values()]:
                    holder.pop("packages", None)
                env.setdefault("tracking", {})["enabled"] = False
            for model in (env.get("models") or {}).values():
                serving = model.get("serving") or {}
                if serving.get("model_package_arn"):
                    serving["model_package_arn"] = re.sub(r"/\d+$", "/2", serving["model_package_arn"])
                    if serving.get("mode", "instances") == "instances":
                        count = min(serving.get("initial_instance_count", 2) + 1, 100)
                        scaling = serving.setdefault("autoscaling", {}) or {}
                        serving["autoscaling"] = scaling
                        scaling["max_instances"] = max(scaling.get("max_instances", 4), count)
                        serving["initial_instance_count"] = count
                        fleets.append(path.stem)
        (target / path.name).write_text(yaml.safe_dump(env, sort_keys=False))
    # Every served model on instances gets the larger fleet (prod serves every model, customized above).
    served = sorted(e.name for e in load_environments(config_dir) if e.name in names for m in e.models.values()
                    if m.serving.mode == "instances" and m.serving.model_package_arn)
    assert fleets == served, (fleets, served)
    return target


def test_ordinary_config_changes_replace_no_named_resource_and_no_exported_one(app, tmp_path_factory):
    """CloudFormation cannot replace a resource that has a custom name ("CloudFormation cannot update a stack when a
    custom-named resource requires replacing": the Name type page of the CloudFormation User Guide), nor one whose
    id another stack imports. A change to a create-only property (CloudFormation's registry schema of the type, as
    cfn-lint ships it) replaces the resource. So across the ordinary edits above, every resource in both syntheses
    either keeps its create-only properties, or is renamed with them (the lifecycle configs' digests), or is unnamed
    and unexported (a model, an endpoint config); and no export that a deployed stack imports is dropped or changed
    (CloudFormation refuses that too, and the producer deploys before the stacks that import it)."""
    assembly, names = app
    changed = ordinary_changes(assembly_config(assembly), tmp_path_factory.mktemp("config-ordinary") / "config", names)
    after = synth_app(tmp_path_factory.mktemp("cdk.out-ordinary"), changed)
    problems, replaced = [], 0
    for env in names:
        remaining = set(after.stack_names(env))
        # What the deployed stacks import: an export they import must outlive this update (its producer deploys first).
        imported = json.dumps([assembly.template_json(env, stack)["Resources"] for stack in assembly.stack_names(env)])
        for stack in assembly.stack_names(env):
            if stack not in remaining:
                continue
            before_template, after_template = assembly.template_json(env, stack), after.template_json(env, stack)
            before_exports, after_exports = _exports(before_template), _exports(after_template)
            problems += [f"{env}/{stack}: export {name} dropped or changed while deployed stacks import it"
                         for name in sorted(before_exports) if before_exports[name] != after_exports.get(name)
                         and json.dumps({"Fn::ImportValue": name}) in imported]
            exported = json.dumps([o["Value"] for o in before_template.get("Outputs", {}).values() if "Export" in o])
            after_resources = after_template["Resources"]
            # A named resource under a new logical id is created before the old one is deleted: its name is taken.
            gone = {(r["Type"], json.dumps(_pointer(r.get("Properties", {}), p))) for i, r in before_template["Resources"].items()
                    if i not in after_resources for p in _named(r["Type"], r.get("Properties", {}))}
            problems += [f"{env}/{stack} {i} ({r['Type']}): a new logical id for the name of a removed one"
                         for i, r in after_resources.items() if i not in before_template["Resources"]
                         and any((r["Type"], json.dumps(_pointer(r.get("Properties", {}), p))) in gone
                                 for p in _named(r["Type"], r.get("Properties", {})))]
            for logical_id, resource in before_template["Resources"].items():
                new = after_resources.get(logical_id)
                if new is None or new["Type"] != resource["Type"] or resource["Type"].startswith("Custom::"):
                    continue
                old_props, new_props = resource.get("Properties", {}), new.get("Properties", {})
                moved = [p for p in resource_schema(resource["Type"]).get("createOnlyProperties", [])
                         if _pointer(old_props, p) != _pointer(new_props, p)]
                if not moved:
                    continue
                replaced += 1
                names_kept = [p for p in _named(resource["Type"], old_props) if _pointer(old_props, p) == _pointer(new_props, p)]
                if names_kept:
                    problems.append(f"{env}/{stack} {logical_id} ({resource['Type']}): {moved} change under the same {names_kept}")
                if f'"{logical_id}"' in exported:
                    problems.append(f"{env}/{stack} {logical_id} ({resource['Type']}): {moved} change, and another stack imports it")
    assert replaced, "the edits replaced nothing: they no longer exercise this check"
    assert not problems, "an ordinary config change would fail the update:\n" + "\n".join(problems)
