"""Notebook instances: locked down, in private subnets, with lifecycle configs from real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.instance_types import notebook_platforms
from config import load_environment
from notebook_lifecycle import SdkDefaults, render_on_create, render_on_start
from stacks.foundation.notebook import PLATFORM_IDENTIFIER
from tests.helpers.paths import CONFIG_DIR

WITH_NOTEBOOKS = [
    (env, notebook)
    for env in ("dev", "staging", "prod")
    for notebook in load_environment(CONFIG_DIR / f"{env}.yaml").notebooks
]


def notebooks_by_name(template) -> dict[str, dict]:
    found = template.find_resources("AWS::SageMaker::NotebookInstance")
    return {r["Properties"]["NotebookInstanceName"]: r["Properties"] for r in found.values()}


def test_shipped_configs_exercise_more_than_one_environment():
    assert {env for env, _ in WITH_NOTEBOOKS} == {"dev", "staging"}


@pytest.mark.parametrize("env, notebook", WITH_NOTEBOOKS, ids=lambda v: getattr(v, "name", v))
def test_notebook_security_settings(assembly, env, notebook):
    props = notebooks_by_name(assembly.template(env, "Notebooks"))[f"{env}-{notebook.name}"]
    assert props["InstanceType"] == notebook.instance_type
    assert props["VolumeSizeInGB"] == notebook.volume_size_gb
    assert props["DirectInternetAccess"] == "Disabled"
    assert props["RootAccess"] == "Disabled"
    assert props["PlatformIdentifier"] == PLATFORM_IDENTIFIER
    assert props["InstanceMetadataServiceConfiguration"] == {"MinimumInstanceMetadataServiceVersion": "2"}
    # The volume is encrypted with the data stack's customer-managed key.
    assert "DataKey" in props["KmsKeyId"]["Fn::ImportValue"]


@pytest.mark.parametrize("env, notebook", WITH_NOTEBOOKS, ids=lambda v: getattr(v, "name", v))
def test_notebook_sits_in_the_private_subnet_of_its_zone(assembly, env, notebook):
    config = load_environment(CONFIG_DIR / f"{env}.yaml")
    props = notebooks_by_name(assembly.template(env, "Notebooks"))[f"{env}-{notebook.name}"]
    subnet_export = props["SubnetId"]["Fn::ImportValue"]
    assert "VpcWorkloadsSubnet" in subnet_export and "Egress" not in subnet_export
    network = assembly.template_json(env, "Network")["Resources"]
    zone_index = config.network.availability_zones.index(config.notebook_zone(notebook)) + 1
    (subnet_id,) = [
        i for i, r in network.items()
        if r["Type"] == "AWS::EC2::Subnet" and i.startswith(f"VpcWorkloadsSubnet{zone_index}Subnet")
    ]
    assert network[subnet_id]["Properties"]["AvailabilityZone"] == config.notebook_zone(notebook)
    assert subnet_id in subnet_export


@pytest.mark.parametrize("env, notebook", WITH_NOTEBOOKS, ids=lambda v: getattr(v, "name", v))
def test_notebook_has_its_own_security_group_with_no_inbound_rules(assembly, env, notebook):
    template = assembly.template(env, "Notebooks")
    props = notebooks_by_name(template)[f"{env}-{notebook.name}"]
    (group_ref,) = props["SecurityGroupIds"]
    group = template.to_json()["Resources"][group_ref["Fn::GetAtt"][0]]
    assert "SecurityGroupIngress" not in group["Properties"]
    assert group["Properties"]["SecurityGroupEgress"] == [
        {"CidrIp": "0.0.0.0/0", "Description": "HTTPS", "FromPort": 443, "IpProtocol": "tcp", "ToPort": 443}
    ]


@pytest.mark.parametrize("env, notebook", WITH_NOTEBOOKS, ids=lambda v: getattr(v, "name", v))
def test_lifecycle_config_carries_the_rendered_scripts(assembly, env, notebook):
    template = assembly.template(env, "Notebooks")
    props = notebooks_by_name(template)[f"{env}-{notebook.name}"]
    lifecycle_id = props["LifecycleConfigName"]["Fn::GetAtt"][0]
    lifecycle = template.to_json()["Resources"][lifecycle_id]["Properties"]
    on_start, defaults = with_references_named(lifecycle["OnStart"][0]["Content"]["Fn::Base64"])
    assert on_start == render_on_start(idle_minutes=notebook.idle_minutes, packages=list(notebook.packages), sdk_defaults=defaults)
    assert lifecycle["OnCreate"][0]["Content"]["Fn::Base64"] == render_on_create()
    assert f"IDLE_SECONDS={notebook.idle_minutes * 60}" in on_start
    for package in notebook.packages:
        assert package in on_start


def with_references_named(content) -> tuple[str, SdkDefaults]:
    """The OnStart script as text, each reference CloudFormation resolves at deploy named by what it is, and the
    SDK defaults those names stand for (which import is which: the export's name says)."""
    import json

    if isinstance(content, str):
        raise AssertionError("the on-start script has no references: the SDK defaults are missing")
    delimiter, parts = content["Fn::Join"]
    assert delimiter == ""
    names: dict[str, list[str]] = {"bucket": [], "role": [], "subnet": [], "group": [], "key": []}
    seen: dict[str, str] = {}
    text = ""
    for part in parts:
        if isinstance(part, str):
            text += part
            continue
        reference = json.dumps(part)
        kind = ("bucket" if "ModelArtifactsBucketArn" in reference or "model-artifacts-bucket" in reference else
                "role" if "ExperimentsRole" in reference else "group" if "WorkloadSecurityGroup" in reference else
                "subnet" if "Subnet" in reference else "key" if "DataKey" in reference else None)
        assert kind is not None, f"an unexpected reference in the on-start script: {reference}"
        if reference not in seen:  # the same reference (the experiments role, each subnet) has the same name throughout
            seen[reference] = f"<{kind} {len(names[kind])}>"
            names[kind].append(seen[reference])
        text += seen[reference]
    assert [len(names[kind]) for kind in ("bucket", "role", "group", "key")] == [1, 1, 1, 1] and names["subnet"]
    defaults = SdkDefaults(bucket=names["bucket"][0], role_arn=names["role"][0], subnet_ids=tuple(names["subnet"]),
                           security_group_id=names["group"][0], kms_key_arn=names["key"][0])
    return text, defaults


def test_prod_without_notebooks_has_no_notebook_stack(assembly):
    assert "Notebooks" not in assembly.stack_names("prod"), "no empty stack when no notebook is configured"


def cloudformation_notebook_platforms() -> set[str]:
    """What CloudFormation's AWS::SageMaker::NotebookInstance schema accepts (cfn-lint ships the registry's schemas)."""
    import json
    import re

    import cfnlint

    for path in (Path(cfnlint.__file__).parent / "data" / "schemas" / "resources").glob("*.json"):
        text = path.read_text()
        if '"AWS::SageMaker::NotebookInstance"' in text and "PlatformIdentifier" in text:
            pattern = json.loads(text)["properties"]["PlatformIdentifier"].get("pattern", "")
            return set(re.findall(r"notebook-[a-z0-9]+-v\d+", pattern))
    raise AssertionError("cfn-lint ships no AWS::SageMaker::NotebookInstance schema")


def test_notebooks_run_the_newest_al2023_platform_both_the_api_and_cloudformation_accept():
    """Amazon Linux 2 notebook platforms left support on 2026-06-30 (AWS documentation): AL2023 it is,
    the newest one that SageMaker's API (botocore's PlatformIdentifier pattern) and CloudFormation's
    resource schema both take. When CloudFormation catches up with a newer one, this fails: move to it."""
    both = set(notebook_platforms()) & cloudformation_notebook_platforms()
    al2023 = sorted((p for p in both if p.startswith("notebook-al2023-v")), key=lambda p: int(p.rsplit("-v", 1)[1]))
    assert PLATFORM_IDENTIFIER == al2023[-1]
