"""Data stack: the security and lifecycle properties the emulator would silently drop."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from tests.helpers.configs import ENVIRONMENTS


def buckets(template) -> dict:
    return template.find_resources("AWS::S3::Bucket")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_customer_managed_key_rotates(assembly, env):
    template = assembly.template(env, "Data")
    template.resource_count_is("AWS::KMS::Key", 1)
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties(
        "AWS::KMS::Alias", {"AliasName": f"alias/sagemaker-platform/{env}/data"}
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_three_buckets_all_private_and_versioned(assembly, env):
    found = buckets(assembly.template(env, "Data"))
    assert len(found) == 3
    for logical_id, bucket in found.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
        }, logical_id
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, logical_id
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}], logical_id


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_data_buckets_use_the_customer_key_and_log_access(assembly, env):
    template = assembly.template(env, "Data")
    key_id = next(iter(template.find_resources("AWS::KMS::Key")))
    logs_id = next(i for i in buckets(template) if i.startswith("AccessLogs"))
    for name in ("RawData", "ModelArtifacts"):
        bucket_id = next(i for i in buckets(template) if i.startswith(name))
        props = buckets(template)[bucket_id]["Properties"]
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
        }
        assert rule["BucketKeyEnabled"] is True
        assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_id}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_access_log_bucket_is_sse_s3_because_logging_requires_it(assembly, env):
    template = assembly.template(env, "Data")
    logs_bucket = next(b for i, b in buckets(template).items() if i.startswith("AccessLogs"))
    encryption = logs_bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_bucket_denies_plain_http_and_old_tls(assembly, env):
    template = assembly.template(env, "Data")
    policies = template.find_resources("AWS::S3::BucketPolicy")
    covered = set()
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        conditions = [s["Condition"] for s in statements if s["Effect"] == "Deny"]
        assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
        assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in conditions
        covered.add(policy["Properties"]["Bucket"]["Ref"])
    assert covered == set(buckets(template))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_lifecycle_rules_expire_old_versions_and_abort_uploads(assembly, env):
    template = assembly.template(env, "Data")
    for logical_id, bucket in buckets(template).items():
        rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
        assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0, logical_id
        assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7
        assert all(r["Status"] == "Enabled" for r in rules.values())


def test_lifecycle_days_come_from_config(assembly):
    dev = buckets(assembly.template("dev", "Data"))
    prod = buckets(assembly.template("prod", "Data"))

    def days(found):
        bucket = next(b for i, b in found.items() if i.startswith("RawData"))
        rule = next(r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"] if r["Id"] == "expire-noncurrent-versions")
        return rule["NoncurrentVersionExpiration"]["NoncurrentDays"]

    assert (days(dev), days(prod)) == (30, 365)


def test_dev_leaves_nothing_behind(assembly):
    template = assembly.template("dev", "Data")
    for resource_type in ("AWS::KMS::Key", "AWS::S3::Bucket"):
        for logical_id, resource in template.find_resources(resource_type).items():
            assert resource["DeletionPolicy"] == "Delete", logical_id
            assert resource["UpdateReplacePolicy"] == "Delete", logical_id
    # Buckets are emptied by the auto-delete custom resource before CloudFormation deletes them.
    auto_delete = template.find_resources("Custom::S3AutoDeleteObjects")
    assert {r["Properties"]["BucketName"]["Ref"] for r in auto_delete.values()} == set(buckets(template))
    template.has_resource_properties("AWS::KMS::Key", {"PendingWindowInDays": 7})


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_protected_environments_retain_key_and_buckets(assembly, env):
    template = assembly.template(env, "Data")
    for resource_type in ("AWS::KMS::Key", "AWS::S3::Bucket"):
        for logical_id, resource in template.find_resources(resource_type).items():
            assert resource["DeletionPolicy"] == "Retain", logical_id
            assert resource["UpdateReplacePolicy"] == "Retain", logical_id
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0)
    template.has_resource_properties("AWS::KMS::Key", {"PendingWindowInDays": 30})


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_key_lets_cloudwatch_logs_encrypt_only_this_accounts_log_groups(assembly, env):
    from config import load_environment
    from tests.helpers.paths import CONFIG_DIR

    account = load_environment(CONFIG_DIR / f"{env}.yaml").account  # each environment's own, not any 12 digits
    template = assembly.template(env, "Data")
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with([
                    Match.object_like({
                        "Sid": "AllowCloudWatchLogsInThisAccount",
                        "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
                        "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:{account}:*"}},
                    })
                ])
            }
        },
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_exports_are_the_named_contract(assembly, env):
    outputs = assembly.template_json(env, "Data")["Outputs"]
    exported = {o["Export"]["Name"] for o in outputs.values() if "Export" in o}
    assert exported >= {
        f"sagemaker-platform-{env}-data-key-arn",
        f"sagemaker-platform-{env}-raw-data-bucket-arn",
        f"sagemaker-platform-{env}-model-artifacts-bucket-arn",
    }


@pytest.fixture(scope="module")
def replicating(tmp_path_factory):
    """The fixture config with prod replicating its model artifacts to us-west-2 (the option the shipped prod
    file shows commented out), synthesized."""
    import shutil

    import yaml

    from tests.helpers.assembly import synth_app
    from tests.helpers.paths import CONFIG_DIR

    config = tmp_path_factory.mktemp("replicating") / "config"
    shutil.copytree(CONFIG_DIR, config)
    data = yaml.safe_load((config / "prod.yaml").read_text())
    data["data"]["replication"] = {"region": "us-west-2"}
    (config / "prod.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return synth_app(tmp_path_factory.mktemp("replicating-out"), config), config


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_model_artifacts_replicate_to_the_disaster_recovery_region_where_configured(replicating, env):
    """S3 replication of SSE-KMS objects needs SourceSelectionCriteria.SseKmsEncryptedObjects and a replica key
    (S3 user guide, "Replicating objects created with server-side encryption (SSE-KMS)"); the destination is
    named, so the rule needs no cross-region reference."""
    import naming
    from config import load_environment

    assembly, config = replicating
    cfg = load_environment(config / f"{env}.yaml")
    template = assembly.template_json(env, "Data")
    (bucket,) = [r["Properties"] for k, r in template["Resources"].items() if k.startswith("ModelArtifactsBucket")
                 and r["Type"] == "AWS::S3::Bucket"]
    if cfg.data.replication is None:
        assert "ReplicationConfiguration" not in bucket
        assert naming.DATA_REPLICA_STACK not in assembly.stack_names(env)
        return
    region = cfg.data.replication.region
    (rule,) = bucket["ReplicationConfiguration"]["Rules"]
    name = naming.replica_bucket_name(env, cfg.account, region)
    assert rule["Destination"] == {"Bucket": f"arn:aws:s3:::{name}", "EncryptionConfiguration": {
        "ReplicaKmsKeyID": f"arn:aws:kms:{region}:{cfg.account}:{naming.replica_key_alias(env)}"}}
    assert rule["SourceSelectionCriteria"] == {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
    assert rule["Status"] == "Enabled"
    replica = assembly.template_json(env, naming.DATA_REPLICA_STACK)
    buckets = {r["Properties"].get("BucketName"): r for r in replica["Resources"].values() if r["Type"] == "AWS::S3::Bucket"}
    assert buckets[name]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}  # replication requires it
    assert buckets[name]["DeletionPolicy"] == "Retain"
    (alias,) = [r["Properties"] for r in replica["Resources"].values() if r["Type"] == "AWS::KMS::Alias"]
    assert alias["AliasName"] == naming.replica_key_alias(env)
    manifest = assembly.manifest(env)["artifacts"]
    (data_artifact,) = [a for a in manifest.values() if a.get("displayName") == f"{env}/Data"]
    assert any("DataReplica" in d for d in data_artifact.get("dependencies", []))  # the replica exists first
    (replica_artifact,) = [a for a in manifest.values() if a.get("displayName") == f"{env}/{naming.DATA_REPLICA_STACK}"]
    assert replica_artifact["environment"] == f"aws://{cfg.account}/{region}"
    # The replica key is the one with the replica alias: encrypting with any other key of that region is not allowed.
    (policy,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                 and r["Properties"]["PolicyName"].startswith("ReplicationPolicy")]
    (encrypt,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Sid"] == "EncryptReplicas"]
    assert encrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                                    "ForAnyValue:StringEquals": {"kms:ResourceAliases": naming.replica_key_alias(env)}}
    # The replication role's statements work as the Service Authorization Reference says (actions, resources, keys).
    from tests.helpers.iam_reference import problems_of, statements

    problems = [f"{where}: {p}" for where, statement in statements(assembly, env, "Data") for p in problems_of(statement)]
    assert not problems, problems


def test_replicating_into_the_environments_own_region_is_refused(tmp_path):
    from tests.helpers.configs import config_error, shipped

    data = shipped("prod")
    data["data"]["replication"] = {"region": data["region"]}
    assert config_error(tmp_path, data, "prod").endswith(
        "data.replication.region: 'us-east-1' is the environment's own region (allowed: another region, for disaster recovery)")


def test_the_delivery_pipeline_refuses_an_environment_it_cannot_deploy_yet(replicating):
    """A stage with a stack in another region would need cross-region artifact buckets in the pipeline."""
    import yaml

    from config import ConfigError, load_delivery, load_environments
    from tests.helpers.delivery import DELIVERY

    _, config = replicating
    (config / "delivery.yaml").write_text(yaml.safe_dump(DELIVERY, sort_keys=False))
    with pytest.raises(ConfigError, match=r"prod replicates its model artifacts to us-west-2 \(data.replication\), a stack "
                       r"in another region, which this pipeline does not deploy yet"):
        load_delivery(config, load_environments(config))


def test_a_replica_bucket_name_over_s3s_63_characters_is_a_config_error_not_a_synth_traceback(tmp_path):
    """The replica bucket's name carries the environment and the region (naming.replica_bucket_name); S3 takes 63
    characters ("Bucket naming rules", Amazon S3 User Guide), which CDK checks only at synth, with a traceback."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_s3 as s3

    import naming
    from tests.helpers.configs import config_error, shipped

    data = shipped("prod")
    data["data"]["replication"] = {"region": "ap-southeast-2"}
    data["account"] = "739104826315"
    accepted = "sagemaker-platform-producti-739104826315-replica-ap-southeast-2"
    assert naming.replica_bucket_name("producti", "739104826315", "ap-southeast-2") == accepted and len(accepted) == 63
    assert config_error(tmp_path, data, "productioneu").endswith(
        "data.replication.region: the replica bucket sagemaker-platform-productioneu-739104826315-replica-ap-southeast-2 "
        "would be 67 characters, more than the 63 S3 allows (allowed: with ap-southeast-2, an environment name of at "
        "most 8 characters; or a region with a shorter name)")
    # CDK's own check agrees on both sides of the line: the longest accepted name is a valid bucket, one more is not.
    s3.Bucket(Stack(App(), "Fits"), "Replica", bucket_name=accepted)
    with pytest.raises(Exception, match="no more than 63 characters"):
        s3.Bucket(Stack(App(), "TooLong"), "Replica", bucket_name=accepted.replace("producti", "productioneu"))


