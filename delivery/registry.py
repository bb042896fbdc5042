"""What a deployed environment needs besides `cdk deploy`: a model's data in its raw-data bucket, and
the way back for a retained registry group.

upload_data    puts a model's dataset.data_file (a CSV in the repo, a local path or a packaged CSV) where
               its pipeline reads it: <model>/<file name> in the environment's raw-data bucket (the
               RawDataBucketName output of <env>-Data). A data_file already in S3 is read where it is.
import_mapping the resource mapping `cdk import` takes to adopt registry groups that a deleted stack
               left behind. A group is named <env>-<model> (SageMaker requires the name), and staging and
               prod retain it, so after its stack is deleted a new deploy fails with "already exists";
               importing it into <env>-Data instead keeps its versions:

                   python -m delivery import-mapping --env prod > registry-import.json
                   npx cdk import 'prod/Data' --resource-mapping registry-import.json

Refusals are one line (RegistryError).
"""

from __future__ import annotations

from dataclasses import dataclass

import naming
from config import EnvironmentConfig

#: The property CloudFormation identifies an AWS::SageMaker::ModelPackageGroup by when importing it: the
#: primaryIdentifier of the type's resource schema (tests/unit/test_registry.py reads it from the schema
#: cfn-lint ships, AWS's own CloudFormation registry data).
GROUP_IDENTIFIER = "ModelPackageGroupArn"


class RegistryError(Exception):
    """One line: what was refused and what is allowed."""


@dataclass(frozen=True)
class Upload:
    """What upload_data put where: the model, its data_file as configured, and the S3 URI."""

    model: str
    source: str
    uri: str


def group_arn(env: EnvironmentConfig, model: str) -> str:
    import botocore.session

    partition = botocore.session.get_session().get_partition_for_region(env.region)  # aws, aws-cn, aws-us-gov
    return (f"arn:{partition}:sagemaker:{env.region}:{env.account}:model-package-group/"
            f"{naming.model_package_group_name(env.name, model)}")


def import_mapping(env: EnvironmentConfig, models: list[str] | None = None) -> dict[str, dict[str, str]]:
    """{logical ID in <env>-Data: {identifier: group ARN}} for each model (default: every model of the catalog)."""
    names = models or list(env.models)
    for name in names:
        try:
            env.model(name)
        except ValueError as exc:
            raise RegistryError(f"--model: {exc}") from None
    if not names:
        raise RegistryError(f"{env.source_file} declares no models: no registry group to import")
    return {env.models[name].registry_id: {GROUP_IDENTIFIER: group_arn(env, name)} for name in names}


def raw_data_bucket(env: EnvironmentConfig, cloudformation) -> str:
    """The environment's raw-data bucket, from its data stack's outputs."""
    from botocore.exceptions import BotoCoreError, ClientError

    stack = naming.stack_name(env.name, naming.DATA_STACK)
    try:
        outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except (ClientError, BotoCoreError) as exc:
        raise RegistryError(f"cannot read stack {stack} ({exc}); deploy the {env.name} stage first") from None
    bucket = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "RawDataBucketName"), None)
    if bucket is None:
        raise RegistryError(f"stack {stack} has no RawDataBucketName output; deploy the {env.name} stage first")
    return str(bucket)


def upload_data(env: EnvironmentConfig, model_name: str, cloudformation, s3) -> Upload:
    """Upload the model's data_file where its pipeline's InputDataUri points by default."""
    try:
        model = env.model(model_name)
    except ValueError as exc:
        raise RegistryError(f"--model: {exc}") from None
    source = model.dataset.source
    if source.path is None or model.input_uri_key is None:
        raise RegistryError(f"models.{model_name}.dataset.data_file is {source.value}: the pipeline reads it there, "
                            "nothing to upload")
    bucket = raw_data_bucket(env, cloudformation)
    s3.upload_file(str(source.path), bucket, model.input_uri_key)
    return Upload(model_name, source.value, f"s3://{bucket}/{model.input_uri_key}")
