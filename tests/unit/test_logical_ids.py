"""Stateful resources keep their logical IDs: a rename would make CloudFormation replace
(and, in dev, delete) the data key or a bucket. Changing one of these IDs is a migration.

Each model's registry group is named by naming.registry_logical_id(model) alone, so adding or
removing another model never renames it; the example's config keeps the ID (and description) it
had in the single-model layout, ModelPackageGroup, with registry_logical_id."""

from __future__ import annotations

import pytest

from tests.helpers.configs import ENVIRONMENTS

PINNED = {
    "Data": {
        "DataKey17AFBB84": "AWS::KMS::Key",
        "AccessLogs8B620ECA": "AWS::S3::Bucket",
        "RawDataBucket46CFA8FB": "AWS::S3::Bucket",
        "ModelArtifactsBucket2C3831B7": "AWS::S3::Bucket",
        "ModelPackageGroup": "AWS::SageMaker::ModelPackageGroup",
    },
    "Network": {
        "FlowLogs16C1943A": "AWS::Logs::LogGroup",
    },
}


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("stack", sorted(PINNED))
def test_stateful_logical_ids_are_pinned(assembly, env, stack):
    resources = assembly.template_json(env, stack)["Resources"]
    for logical_id, resource_type in PINNED[stack].items():
        assert logical_id in resources, f"{env}/{stack}: {logical_id} renamed; that replaces the resource"
        assert resources[logical_id]["Type"] == resource_type


def test_export_names_are_pinned(assembly):
    outputs = assembly.template_json("prod", "Data")["Outputs"]
    assert outputs["RawDataBucketArn"]["Export"]["Name"] == "sagemaker-platform-prod-raw-data-bucket-arn"


@pytest.mark.parametrize("env, logical_id", [("dev", "DataScienceInstance4B8B6EC8"), ("staging", "ValidationInstance5CB1DBBB")])
def test_notebook_instances_keep_their_logical_ids(assembly, env, logical_id):
    """A notebook's volume holds its users' work: a new logical ID would replace the instance."""
    resources = assembly.template_json(env, "Notebooks")["Resources"]
    assert resources[logical_id]["Type"] == "AWS::SageMaker::NotebookInstance"
