"""Config validation: every bad value fails with one line naming file, field, value and what is allowed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from catalog.instance_types import notebook_instance_types
from config import ConfigError, load_environment, load_environments
from tests.helpers.configs import EXAMPLE, config_error, config_errors, example, like_example, own_code_dir, shipped, write_config
from tests.helpers.paths import CONFIG_DIR, ROOT

VALID = shipped("dev")


def with_notebook(**changes) -> dict:
    data = shipped("dev")
    data["notebooks"][0].update(changes)
    return data


def with_network(**changes) -> dict:
    data = shipped("dev")
    data["network"].update(changes)
    return data


def test_shipped_environments_load():
    envs = {e.name: e for e in load_environments(CONFIG_DIR)}
    assert sorted(envs) == ["dev", "prod", "staging"]
    assert envs["dev"].removal_policy == "destroy" and not envs["dev"].protected
    assert envs["staging"].removal_policy == envs["prod"].removal_policy == "retain"
    assert all(len(e.network.availability_zones) >= 2 for e in envs.values())


def test_config_objects_are_frozen():
    env = load_environment(CONFIG_DIR / "dev.yaml")
    with pytest.raises(ValidationError):
        env.region = "eu-west-1"


def test_notebook_types_come_from_botocore_model():
    types = notebook_instance_types()
    assert "ml.t3.medium" in types and "ml.g4dn.xlarge" in types
    assert len(types) > 100


def test_unknown_instance_type(tmp_path):
    message = config_error(tmp_path, with_notebook(instance_type="ml.t3.mediun"))
    assert "notebooks[0].instance_type = 'ml.t3.mediun'" in message
    assert "not a SageMaker notebook instance type" in message
    assert "did you mean ml.t3.medium" in message


def test_invented_gpu_type_is_rejected(tmp_path):
    message = config_error(tmp_path, with_notebook(instance_type="ml.g5.9000xlarge"))
    assert "'ml.g5.9000xlarge'" in message and "allowed:" in message


@pytest.mark.parametrize("size", [4, 16385, 0, -1])
def test_volume_outside_range(tmp_path, size):
    message = config_error(tmp_path, with_notebook(volume_size_gb=size))
    assert f"notebooks[0].volume_size_gb = {size}: must be an integer in 5..16384 GB" in message


@pytest.mark.parametrize("size", [5, 16384])
def test_volume_bounds_are_inclusive(tmp_path, size):
    env = load_environment(write_config(tmp_path, with_notebook(volume_size_gb=size)))
    assert env.notebooks[0].volume_size_gb == size


def test_negative_idle_time(tmp_path):
    message = config_error(tmp_path, with_notebook(idle_minutes=-5))
    assert "notebooks[0].idle_minutes = -5: must be an integer in 0..10080 minutes; 0 turns auto-stop off" in message


def test_non_integer_volume(tmp_path):
    message = config_error(tmp_path, with_notebook(volume_size_gb="20"))
    assert "notebooks[0].volume_size_gb = '20'" in message and "integer" in message


def test_unknown_key_is_a_typo_not_ignored(tmp_path):
    data = with_notebook()
    data["notebooks"][0]["idle_minuts"] = 30
    message = config_error(tmp_path, data)
    assert "notebooks[0].idle_minuts: unknown key" in message
    assert "allowed: availability_zone, idle_minutes, instance_type, name, packages, volume_size_gb" in message


@pytest.mark.parametrize(("path", "typo", "meant", "allowed"), [
    (("models", EXAMPLE, "dataset"), "positive_lable", "positive_label",
     "categorical_columns, data_file, drop_columns, label_column, missing_values, positive_label"),
    (("models", EXAMPLE, "training", "hyperparameters"), "early_stopping_round", "early_stopping_rounds",
     "colsample_bytree, early_stopping_rounds, eta, gamma"),
    (("studio", "teams", "health"), "membrs", "members", "instance_types, members, models, packages, volume_size_gb"),
])
def test_a_misspelt_key_in_a_named_block_gets_its_blocks_keys_and_a_suggestion(tmp_path, path, typo, meant, allowed):
    """Inside models.<model> and studio.teams.<team> the block's name is a step into its schema, not a field:
    the typo lists that block's keys (it used to say 'allowed: ' with none) and hides the missing-key line."""
    data = shipped("dev")
    block = data
    for part in path:
        block = block[part]
    block[typo] = block.pop(meant) if meant in block else 5
    message = config_error(tmp_path, data)
    assert f"{'.'.join(path)}.{typo}: unknown key; did you mean {meant}? (allowed: {allowed}" in message


def test_unknown_top_level_key(tmp_path):
    message = config_error(tmp_path, {**VALID, "regoin": "us-east-1"})
    assert ("regoin: unknown key; did you mean region? "
            "(allowed: account, compliance, data, gate_function, models, network, notebooks, region, removal_policy, studio, tags, "
            "tracking)") in message


def test_missing_required_field(tmp_path):
    data = dict(VALID)
    del data["region"]
    assert config_error(tmp_path, data).endswith("region: required field is missing")


def test_missing_nested_field(tmp_path):
    data = shipped("dev")
    del data["network"]["availability_zones"]
    assert "network.availability_zones: required field is missing" in config_error(tmp_path, data)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_protected_environment_cannot_destroy_its_data(tmp_path, env):
    # dev's file under a protected name: serverless serving is refused there too, on a line of its own.
    message, *serving = config_errors(tmp_path, {**VALID, "removal_policy": "destroy"}, name=env)
    assert f"removal_policy: 'destroy' would destroy the data key and buckets of {env}" in message
    assert "allowed in prod and staging* environments: retain" in message
    serverless = [name for name, model in VALID["models"].items() if model.get("serving", {}).get("mode") == "serverless"]
    assert serverless and len(serving) == len(serverless)
    for name, line in zip(serverless, serving, strict=True):
        assert f"models.{name}.serving.mode: 'serverless' has no GPU" in line


@pytest.mark.parametrize("env", ["production", "prodeu", "staging2"])
def test_names_derived_from_protected_ones_are_protected_too(tmp_path, env):
    message = config_errors(tmp_path, {**VALID, "removal_policy": "destroy"}, name=env)[0]
    assert f"removal_policy: 'destroy' would destroy the data key and buckets of {env}" in message


@pytest.mark.parametrize("file_name", ["Prod_EU", "dev-eu", "1dev"])
def test_file_name_must_be_an_environment_name(tmp_path, file_name):
    message = config_error(tmp_path, VALID, name=file_name)
    assert "the file name must be an environment name" in message


def test_yml_extension_is_refused_not_ignored(tmp_path):
    write_config(tmp_path, VALID)
    (tmp_path / "prod.yml").write_text("region: us-east-1\n")
    with pytest.raises(ConfigError, match=r"prod.yml: environment files end in .yaml \(rename it to prod.yaml\)"):
        load_environments(tmp_path)


def test_unhashable_yaml_key_is_a_config_error(tmp_path):
    message = config_error(tmp_path, "? [a, b]\n: c\n")
    assert "not valid YAML at line 1" in message and "a key must be a plain value, not list" in message


def test_reserved_tag_key_names_the_tag(tmp_path):
    message = config_error(tmp_path, {**VALID, "tags": {"aws:owner": "me"}})
    assert "tags.aws:owner = 'aws:owner': tag keys are 1-127" in message and "[key]" not in message
    assert "tag keys are 1-127 letters" in config_error(tmp_path, {**VALID, "tags": {"k" * 128: "v"}})  # EC2's API_Tag: 127


def test_tags_aws_would_refuse_fail_at_synth(tmp_path):
    """IAM's Tag.Value takes letters, numbers, spaces and _.:/=+-@ (docs.aws.amazon.com/IAM/latest/APIReference/
    API_Tag.html) and every resource at most 50 tags (the platform adds some of its own): cfn-lint or the deploy
    would refuse what passes here otherwise."""
    message = config_error(tmp_path, {**VALID, "tags": {"owner": "ML Platform (EU), team #42"}})
    assert message.endswith("tags.owner = 'ML Platform (EU), team #42': tag values are letters, numbers, spaces and _.:/=+-@; "
                            "'(' is not allowed (IAM's Tag.Value)"), message
    message = config_error(tmp_path, {**VALID, "tags": {f"cost-center-{n}": "x" for n in range(41)}})
    assert message.endswith("tags: 41 tags; AWS allows 50 a resource and the platform adds its own to some (Studio's, CDK's on "
                            "subnets) (allowed: at most 40)"), message
    assert load_environment(write_config(tmp_path, {**VALID, "tags": {"owner": "Zürich team 2", "cost": "a.b/c=d+e-f@g:h_i"}})).tags["cost"]


