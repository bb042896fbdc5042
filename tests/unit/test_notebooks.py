"""Notebook instances: locked down, in private subnets, with lifecycle configs from real files."""

from __future__ import annotations

import base64

import pytest

from config import load_environment
from notebook_lifecycle import render_on_create, render_on_start
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def dev(assembly):
    return assembly.template("dev", "Notebooks")


def test_notebook_security_settings(dev):
    dev.has_resource_properties(
        "AWS::SageMaker::NotebookInstance",
        {
            "NotebookInstanceName": "dev-data-science",
            "InstanceType": "ml.t3.medium",
            "VolumeSizeInGB": 20,
            "DirectInternetAccess": "Disabled",
            "RootAccess": "Disabled",
            "PlatformIdentifier": "notebook-al2-v3",
            "InstanceMetadataServiceConfiguration": {"MinimumInstanceMetadataServiceVersion": "2"},
        },
    )


def notebook(template) -> dict:
    (resource,) = template.find_resources("AWS::SageMaker::NotebookInstance").values()
    return resource["Properties"]


def test_volume_is_encrypted_with_the_data_key(dev):
    assert "DataKey" in notebook(dev)["KmsKeyId"]["Fn::ImportValue"]


def test_notebook_sits_in_a_private_workload_subnet(dev):
    subnet_export = notebook(dev)["SubnetId"]["Fn::ImportValue"]
    assert "VpcWorkloadsSubnet" in subnet_export and "Egress" not in subnet_export


def test_notebook_has_its_own_security_group_with_no_inbound_rules(dev):
    groups = dev.find_resources("AWS::EC2::SecurityGroup")
    assert len(groups) == 1
    (group_id, group), = groups.items()
    assert "SecurityGroupIngress" not in group["Properties"]
    assert group["Properties"]["SecurityGroupEgress"] == [
        {"CidrIp": "0.0.0.0/0", "Description": "HTTPS", "FromPort": 443, "IpProtocol": "tcp", "ToPort": 443}
    ]
    assert notebook(dev)["SecurityGroupIds"] == [{"Fn::GetAtt": [group_id, "GroupId"]}]


def test_lifecycle_config_carries_the_rendered_scripts(dev):
    config = load_environment(ROOT / "config" / "dev.yaml").notebooks[0]
    (lifecycle_id, lifecycle), = dev.find_resources("AWS::SageMaker::NotebookInstanceLifecycleConfig").items()
    props = lifecycle["Properties"]
    on_start = props["OnStart"][0]["Content"]["Fn::Base64"]
    on_create = props["OnCreate"][0]["Content"]["Fn::Base64"]
    assert on_start == render_on_start(idle_minutes=config.idle_minutes, packages=list(config.packages))
    assert on_create == render_on_create()
    assert "xgboost==3.4.1" in on_start
    assert notebook(dev)["LifecycleConfigName"] == {"Fn::GetAtt": [lifecycle_id, "NotebookInstanceLifecycleConfigName"]}
    # CloudFormation's Fn::Base64 must produce what SageMaker will run.
    assert base64.b64decode(base64.b64encode(on_start.encode())).decode() == on_start


def test_staging_notebook_and_prod_without_notebooks(assembly):
    staging = assembly.template("staging", "Notebooks")
    staging.has_resource_properties(
        "AWS::SageMaker::NotebookInstance",
        {"NotebookInstanceName": "staging-validation", "InstanceType": "ml.t3.large", "VolumeSizeInGB": 50},
    )
    assert "Notebooks" not in assembly.stack_names("prod"), "no empty stack when no notebook is configured"
