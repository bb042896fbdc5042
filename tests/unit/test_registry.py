"""The way back for a retained registry group, and a model's data in a deployed environment.

A model package group needs a name (SageMaker requires ModelPackageGroupName; the CloudFormation
schema lists it as required), so it cannot get a generated one, and staging and prod retain it
when their data stack is deleted; a new deploy would then fail with "already exists". The import
path is `cdk import` with the mapping `python -m delivery import-mapping` prints. These tests hold
that mapping against the synthesized data stack and against CloudFormation's own resource schema
for AWS::SageMaker::ModelPackageGroup (as cfn-lint ships it from AWS's CloudFormation registry):
its primaryIdentifier is what an import names, and a resource to import must carry a DeletionPolicy.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from config import load_environment
from delivery.registry import GROUP_IDENTIFIER, RegistryError, import_mapping, upload_data
from tests.helpers.cfn_schemas import resource_schema
from tests.helpers.configs import ENVIRONMENTS
from tests.helpers.paths import CONFIG_DIR, ROOT
from tests.helpers.templates import resources


def test_the_group_needs_a_name_so_retained_groups_come_back_by_import():
    schema = resource_schema("AWS::SageMaker::ModelPackageGroup")
    assert "ModelPackageGroupName" in schema["required"]  # no generated name is possible
    assert "/properties/ModelPackageGroupName" in schema["createOnlyProperties"]
    assert "/properties/ModelPackageGroupDescription" in schema["createOnlyProperties"]  # why description is kept
    assert schema["primaryIdentifier"] == [f"/properties/{GROUP_IDENTIFIER}"]


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_mapping_names_every_group_of_the_data_stack_by_its_identifier(assembly, env_name):
    env = load_environment(CONFIG_DIR / f"{env_name}.yaml")
    mapping = import_mapping(env)
    groups = resources(assembly.template_json(env_name, "Data"), "AWS::SageMaker::ModelPackageGroup")
    assert set(mapping) == set(groups)
    for logical_id, group in groups.items():
        name = group["Properties"]["ModelPackageGroupName"]
        assert mapping[logical_id] == {
            GROUP_IDENTIFIER: f"arn:aws:sagemaker:{env.region}:{env.account}:model-package-group/{name}"}
        assert group["DeletionPolicy"] in ("Retain", "Delete")  # cdk import refuses a resource without one
        assert group["DeletionPolicy"] == ("Retain" if env.protected else "Delete")


def test_import_mapping_cli_prints_json_and_refuses_in_one_line(tmp_path):
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "delivery", "import-mapping", "--config-dir", str(CONFIG_DIR), *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)

    done = cli("--env", "prod", "--model", "health-utilization")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == import_mapping(load_environment(CONFIG_DIR / "prod.yaml"), ["health-utilization"])
    refused = cli("--env", "prod", "--model", "nope")
    assert refused.returncode == 2
    assert refused.stderr.startswith("import-mapping: --model: no model 'nope' in ") and refused.stderr.count("\n") == 1


def test_upload_data_puts_the_models_file_where_its_pipeline_reads(emulator):
    env = load_environment(CONFIG_DIR / "dev.yaml")
    cfn, s3 = emulator.client("cloudformation"), emulator.client("s3")
    with pytest.raises(RegistryError, match=r"^cannot read stack dev-Data .*; deploy the dev stage first$"):
        upload_data(env, "health-utilization", cfn, s3)
    s3.create_bucket(Bucket="dev-raw-data")
    cfn.create_stack(StackName="dev-Data", TemplateBody=json.dumps({
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"RawDataBucketName": {"Value": "dev-raw-data"}}}))
    done = upload_data(env, "health-utilization", cfn, s3)
    assert done.uri == "s3://dev-raw-data/health-utilization/randhie.csv"
    source = env.models["health-utilization"].dataset.source.path
    assert source is not None
    body = s3.get_object(Bucket="dev-raw-data", Key="health-utilization/randhie.csv")["Body"].read()
    assert body == source.read_bytes()
    with pytest.raises(RegistryError, match="^--model: no model 'nope'"):
        upload_data(env, "nope", cfn, s3)