def test_studio_resources_take_shorter_tag_values_as_their_cloudformation_schemas_say(tmp_path):
    """CloudFormation's resource schemas, as cfn-lint ships them (cfnlint/data/schemas), cap tag values of
    Studio's resources at 128 characters; the config's limit with Studio on is that figure."""
    import json

    import cfnlint.data.schemas as schemas

    from config.environment import STUDIO_TAG_VALUE_MAX

    root = Path(schemas.__file__).parent
    region = json.loads((root / "providers" / "us-east-1.json").read_text())
    for kind in ("AWS::SageMaker::Domain", "AWS::SageMaker::UserProfile", "AWS::SageMaker::Space", "AWS::SageMaker::StudioLifecycleConfig"):
        (schema,) = (root / "resources").rglob(f"{region[kind]}*.json")
        assert json.loads(schema.read_text())["definitions"]["Tag"]["properties"]["Value"]["maxLength"] == STUDIO_TAG_VALUE_MAX
    data = shipped("dev")
    data["tags"] = {**data.get("tags", {}), "owner": "x" * 129}
    data["studio"] = {"enabled": True, "teams": {"a": {"members": ["dana"], "models": [next(iter(data["models"]))]}}}
    assert config_error(tmp_path, data).endswith("tags.owner: 129 characters; Studio's domain, user profiles and spaces take "
                                                     "tag values of at most 128 (allowed with studio.enabled: 128 characters)")
    data["studio"] = {"enabled": False}
    assert load_environment(write_config(tmp_path, data)).tags["owner"] == "x" * 129


@pytest.mark.parametrize("tags, message", [
    ({"Environment": "x"}, "tags.Environment: differs from 'environment' only in case"),
    ({"Owner": "a", "owner": "b"}, "tags.owner: differs from 'Owner' only in case"),
])
def test_tag_keys_that_differ_only_in_case_are_refused_as_iam_refuses_them(tmp_path, monkeypatch, tags, message):
    """The stage tags every resource with `environment`, and CDK tags the VPC's resources (its flow-log role among them)
    with `Name`: a config key spelled otherwise would give a role two keys IAM takes as one. moto's IAM refuses such a
    role as IAM does ("Duplicate tag keys found. Please note that Tag keys are case insensitive.")."""
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    refused = config_error(tmp_path, {**VALID, "tags": tags})
    assert message in refused and refused.endswith(
        "(allowed: one spelling per key; the platform's own 'environment' only as written)"), refused
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # moto's in-process mock answers AWS's own endpoints only
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        keys = {"environment": "dev", "Name": "vpc", **tags}
        with pytest.raises(ClientError, match="Tag keys are case insensitive"):
            iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}", Tags=[{"Key": k, "Value": v} for k, v in keys.items()])
    # As written, the platform's key replaces the platform's value: one key, accepted.
    assert load_environment(write_config(tmp_path, {**VALID, "tags": {"environment": "development"}})).tags


def test_studio_and_name_tag_keys_and_empty_tag_values_are_refused(tmp_path):
    """studio-team and studio-user decide which profile a person opens (stacks/foundation/studio_stack.py): a config tag
    on every resource would overwrite them. An empty value is refused by the CloudFormation schemas of Studio's
    resources (cfn-lint's copies: Tag.Value minLength 1)."""
    import json

    import cfnlint.data.schemas as schemas

    assert config_error(tmp_path, {**VALID, "tags": {"Studio-User": "x"}}).endswith(
        "tags.Studio-User: the platform tags Studio's roles, profiles and spaces with 'studio-user', which decides who "
        "opens which profile (allowed: another key)")
    assert config_error(tmp_path, {**VALID, "tags": {"team": ""}}).endswith("tags.team = '': must not be empty")
    for name in ("Name", "name"):  # CDK's own per VPC resource; a config Name would not win there, and IAM folds case
        assert config_error(tmp_path, {**VALID, "tags": {name: "x"}}).endswith(
            f"tags.{name}: CDK tags the VPC and its subnets, gateways and flow-log role with Name, each its own, and IAM "
            "takes tag keys without case (allowed: another key)")
    root = Path(schemas.__file__).parent
    region = json.loads((root / "providers" / "us-east-1.json").read_text())
    (schema,) = (root / "resources").rglob(f"{region['AWS::SageMaker::Domain']}*.json")
    assert json.loads(schema.read_text())["definitions"]["Tag"]["properties"]["Value"]["minLength"] == 1


def test_a_number_too_long_to_show_is_named_by_its_size_not_a_traceback(tmp_path):
    data = shipped("dev")
    data["network"]["nat_gateways"] = 10**90
    assert config_error(tmp_path, data).endswith("network.nat_gateways = <int of 91 digits>: must be an integer in 0..6")


def test_non_string_top_level_key(tmp_path):
    message = config_error(tmp_path, "1: x\n" + yaml.safe_dump(VALID))
    assert ": key 1 = 1:" in message


def test_quoted_number_is_explained(tmp_path):
    message = config_error(tmp_path, with_notebook(idle_minutes="60"))
    assert "notebooks[0].idle_minutes = '60': must be an integer (a quoted YAML value is text: leave the quotes off)" in message


@pytest.mark.parametrize("path, value, expected", [
    # YAML 1.1, which PyYAML reads, takes an exponent as a number only with a dot and a signed exponent.
    ("training.hyperparameters.eta", "1e-1", "hyperparameters.eta = '1e-1': must be a number (YAML reads 1e-1 as text, not as "
     "a number: write 0.1)"),
    ("training.hyperparameters.num_round", "1e3", "num_round = '1e3': must be an integer (YAML reads 1e3 as text, not as a number: "
     "write 1000)"),
    ("evaluation.min_auc", "0.7", "evaluation.min_auc = '0.7': must be a number (a quoted YAML value is text: leave the quotes off)"),
    ("training.hyperparameters.max_depth", 3.0, "max_depth = 3.0: must be an integer (write 3, not 3.0)"),
    ("training.hyperparameters.max_depth", None, "max_depth = None: must be an integer (the key has no value)"),
])
def test_a_value_that_is_not_the_number_a_field_wants_says_why(tmp_path, path, value, expected):
    assert expected in config_error(tmp_path, with_pipeline(path, value))


def test_the_suggested_spelling_of_an_exponent_is_a_number_to_yaml():
    """What the message tells a user to write must read back as the number (PyYAML, YAML 1.1)."""
    from config.loader import _why_not_a_number

    for text, number in [("1e-1", 0.1), ("1e-5", 1e-5), ("15e-6", 1.5e-5), ("25e6", 2.5e7), ("12e-10", 1.2e-9), ("2E3", 2000),
                         ("1e+20", 1e20), ("1.5e3", 1500), ("1.0e5", 1e5)]:
        assert isinstance(yaml.safe_load(f"v: {text}")["v"], str)  # what makes it a problem
        written = _why_not_a_number("float_parsing", text).rsplit("write ", 1)[1].rstrip(")")
        assert yaml.safe_load(f"v: {written}")["v"] == pytest.approx(number), written
    # Text that is no number in any spelling gets no advice about quotes or exponents.
    assert [_why_not_a_number("float_parsing", text) for text in ("six", "1,000", "")] == ["", "", ""]


def test_bad_notebook_name_says_what_is_allowed(tmp_path):
    message = config_error(tmp_path, with_notebook(name="Data_Science"))
    assert "notebooks[0].name = 'Data_Science': must be 1-40 lowercase letters, digits or inner hyphens" in message


def test_notebook_zone_must_be_a_network_zone(tmp_path):
    message = config_error(tmp_path, with_notebook(availability_zone="us-east-1f"))
    assert "notebooks[0].availability_zone: 'us-east-1f' is not one of the network's zones" in message
    assert "allowed: us-east-1a, us-east-1b" in message