def test_a_registry_logical_id_that_another_resource_of_the_data_stack_has_is_a_config_error(tmp_path):
    """registry_logical_id adopts a group deployed under another logical ID; one that a resource of the data stack
    already has (here its key's) is named as a config error, not left to CDK's SectionAlreadyContains at synth."""
    from aws_cdk import App, CfnResource
    from aws_cdk import aws_kms as kms

    from config import ConfigError, load_environment
    from stacks.foundation.data_stack import DataStack
    from tests.helpers.assembly import cdk_context
    from tests.helpers.configs import EXAMPLE, shipped, write_config

    def data_stack(data: dict) -> DataStack:
        return DataStack(App(context=cdk_context()), "Data", env_config=load_environment(write_config(tmp_path, data)))

    fine = data_stack(shipped("dev"))
    (key,) = [c.node.default_child for c in fine.node.find_all() if isinstance(c, kms.Key)]
    assert isinstance(key, CfnResource)
    taken = fine.resolve(key.logical_id)
    data = shipped("dev")
    data["models"][EXAMPLE]["registry_logical_id"] = taken
    with pytest.raises(ConfigError) as refused:
        data_stack(data)
    assert refused.value.problems == [
        f"{tmp_path / 'dev.yaml'}: models.{EXAMPLE}.registry_logical_id: {taken!r} is the logical ID of Data/DataKey/Resource "
        "in dev-Data too (allowed: an ID no other resource of that stack has)"]
    data["models"][EXAMPLE]["registry_logical_id"] = "CDKMetadata"  # added by CDK at synth
    with pytest.raises(ConfigError, match="'CDKMetadata' is the logical ID of CDK's own metadata resource in dev-Data"):
        data_stack(data)
    # Names of the stack's own constructs (outputs, the tracking server) no longer clash with a group's.
    data["models"][EXAMPLE]["registry_logical_id"] = "Tracking"
    stack = data_stack(data)
    assert stack.resolve(stack.model_package_groups[EXAMPLE].logical_id) == "Tracking"