def test_notebook_zone_is_stable_when_the_list_changes(tmp_path):
    first = load_environment(write_config(tmp_path, VALID))
    data = shipped("dev")
    data["notebooks"].insert(0, {**data["notebooks"][0], "name": "another"})
    second = load_environment(write_config(tmp_path, data))
    assert first.notebook_zone(first.notebooks[0]) == second.notebook_zone(second.notebooks[1])
    pinned = load_environment(write_config(tmp_path, with_notebook(availability_zone="us-east-1b")))
    assert pinned.notebook_zone(pinned.notebooks[0]) == "us-east-1b"


def test_dev_may_destroy(tmp_path):
    assert load_environment(write_config(tmp_path, VALID)).removal_policy == "destroy"


def test_removal_policy_vocabulary(tmp_path):
    message = config_error(tmp_path, {**VALID, "removal_policy": "delete"})
    assert message.endswith("removal_policy = 'delete': not an allowed value (allowed: retain, destroy)")


@pytest.mark.parametrize("field, value, expected", [
    ("evaluation.cutoff_rule", "max-f2", "cutoff_rule = 'max-f2': not an allowed value; did you mean max-f1? (allowed: max-f1, min-log-loss)"),
    ("evaluation.approval_status", "Rejected", "approval_status = 'Rejected': not an allowed value (allowed: Approved, PendingManualApproval)"),
])
def test_a_value_outside_a_fixed_set_names_the_set_and_the_likely_one(tmp_path, field, value, expected):
    assert config_error(tmp_path, with_pipeline(field, value)).endswith(expected)


def test_unquoted_account_is_explained(tmp_path):
    message = config_error(tmp_path, "account: 123456789012\n" + yaml.safe_dump({k: v for k, v in VALID.items() if k != "account"}))
    assert "account = 123456789012: must be a quoted string of 12 digits" in message


def test_short_account(tmp_path):
    assert "account = '1234': must be exactly 12 digits" in config_error(tmp_path, {**VALID, "account": "1234"})


def test_unknown_region(tmp_path):
    message = config_error(tmp_path, {**VALID, "region": "us-east-9"})
    assert "region = 'us-east-9': not a region where SageMaker is available" in message


def test_zone_outside_region(tmp_path):
    data = with_network(availability_zones=["us-east-1a", "eu-west-1b"])
    message = config_error(tmp_path, data)
    assert "network.availability_zones: 'eu-west-1b' is not a zone of region us-east-1" in message


def test_a_zone_letter_past_the_regions_last_is_refused(tmp_path):
    """cfn-lint's list of each region's zones (cfnlint.helpers.AVAILABILITY_ZONES): us-east-1 ends at f; us-west-1 lists a
    and c, and an account that sees b is not refused (the letters an account sees differ)."""
    message = config_error(tmp_path, with_network(availability_zones=["us-east-1a", "us-east-1z"]))
    assert "network.availability_zones: 'us-east-1z' is past the last zone of us-east-1, us-east-1f (allowed: us-east-1a to " \
           "us-east-1f, the region's zones as cfn-lint lists them" in message
    west = {**with_network(availability_zones=["us-west-1a", "us-west-1b"]), "region": "us-west-1"}
    west["notebooks"] = [{**nb, "availability_zone": "us-west-1a"} if "availability_zone" in nb else nb for nb in west["notebooks"]]
    assert load_environment(write_config(tmp_path, west)).network.availability_zones == ["us-west-1a", "us-west-1b"]


def test_zone_letters_are_cfn_lints():
    from cfnlint.helpers import AVAILABILITY_ZONES

    from config.environment import zone_letters_in

    for region, zones in AVAILABILITY_ZONES.items():
        assert zone_letters_in(region) == "".join(sorted(z.removeprefix(region) for z in zones))
    assert zone_letters_in("us-nowhere-1") is None


def test_single_zone_is_not_multi_az(tmp_path):
    data = with_network(availability_zones=["us-east-1a"])
    message = config_error(tmp_path, data)
    assert "network.availability_zones = ['us-east-1a']" in message and "at least 2" in message


def test_more_nat_gateways_than_zones(tmp_path):
    data = with_network(nat_gateways=3)
    assert "network.nat_gateways: 3 exceeds the 2 availability zones" in config_error(tmp_path, data)


def test_keeping_the_unreserved_layout_is_only_for_environments_without_nat(tmp_path):
    data = with_network(nat_gateways=1, reserve_egress_subnets=False)
    message = config_error(tmp_path, data)
    assert "network.reserve_egress_subnets: false keeps the layout of an environment deployed without NAT" in message
    assert "(allowed: true, or nat_gateways: 0)" in message and len(message.splitlines()) == 1


def test_a_cidr_that_fits_only_the_unreserved_layout_names_the_key_that_keeps_it(tmp_path):
    """An environment deployed without NAT on the smallest CIDR of the old layout (2 zones on a /19) no longer fits
    once the egress ranges are reserved: the error offers reserve_egress_subnets: false, since a larger CIDR would
    replace the VPC (its CidrBlock is create-only)."""
    data = with_network(nat_gateways=0, cidr="10.10.0.0/19")
    for holder in [*data.get("notebooks", []), *((data.get("studio") or {}).get("teams") or {}).values()]:
        holder.pop("packages", None)
    message = config_error(tmp_path, data)
    assert "or, for an environment deployed without NAT before the egress ranges were reserved, reserve_egress_subnets: false" in message
    data["network"]["reserve_egress_subnets"] = False
    assert load_environment(write_config(tmp_path, data)).network.cidr == "10.10.0.0/19"


def test_packages_need_egress(tmp_path):
    data = with_network(nat_gateways=0)
    messages = config_errors(tmp_path, data)
    assert any("notebooks[0].packages: installing packages needs egress" in m for m in messages)
    assert all("packages: installing packages needs egress" in m for m in messages)


@pytest.mark.parametrize("package", ["xgboost", "xgboost>=3", "xgboost==3.4.1; rm -rf /", "$(curl evil)==1"])
def test_packages_must_be_exact_pins_and_shell_safe(tmp_path, package):
    message = config_error(tmp_path, with_notebook(packages=[package]))
    assert "notebooks[0].packages[0]" in message and "pinned pip requirement 'name==version'" in message


def test_too_many_packages_for_the_lifecycle_size_limit(tmp_path):
    packages = [f"package-number-{i}==1.0.{i}" for i in range(200)]
    message = config_error(tmp_path, with_notebook(packages=packages))
    assert "notebooks[0].packages: 200 packages make the on-start lifecycle script too long" in message
    assert "at most 16384 base64 characters" in message


@pytest.mark.parametrize("cidr, kind", [("127.0.0.0/16", "loopback"), ("169.254.0.0/16", "link-local"),
                                        ("224.0.0.0/16", "multicast"), ("240.0.0.0/16", "reserved")])
def test_a_special_purpose_cidr_is_refused(tmp_path, cidr, kind):
    assert f"network.cidr = '{cidr}': a {kind} block, which no VPC can use (allowed: any other" in config_error(
        tmp_path, with_network(cidr=cidr))


@pytest.mark.parametrize("cidr", ["100.64.0.0/16", "192.168.0.0/18", "172.16.0.0/16"])
def test_shared_and_private_cidrs_are_accepted(tmp_path, cidr):
    assert load_environment(write_config(tmp_path, with_network(cidr=cidr))).network.cidr == cidr


def test_cidr_must_be_valid(tmp_path):
    data = with_network(cidr="10.0.0.0/8")
    assert "network.cidr = '10.0.0.0/8': prefix length must be in /16../24" in config_error(tmp_path, data)


def test_flow_log_retention_must_be_a_cloudwatch_value(tmp_path):
    data = with_network(flow_log_retention_days=31)
    message = config_error(tmp_path, data)
    assert "network.flow_log_retention_days = 31: allowed: one of 1, 3, 5, 7, 14, 30" in message


def test_duplicate_notebook_names(tmp_path):
    data = shipped("dev")
    data["notebooks"].append(dict(data["notebooks"][0]))
    assert "notebooks: names must be unique; repeated: data-science" in config_error(tmp_path, data)


def test_duplicate_yaml_key_is_rejected(tmp_path):
    text = (CONFIG_DIR / "dev.yaml").read_text() + "region: eu-west-1\n"
    message = config_error(tmp_path, text)
    assert "not valid YAML at line" in message and "duplicate key 'region'" in message


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16"])
def test_a_file_in_another_encoding_is_one_line_naming_the_line(tmp_path, encoding):
    """Windows editors and PowerShell's `>` write these; before, a traceback without the file's name."""
    text = "# the \u00e9quipe's sandbox\n" + yaml.safe_dump(VALID)
    (tmp_path / "dev.yaml").write_bytes(text.encode(encoding))
    with pytest.raises(ConfigError) as excinfo:
        load_environment(tmp_path / "dev.yaml")
    message = str(excinfo.value)
    assert message.startswith(f"{tmp_path / 'dev.yaml'}: not UTF-8 text (line 1: byte 0x")
    assert message.endswith("allowed: a UTF-8 file, so save it again as UTF-8)") and "\n" not in message


def test_yaml_merge_keys_share_settings_and_the_keys_beside_them_win(tmp_path):
    """`<<: *defaults` is YAML's way to share a block (PyYAML's SafeLoader takes it); the duplicate-key check looks at the
    keys written in the mapping only, as before."""
    text = (CONFIG_DIR / "dev.yaml").read_text()
    anchored = text.replace("    evaluation:\n", "    evaluation: &gate\n", 1)
    assert anchored != text
    shared = anchored.replace("    evaluation: {approval_status: Approved}", "    evaluation:\n      <<: *gate\n      min_auc: 0.61", 1)
    assert shared != anchored
    env = load_environment(write_config(tmp_path, shared))
    first, second = (model.evaluation for model in env.models.values())
    assert second.min_auc == 0.61 and second.min_precision == first.min_precision and second.approval_status == first.approval_status
    duplicate = shared.replace("      min_auc: 0.61", "      min_auc: 0.61\n      min_auc: 0.62", 1)
    assert "duplicate key 'min_auc'" in config_error(tmp_path, duplicate)


def test_a_mapping_that_merges_itself_or_merges_twice_is_one_line(tmp_path):
    """A node an alias makes its own descendant once sent the line finder round in circles (a RecursionError);
    a second `<<` in one mapping would silently replace the first."""
    text = (CONFIG_DIR / "dev.yaml").read_text()
    looped = text.replace("    evaluation:\n", "    evaluation: &gate\n      <<: *gate\n", 1)
    assert looped != text
    assert load_environment(write_config(tmp_path, looped)).models[EXAMPLE].evaluation.min_auc > 0
    twice = text.replace("    evaluation: {approval_status: Approved}",
                         "    evaluation:\n      <<: {min_auc: 0.6}\n      <<: {min_auc: 0.7}", 1)
    assert twice != text
    message = config_error(tmp_path, twice)
    assert "not valid YAML at line" in message and "duplicate key '<<'" in message


def test_malformed_yaml(tmp_path):
    message = config_error(tmp_path, "account: '123456789012'\nnetwork: [unclosed\n")
    assert "not valid YAML at line" in message


def test_empty_file(tmp_path):
    assert "file is empty" in config_error(tmp_path, "")


def test_name_is_taken_from_the_file(tmp_path):
    message = config_error(tmp_path, {**VALID, "name": "prod"})
    assert "name: unknown key (the environment is named after its file: dev)" in message


def test_every_problem_is_reported_on_its_own_line_in_file_order(tmp_path):
    data = with_notebook(volume_size_gb=1, idle_minutes=-1)
    data["network"]["nat_gateways"] = 7
    data["region"] = "us-east-9"
    problems = config_errors(tmp_path, data)
    fields = [problem.split(": ", 2)[1].split(" = ")[0] for problem in problems]
    # region comes first in the file, then network, then the notebook's keys in their order there.
    assert fields == ["region", "network.nat_gateways", "notebooks[0].volume_size_gb", "notebooks[0].idle_minutes"]
    assert not any("more problem" in problem for problem in problems)


def test_a_misspelt_key_is_unknown_with_a_suggestion_not_a_missing_field(tmp_path):
    data = shipped("dev")
    data["notebooks"][0]["idle_minuts"] = data["notebooks"][0].pop("idle_minutes")
    message = config_error(tmp_path, data)  # one problem: the typo, not also "idle_minutes is missing"
    assert message.startswith(f"{tmp_path / 'dev.yaml'}: notebooks[0].idle_minuts: unknown key; did you mean idle_minutes? (allowed: ")
    assert "required field is missing" not in message


def test_a_missing_field_without_a_typo_is_still_reported(tmp_path):
    data = shipped("dev")
    del data["notebooks"][0]["idle_minutes"]
    assert config_error(tmp_path, data).endswith("notebooks[0].idle_minutes: required field is missing")


def test_cross_field_rules_report_every_rule_that_fails(tmp_path):
    data = shipped("dev")
    data["network"]["availability_zones"] = ["us-east-1a", "eu-west-1b"]
    data["notebooks"].append(dict(data["notebooks"][0]))
    problems = config_errors(tmp_path, data)
    assert [p.split(": ", 2)[1].split(":")[0] for p in problems] == ["network.availability_zones", "notebooks"]


def test_cross_field_problems_follow_the_file_order_of_their_fields(tmp_path):
    data = shipped("dev")
    data["network"]["availability_zones"] = ["us-east-1a", "eu-west-1b"]
    data["notebooks"].append(dict(data["notebooks"][0]))
    reordered = {"notebooks": data.pop("notebooks"), **data}  # notebooks now come before network in the file
    problems = config_errors(tmp_path, reordered)
    assert [p.split(": ", 2)[1].split(":")[0] for p in problems] == ["notebooks", "network.availability_zones"]


def test_problems_of_every_environment_file_are_reported_together(tmp_path):
    bad_dev, bad_staging = shipped("dev"), shipped("staging")
    bad_dev["region"], bad_staging["account"] = "us-east-9", "1234"
    write_config(tmp_path, bad_dev, "dev")
    write_config(tmp_path, bad_staging, "staging")
    with pytest.raises(ConfigError) as excinfo:
        load_environments(tmp_path)
    assert [p.split(": ")[0] for p in excinfo.value.problems] == [str(tmp_path / "dev.yaml"), str(tmp_path / "staging.yaml")]


def test_empty_config_directory(tmp_path):
    with pytest.raises(ConfigError, match="no environment files"):
        load_environments(tmp_path)


def test_bad_config_fails_synth_with_one_line_a_problem_and_no_traceback(tmp_path):
    """The app itself (as `cdk synth` runs it) prints one line per problem and exits non-zero."""
    write_config(tmp_path, with_notebook(volume_size_gb=2, idle_minutes=-1))
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": f'{{"config_dir": "{tmp_path}"}}',
        "CDK_OUTDIR": str(tmp_path / "out"),
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"config error: {tmp_path}/dev.yaml: notebooks[0].volume_size_gb = 2: must be an integer in 5..16384 GB",
        f"config error: {tmp_path}/dev.yaml: notebooks[0].idle_minutes = -1: must be an integer in 0..10080 minutes; "
        "0 turns auto-stop off",
    ]
    assert not list((tmp_path / "out").rglob("*.template.json")), "nothing may be synthesized from a bad config"


# --- pipeline ----------------------------------------------------------------------------------

def with_pipeline(path: str, value) -> dict:
    """The dev config with one setting of the example model changed, e.g. with_pipeline("training.spot", False)."""
    data = shipped("dev")
    node = example(data)
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return data


def test_pipeline_defaults_are_the_seeds_settings(tmp_path):
    data = shipped("dev")
    example(data).pop("training")
    hyper = load_environment(write_config(tmp_path, data)).models[EXAMPLE].training.hyperparameters
    assert (hyper.max_depth, hyper.eta, hyper.gamma, hyper.min_child_weight, hyper.subsample) == (5, 0.2, 4, 6, 0.8)
    assert hyper.objective == "binary:logistic"


@pytest.mark.parametrize(
    "path, value, expected",
    [
        ("training.instance_types", ["ml.m5.9000xlarge"], "'ml.m5.9000xlarge' is not a SageMaker training instance type"),
        ("training.instance_types", ["ml.m5.xlarge", "ml.g5.xlarge"], "mixes types with local NVMe storage (ml.g5.xlarge) and without"),
        ("processing_instance_types", ["ml.p4d.24xlarge"], "not a SageMaker processing instance type"),
        ("training.instance_count", 0, "models.direct-marketing.training.instance_count = 0: must be an integer in 1..20"),
        ("training.max_wait_minutes", 30, "max_wait_minutes: 30 is less than max_runtime_minutes 60"),
        ("training.spot", False, "max_wait_minutes: only applies with spot: true"),
        ("training.hyperparameters.eta", 0, "models.direct-marketing.training.hyperparameters.eta = 0: must be a number in (0, 1]"),
        ("training.hyperparameters.objective", "reg:squarederror", "models.direct-marketing.training.hyperparameters.objective"),
        ("training.tuning.ranges", {"learning_rate": {"min": 0.1, "max": 0.2}}, "'learning_rate' is not a tunable hyperparameter"),
        ("training.tuning.ranges", {"max_depth": {"min": 2.5, "max": 6}}, "max_depth is an integer; min and max must be whole numbers"),
        ("training.tuning.ranges", {"eta": {"min": 0.5, "max": 0.1}}, "ranges.eta: min 0.5 and max 0.1 must satisfy"),
        ("training.tuning.max_parallel_jobs", 50, "max_parallel_jobs: 50 exceeds max_jobs 20"),
        ("training.debugger.rules", ["LossNotDecreasing"], "models.direct-marketing.training.debugger.rules[0] = 'LossNotDecreasing'"),
        ("training.debugger", {"rules": ["ProfilerReport"]},
         "rules: profiler rules read the profiler's metrics (allowed: rules with profiler: true)"),
        ("training.tuning.ranges", {"gamma": {"min": 0, "max": 5, "scaling": "Logarithmic"}}, "ranges.gamma: Logarithmic scaling needs min > 0"),
        ("training.tuning.ranges", {"subsample": {"min": 0.5, "max": 1.0, "scaling": "ReverseLogarithmic"}},
         "ReverseLogarithmic scaling needs max < 1"),
        ("training.tuning.ranges", {}, "ranges: at least one is needed (allowed names: max_depth, eta"),
        ("training.instance_types", ["ml.m5.xlarge", "ml.m5.xlarge"], "instance types must be unique"),
        ("training.debugger", {"profiler": True, "rules": ["ProfilerReport", "ProfilerReport"], "account_uses_debugger": True},
         "rules: each rule at most once"),
        ("training.debugger.profiler", True, "profiler: SageMaker Debugger takes no new customers since 2026-07-30 and may refuse "
         "this account (allowed: profiler: false; or account_uses_debugger: true where the account already uses Debugger)"),
        ("code_dir", "no/such/folder", "code_dir = 'no/such/folder': no such folder"),
        ("code_dir", "docs", "lacks preprocess.py, train.py, evaluate.py, inference.py (allowed: a folder with every entry point"),
        # A folder the delivery pipeline (which builds from the repository) would not have: refused even where it exists.
        ("code_dir", str(ROOT / "training_scripts"), "code_dir = '" + str(ROOT / "training_scripts") + "': is not relative to the repo root"),
        ("code_dir", "~/training_scripts", "code_dir = '~/training_scripts': is not relative to the repo root"),
        ("training.extra_hyperparameters", {"max_delta_step": 2}, "models.direct-marketing.training.extra_hyperparameters: "
         "max_delta_step: the bundled training_scripts/train.py reads only training.hyperparameters (allowed: with a code_dir of your own"),
        ("training.extra_hyperparameters", {"eta": 0.1}, "eta: set it in training.hyperparameters"),
        ("training.extra_hyperparameters", {"sagemaker_program": "x.py"}, "SageMaker's own settings start with sagemaker_"),
        ("training.extra_hyperparameters", {"Max-Step": 1}, "training.extra_hyperparameters.Max-Step: not a hyperparameter name"),
        ("training.extra_hyperparameters", {"steps": [1, 2]}, "extra_hyperparameters.steps = [1, 2]: not a single value (allowed: text"),
        ("training.extra_hyperparameters", {"notes": "x" * 2501}, "notes: the value has 2501 characters (allowed: at most 2500)"),
        ("training.extra_hyperparameters", {"h": 1}, "extra_hyperparameters.h: not a hyperparameter name (allowed: a lowercase letter, "
         "then 1 to 63"),
        ("training.extra_hyperparameters", {f"x{i}": i for i in range(89)}, "extra_hyperparameters.x88: one of 89, past the room a "
         "training job has (allowed: at most 88 here"),
        ("training.hyperparameters.max_delta_step", 2, "a hyperparameter only your own code_dir's train.py reads goes in "
         "training.extra_hyperparameters"),
        ("code_dir", f"../{ROOT.name}/training_scripts", "leads outside the repo"),
        ("code_dir", "training_scripts/../..", "leads outside the repo"),
        ("dataset.data_file", "s3://bucket/key", "dataset.data_file = 's3://bucket/key': not an S3 URI of a CSV object"),
        ("dataset.data_file", "data/missing.csv", "dataset.data_file = 'data/missing.csv': no such file"),
        ("dataset.data_file", "package:NoSuchDist/x.csv", "Python distribution 'NoSuchDist' is not installed"),
        ("dataset.label_column", "Purchse", "dataset.label_column: 'Purchse' is not a column of Caravan.csv; did you mean Purchase?"),
        ("dataset.categorical_columns", ["MOSTYP"], "dataset.categorical_columns[0]: 'MOSTYP' is not a column of Caravan.csv; "
         "did you mean MOSTYPE?"),
        ("dataset.categorical_columns", ["Purchase"], "categorical_columns: names the label column 'Purchase'"),
        # The label read at synth (config/dataset.py), so Preprocess does not find it after a deploy.
        ("dataset.positive_label", "Maybe", "models.direct-marketing.dataset.positive_label: 'Maybe' is not a value of "
         "'Purchase' in Caravan.csv (allowed: one of 'No', 'Yes')"),
        ("dataset.label_column", "MAANTHUI", "dataset.label_column: 'MAANTHUI' has 9 distinct values in Caravan.csv ('1', "
         "'2', '3', '4', '5', '6', '7', '8', '10') (allowed: exactly two, for binary training)"),
        ("dataset.drop_columns", ["Purchase"], "drop_columns: names the label column 'Purchase' (allowed: columns other than the label)"),
        ("dataset.drop_columns", ["MOSTYPE"], "drop_columns: MOSTYPE also in categorical_columns (allowed: a column is dropped or encoded"),
        ("dataset.drop_columns", ["MAUT1", "MAUT1"], "drop_columns: each column once; repeated: MAUT1"),
        ("dataset.categorical_columns", ["A,B"], "models.direct-marketing.dataset.categorical_columns[0] = 'A,B': must be a "
         "column name without a comma (allowed: any other name; the Preprocess job takes the columns joined with commas"),
        ("dataset.label_column", "A,B", "models.direct-marketing.dataset.label_column = 'A,B': must be a column name without a comma"),
        # 35 of Caravan.csv's feature columns: 264 characters joined, over a processing argument's 256
        # (AppSpecification.ContainerArguments, docs.aws.amazon.com/sagemaker/latest/APIReference/API_AppSpecification.html).
        ("dataset.drop_columns", "FIRST_35", "dataset.drop_columns: 264 characters as the Preprocess job's argument (joined "
         "with commas); SageMaker takes at most 256 an argument (allowed: fewer or shorter entries"),
        ("dataset.missing_values", [f"missing-{n:02d}-{'x' * 20}" for n in range(10)], "missing_values: 350 characters as the "
         "Preprocess job's argument (as JSON); SageMaker takes at most 256"),
        ("dataset.data_file", f"s3://team-data/{'d' * 240}.csv", "data_file: 259 characters as the Preprocess job's argument "
         "(as it is); SageMaker takes at most 256 an argument (allowed: fewer or shorter entries)"),
        ("dataset.label_column", "", "models.direct-marketing.dataset.label_column = ''"),
        ("framework_version", "9.9-9", "not a SageMaker XGBoost framework version (allowed: "),
        # A published image, but Python 3.9 (aws/sagemaker-xgboost-container docker/1.7-1/base/Dockerfile.cpu), where the
        # bundled scripts' zip(..., strict=True) fails on the first run; and 3.2-0, a newer Python line they are not tested on.
        ("framework_version", "1.7-1", "models.direct-marketing.framework_version: '1.7-1' is not an image the bundled "
         "training_scripts are tested on (they are on 3.0-5: Python 3.10, XGBoost 3.0.5) (allowed: 3.0-5, or any version with a "
         "code_dir of your own)"),
        ("framework_version", "3.2-0", "models.direct-marketing.framework_version: '3.2-0' is not an image the bundled"),
        ("training.instance_types", ["ml.p2.xlarge"], "training.instance_types = ['ml.p2.xlarge']: 'ml.p2.xlarge' is a K80 GPU host, "
         "below the CUDA 12 that SageMaker's XGBoost image needs (allowed: a newer GPU"),
        ("training.instance_types", ["ml.p6e-gb200.36xlarge"], "'ml.p6e-gb200.36xlarge' is an ARM (Grace) host, and SageMaker's "
         "XGBoost image is built for x86 only"),
        ("transform_instance_types", ["ml.p2.xlarge"], "transform_instance_types = ['ml.p2.xlarge']: 'ml.p2.xlarge' is a K80"),
        ("evaluation.min_auc", 1.5, "models.direct-marketing.evaluation.min_auc = 1.5: must be a number in [0, 1]"),
        ("training.instance_types", [], "models.direct-marketing.training.instance_types = []: must hold at least 1"),
        ("training.instance_types", ["ml.m5.large"] * 11, "training.instance_types = <list of 11 items>: must hold at most 10"),
        ("description", "x" * 201, "models.direct-marketing.description = <str of 201 characters>: must hold at most 200 characters"),
        ("training.hyperparameters.scale_pos_weight", 0, "models.direct-marketing.training.hyperparameters.scale_pos_weight = 0: "
         "must be a number above 0 (1 weighs both classes alike"),
        ("evaluation.approval_status", "Rejected", "models.direct-marketing.evaluation.approval_status"),
        ("evaluation.cutoff_rule", "youden", "models.direct-marketing.evaluation.cutoff_rule"),
    ],
)
def test_bad_pipeline_settings_fail_with_one_line(tmp_path, path, value, expected):
    if value == "FIRST_35":
        from config import dataset as data_files

        caravan = data_files.resolve("package:ISLP/data/Caravan.csv").path
        assert caravan is not None
        header = data_files.read_header(caravan)
        value = [c for c in header if c not in ("MOSTYPE", "MOSHOOFD", "Purchase")][:35]
    assert expected in config_error(tmp_path, with_pipeline(path, value))


def test_a_config_that_drops_every_input_column_fails_at_synth(tmp_path):
    """Preprocess would have no feature to train on: refused at synth against the file's header, one line."""
    csv_file = tmp_path / "customers.csv"
    csv_file.write_text("id,plan,churned\n" + "".join(f"{i},{'a' if i % 2 else 'b'},{'yes' if i % 3 else 'no'}\n" for i in range(60)))
    data = with_pipeline("dataset", {"data_file": str(csv_file), "label_column": "churned", "positive_label": "yes",
                                     "drop_columns": ["id", "plan"]})
    assert config_error(tmp_path, data).endswith(
        "models.direct-marketing.dataset.drop_columns: drops every column of customers.csv but the label 'churned' (allowed: "
        "at least one input column left to train on)")
    example(data)["dataset"]["drop_columns"] = ["id"]
    load_environment(write_config(tmp_path, data))  # one column left: accepted


TEAM_TRAIN = """import argparse
from common import base_parser
parser = base_parser()
parser.add_argument("--max_delta_step", type=float)
parser.add_argument("--max-bin", type=int)
parser.add_argument("--max_leaves_count", type=int)
args = parser.parse_args()
"""
#: A parser built in a module beside train.py, as a team sharing it with its other scripts would.
TEAM_COMMON = """import argparse
def base_parser():
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_depth", type=int)
    parser.add_argument("--min_split_loss", type=float)
    return parser
"""


def team_code(code: Path, train: str = TEAM_TRAIN, common: str = TEAM_COMMON) -> None:
    for name in ("train.py", "common.py", "preprocess.py", "evaluate.py", "inference.py"):
        (code / name).unlink(missing_ok=True)
    (code / "train.py").write_text(train)
    (code / "common.py").write_text(common)
    for name in ("preprocess.py", "evaluate.py", "inference.py"):
        (code / name).write_text("print('entry point')\n")


@pytest.mark.parametrize("extra, expected", [
    ({"max_delta_step": 2, "min_split_loss": 0.5}, None),  # the second from the module beside train.py
    ({"gamma_scale": 0.5}, "models.direct-marketing.training.extra_hyperparameters.gamma_scale: <code>/train.py declares no "
     "--gamma_scale, so it would end with 'unrecognized arguments' (allowed: the options it declares: --max-bin, "
     "--max_delta_step, --max_depth, --max_leaves_count, --min_split_loss)"),  # not serve.py's --port, nor preprocess.py's
    ({"port": 9000}, "training.extra_hyperparameters.port: <code>/train.py declares no --port"),  # serve.py's: not train.py's
    ({"max_bin": 64}, "training.extra_hyperparameters.max_bin: <code>/train.py declares --max-bin, but SageMaker passes "
     "--max_bin, the name as written (allowed: declare parser.add_argument(\"--max_bin\"))"),
    # argparse would take it as --max_leaves_count; --max as --max_depth, which the configured --max_depth then overrides.
    ({"max_leaves": 31}, "training.extra_hyperparameters.max_leaves: --max_leaves is only the start of --max_leaves_count "
     "in <code>/train.py, which argparse may take as an abbreviation (allowed: the option's whole name, max_leaves_count)"),
    ({"max": 12}, "training.extra_hyperparameters.max: --max is only the start of --max-bin, --max_delta_step, --max_depth, "
     "--max_leaves_count in <code>/train.py"),
])
def test_an_extra_hyperparameter_the_teams_train_py_does_not_declare_fails_at_synth(tmp_path, extra, expected):
    """SageMaker's training toolkit runs the program with `--<name> <value>` for each hyperparameter (its
    _mapping.to_cmd_args; tests/integration/test_toolkit_entry_point.py): argparse refuses one it does not declare."""
    with own_code_dir() as code:
        team_code(code)
        data = with_pipeline("code_dir", str(code.relative_to(ROOT)))
        example(data)["training"]["extra_hyperparameters"] = extra
        if expected is None:
            assert load_environment(write_config(tmp_path, data)).models[EXAMPLE].training.extra_hyperparameters == extra
        else:
            assert expected.replace("<code>", str(code.relative_to(ROOT))) in config_error(tmp_path, data)


@pytest.mark.parametrize("module, source, bad_line, reason", [
    ("train.py", "\ndef broken(:\n", "def broken(:", "invalid syntax"),
    # A module train.py does not import is parsed too: the container imports every entry point and what they import.
    ("derive.py", "def f(x):\n    return x +\n", "    return x +", "invalid syntax"),
    # Parsed as the image's Python parses: 3.11's except* would fail there.
    ("evaluate.py", "\ntry:\n    pass\nexcept* ValueError:\n    pass\n", None,  # (Python names the statement's last line)
     "Exception groups are only supported in Python 3.11 and greater"),
])
def test_a_module_of_a_teams_code_that_does_not_parse_fails_at_synth(tmp_path, module, source, bad_line, reason):
    """Before, synth passed and, with it, the check of extra_hyperparameters switched off (train.py unreadable); the
    error came after Preprocess and Train had run. And a code_dir naming a file says so."""
    with own_code_dir() as code:
        path = code / module
        path.write_text((path.read_text() if path.exists() else "") + source)
        line = path.read_text().splitlines().index(bad_line) + 1 if bad_line else len(path.read_text().splitlines())
        message = config_error(tmp_path, with_pipeline("code_dir", str(code.relative_to(ROOT))))
        assert message.endswith(f"code_dir = '{code.relative_to(ROOT)}': {path.relative_to(ROOT).as_posix()} line {line} does not "
                                f"parse as Python 3.10, the image's: {reason} (allowed: modules that parse; every job that "
                                "imports it would fail)")
        assert " is a file, not a folder (allowed: a folder in the repo" in config_error(
            tmp_path, with_pipeline("code_dir", str((code / "train.py").relative_to(ROOT))))


def test_what_is_not_a_module_file_is_no_module_and_a_null_byte_is_named_without_a_line(tmp_path):
    """A directory or a dangling link named *.py never ships (only files do); a null byte has no line to name."""
    with own_code_dir() as code:
        (code / "helpers.py").mkdir()
        (code / "old.py").symlink_to(tmp_path / "gone.py")
        data = with_pipeline("code_dir", str(code.relative_to(ROOT)))
        assert load_environment(write_config(tmp_path, data)).models[EXAMPLE].code_dir == str(code.relative_to(ROOT))
        (code / "blob.py").write_bytes(b"x = 1\n\0\n")
        assert config_error(tmp_path, data).endswith(f"{(code / 'blob.py').relative_to(ROOT).as_posix()} does not parse as "
                                                     "Python 3.10, the image's: source code string cannot contain null bytes "
                                                     "(allowed: modules that parse; every job that imports it would fail)")


def test_several_undeclared_hyperparameters_are_one_located_line_each(tmp_path):
    with own_code_dir() as code:
        team_code(code)
        data = with_pipeline("code_dir", str(code.relative_to(ROOT)))
        example(data)["training"]["extra_hyperparameters"] = {"alpha_x": 1, "beta_y": 2}
        problems = config_errors(tmp_path, data)
    assert [p.split(": ", 2)[1] for p in problems] == [f"models.{EXAMPLE}.training.extra_hyperparameters.alpha_x",
                                                       f"models.{EXAMPLE}.training.extra_hyperparameters.beta_y"]


def test_train_pys_options_are_its_own_and_its_imports_not_every_modules(tmp_path):
    """Options come from train.py and the folder's modules it imports, through another too; a module it does not
    import (serve.py, with --port; here common.py once train.py stops importing it) declares nothing for it."""
    chained = TEAM_TRAIN.replace("from common import base_parser", "from helpers import base_parser")
    with own_code_dir() as code:
        team_code(code, train=chained)
        (code / "helpers.py").write_text("from common import base_parser\n")
        data = with_pipeline("code_dir", str(code.relative_to(ROOT)))
        example(data)["training"]["extra_hyperparameters"] = {"min_split_loss": 0.5}  # common.py's, through helpers.py
        assert load_environment(write_config(tmp_path, data)).models[EXAMPLE].training.extra_hyperparameters == {"min_split_loss": 0.5}
        (code / "helpers.py").write_text("import argparse\ndef base_parser():\n    return argparse.ArgumentParser()\n")
        assert "extra_hyperparameters.min_split_loss: " in config_error(tmp_path, data)


@pytest.mark.parametrize("reader", [
    "args, _ = parser.parse_known_args()",  # keeps what it does not know
    "for name in NAMES: parser.add_argument(name)",  # names built at run time
])
def test_a_train_py_whose_options_cannot_be_read_without_running_it_is_not_second_guessed(tmp_path, reader):
    with own_code_dir() as code:
        team_code(code, train=f"import argparse\nNAMES = ['--x']\nparser = argparse.ArgumentParser()\n{reader}\n", common="")
        data = with_pipeline("code_dir", str(code.relative_to(ROOT)))
        example(data)["training"]["extra_hyperparameters"] = {"anything_else": 1}
        assert load_environment(write_config(tmp_path, data)).models[EXAMPLE].training.extra_hyperparameters == {"anything_else": 1}


def test_spot_needs_a_wait_time(tmp_path):
    data = with_pipeline("training.spot", True)
    del example(data)["training"]["max_wait_minutes"]
    assert "max_wait_minutes: required with spot: true" in config_error(tmp_path, data)


def test_region_without_the_xgboost_image_fails_config(tmp_path):
    data = shipped("dev")
    data.update(region="mx-central-1")
    data["network"]["availability_zones"] = ["mx-central-1a", "mx-central-1b"]
    # No XGBoost version is published there: one line, on the region, listing only regions the region field takes.
    from config.environment import sagemaker_regions

    (message,) = [p for p in config_errors(tmp_path, data) if "XGBoost" in p]
    assert "region: XGBoost images are not published in mx-central-1 (allowed: " in message
    offered = message.split("(allowed: ", 1)[1].rstrip(")").split(", ")
    assert "us-east-1" in offered and set(offered) <= set(sagemaker_regions()) and "cn-north-1" not in offered


# --- the model catalog -------------------------------------------------------------------------

def test_each_model_of_the_catalog_knows_its_name_and_data_key(tmp_path):
    data = shipped("dev")
    data["models"]["churn"] = like_example(data)
    env = load_environment(write_config(tmp_path, data))
    assert [(m.name, m.input_uri_key) for m in env.models.values()] == [
        (EXAMPLE, f"{EXAMPLE}/Caravan.csv"), ("health-utilization", "health-utilization/randhie.csv"), ("churn", "churn/Caravan.csv")]
    assert env.model("churn") is env.models["churn"]
    with pytest.raises(ValueError, match=r"no model 'nope' in .*dev.yaml \(allowed: direct-marketing, health-utilization, churn\)"):
        env.model("nope")
    with pytest.raises(ValueError, match=r"no model 'churm' in .*dev.yaml; did you mean churn\? \(allowed: "):
        env.model("churm")


def test_the_single_model_layout_is_refused_with_where_its_blocks_moved(tmp_path):
    data = shipped("dev")
    model = data.pop("models")[EXAMPLE]
    data["serving"] = model.pop("serving")
    data["pipeline"] = model
    problems = config_errors(tmp_path, data)
    assert [p.split(": ", 1)[1] for p in problems] == [
        'pipeline: moved into the model catalog: models.<model name>.<its keys> (see docs/configuration.md, '
        '"From one model to a catalog")',
        'serving: moved into the model catalog: models.<model name>.serving (see docs/configuration.md, '
        '"From one model to a catalog")',
    ]


@pytest.mark.parametrize("name", ["Churn", "churn_v2", "-churn", "churn-", "1churn", "a" * 33])
def test_model_names_are_what_every_derived_name_allows(tmp_path, name):
    data = shipped("dev")
    data["models"][name] = data["models"].pop(EXAMPLE)
    assert "model names are 1-32 lowercase letters, digits and inner hyphens" in config_error(tmp_path, data)


def test_model_names_that_differ_only_in_hyphens_are_refused(tmp_path):
    data = shipped("dev")
    data["models"]["churn-v2"] = like_example(data)
    data["models"]["churnv2"] = like_example(data)
    assert config_error(tmp_path, data).endswith(
        "models.churnv2: differs from model 'churn-v2' only in hyphens (allowed: names that differ "
        "in their letters or digits)")


def test_a_model_serves_only_versions_of_its_own_group(tmp_path):
    data = shipped("dev")
    data["models"]["churn"] = like_example(data, serving={
        **example(data)["serving"], "model_package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/dev-direct-marketing/2"})
    assert config_error(tmp_path, data).endswith(
        "models.churn.serving.model_package_arn: the version is in group dev-direct-marketing, not this model's dev-churn "
        "(allowed: a version of dev-churn)")


def test_an_environment_without_models_is_valid(tmp_path):
    data = shipped("dev")
    data["models"] = {}
    data.pop("studio")  # its teams work on models: none without a catalog
    assert load_environment(write_config(tmp_path, data)).models == {}


def test_a_data_file_name_too_long_for_the_preprocess_jobs_argument_is_refused(tmp_path):
    """A local data file is uploaded to s3://<raw bucket>/<model>/<file>, which the Preprocess job takes as an argument
    (at most 256 characters, AppSpecification.ContainerArguments): its name may be at most 150."""
    import shutil

    from config import dataset as data_files

    caravan = data_files.resolve("package:ISLP/data/Caravan.csv").path
    assert caravan is not None
    long_name = tmp_path / f"{'c' * 147}.csv"  # 151 characters
    shutil.copy(caravan, long_name)
    message = config_error(tmp_path, with_pipeline("dataset.data_file", str(long_name)))
    assert message.endswith("data_file: the file name 'cccccccccccccccccccc'... is 151 characters; its S3 URI is a Preprocess "
                            "job argument, at most 256 (allowed: a file name of at most 150)"), message
    shutil.move(long_name, tmp_path / f"{'c' * 146}.csv")
    assert load_environment(write_config(tmp_path, with_pipeline("dataset.data_file", str(tmp_path / f"{'c' * 146}.csv"))))


def test_data_file_forms(tmp_path, monkeypatch):
    from config.dataset import REPO_ROOT, resolve

    csv = tmp_path / "mine.csv"
    csv.write_text("a,b\n1,2\n")
    assert resolve(str(csv)).path == csv and resolve(str(csv)).file_name == "mine.csv"
    assert resolve("s3://my-bucket/data/x.csv").uri == "s3://my-bucket/data/x.csv"
    assert not resolve("s3://my-bucket/data/x.csv").path
    packaged = resolve("package:ISLP/data/Caravan.csv")
    assert packaged.path is not None and packaged.path.is_file() and packaged.file_name == "Caravan.csv"
    # A relative path is the repository's: config files name data the repo holds as data/<file>.csv.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "team.csv").write_text("a,b\n1,2\n")
    monkeypatch.setattr("config.dataset.REPO_ROOT", tmp_path)
    assert resolve("data/team.csv").path == tmp_path / "data" / "team.csv"
    assert REPO_ROOT == Path(__file__).resolve().parents[2]  # what it is outside this test: the checkout's root
    for bad, message in [("data.txt", "must name a .csv file"), ("s3://x/y.csv", "not an S3 URI"),
                         ("package:ISLP", "not a packaged CSV")]:
        with pytest.raises(ValueError, match=message):
            resolve(bad)


def test_a_model_may_keep_the_registry_logical_id_an_earlier_layout_deployed_but_not_share_one(tmp_path):
    data = shipped("dev")
    for model in data["models"].values():
        model.pop("registry_logical_id", None)
    data["models"]["churn"] = like_example(data, registry_logical_id="ModelPackageGroup")
    data["models"][EXAMPLE]["registry_logical_id"] = "ModelPackageGroup"
    assert config_error(tmp_path, data).endswith(
        "models.churn.registry_logical_id: 'ModelPackageGroup' is model 'direct-marketing''s too "
        "(allowed: a logical ID no other model of the environment has)")
    data["models"]["churn"]["registry_logical_id"] = "Model-Package"
    assert "models.churn.registry_logical_id = 'Model-Package'" in config_error(tmp_path, data)
    del data["models"]["churn"]
    env = load_environment(write_config(tmp_path, data))
    assert env.models[EXAMPLE].registry_id == "ModelPackageGroup"
    assert env.models["health-utilization"].registry_id == "ModelPackageGroupHealthUtilization"


def test_compliance_packs_are_chosen_from_the_packs_there_are_each_once(tmp_path):
    data = shipped("dev")
    data["compliance"] = {"packs": ["pci-dss-4"]}
    assert config_error(tmp_path, data).endswith(
        "compliance.packs[0] = 'pci-dss-4': not an allowed value; did you mean pci-dss-3.2.1? (allowed: hipaa-security, pci-dss-3.2.1)")
    data["compliance"] = {"packs": ["hipaa-security", "hipaa-security"]}
    assert config_error(tmp_path, data).endswith("compliance.packs: each pack once; repeated: hipaa-security")
    data["compliance"] = {"packs": ["hipaa-security", "pci-dss-3.2.1"]}
    assert load_environment(write_config(tmp_path, data)).compliance.packs == ["hipaa-security", "pci-dss-3.2.1"]


@pytest.mark.parametrize("where, value, message", [
    (("description",), "line one\nline two", "has the character '\\n', which SageMaker's descriptions refuse"),
    (("description",), "tab\there", "has the character '\\t', which SageMaker's descriptions refuse"),
    (("dataset", "positive_label"), "Yes\n", "has a line break; SageMaker passes it to the job as one argument"),
    (("dataset", "categorical_columns"), ["a\u2028b"], "has a line break"),
    (("training", "hyperparameters_chosen_by"), "5-fold CV\non the training split", "has a line break"),
])
def test_text_sagemaker_takes_on_one_line_is_refused_with_a_line_break(tmp_path, where, value, message):
    """botocore's SageMaker shapes: EntityDescription is [\\p{L}\\p{M}\\p{Z}\\p{S}\\p{N}\\p{P}]* (no control
    characters), ContainerArgument and HyperParameterValue `.*` (no line terminator). A YAML block scalar's final
    newline is trimmed from a description, which is then accepted."""
    import botocore.session

    shapes = botocore.session.get_session().get_service_model("sagemaker")
    assert shapes.shape_for("EntityDescription").metadata["pattern"] == "[\\p{L}\\p{M}\\p{Z}\\p{S}\\p{N}\\p{P}]*"
    assert shapes.shape_for("ContainerArgument").metadata["pattern"] == ".*"
    data = shipped("dev")
    block = data["models"][EXAMPLE]
    for key in where[:-1]:
        block = block.setdefault(key, {})
    block[where[-1]] = value
    assert message in config_error(tmp_path, data)
    data = shipped("dev")
    data["models"][EXAMPLE]["description"] = "who subscribes to a term deposit\n"  # description: |
    assert load_environment(write_config(tmp_path, data)).models[EXAMPLE].description == "who subscribes to a term deposit"


def test_a_region_whose_cloudformation_lacks_a_type_the_environment_declares_is_refused(tmp_path):
    """ap-south-2 has SageMaker (botocore) but, in CloudFormation's registry schemas for that region as cfn-lint ships
    them, no ModelPackageGroup nor Studio's UserProfile and Space: one line on the region, naming the settings."""
    from config.environment import cloudformation_types_in

    offered = cloudformation_types_in("ap-south-2")
    assert offered is not None and "AWS::SageMaker::Pipeline" in offered and "AWS::SageMaker::ModelPackageGroup" not in offered
    data = shipped("dev")
    data.update(region="ap-south-2")
    data["network"]["availability_zones"] = ["ap-south-2a", "ap-south-2b"]
    missing = sorted({"AWS::SageMaker::ModelPackageGroup"} | ({"AWS::SageMaker::Space", "AWS::SageMaker::UserProfile"}
                                                               if data.get("studio", {}).get("enabled") else set()))
    assert config_error(tmp_path, data).endswith(
        f"region: CloudFormation has no {', '.join(missing)} in ap-south-2 (its resource types there, as cfn-lint ships "
        f"them), which {'models and studio.enabled' if len(missing) > 1 else 'models'} use (allowed: a region that has "
        "them, or this environment without those settings)")


@pytest.mark.parametrize("csv_text, expected", [
    ("id,plan,churned\n", "models.direct-marketing.dataset.data_file: team.csv has a header but no rows (allowed: a CSV "
     "with the rows to train on under its header)"),
    ("id,plan,churned\n1,basic,yes\n2,premium,yes\n", "models.direct-marketing.dataset.label_column: 'churned' has 1 distinct "
     "value in team.csv ('yes') (allowed: exactly two, for binary training)"),
])
def test_data_preprocess_could_not_train_on_is_refused_at_synth_not_after_a_deploy(tmp_path, csv_text, expected):
    """preprocess.py refuses both (an empty split; 'binary training needs exactly two' values): said at synth, one line
    naming the key, before anything deploys."""
    (tmp_path / "team.csv").write_text(csv_text)
    data = shipped("dev")
    example(data)["dataset"] = {"data_file": str(tmp_path / "team.csv"), "label_column": "churned", "positive_label": "yes"}
    (tmp_path / "config").mkdir()
    assert expected in config_error(tmp_path / "config", data)
