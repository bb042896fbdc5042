"""The Serving stack's template in every environment: endpoint, rollout, autoscaling, capture, monitor, alarms.

config/ names no model version yet, so these tests synthesize the app once with one named in
each environment (tests/conftest.serving_config_dir), plus `sandbox`: a one-instance CPU fleet,
the case where the endpoint config takes the data key.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import naming
from catalog.instance_types import has_local_nvme
from config import load_environment
from stacks.serving.autoscaled_endpoint import AUTOSCALING_ROLE, VARIANT
from tests.helpers.assembly import cdk_context
from tests.helpers.configs import ENVIRONMENTS, EXAMPLE, SERVING, TRAINING, serving_config_dir
from tests.helpers.paths import CONFIG_DIR, ROOT
from tests.helpers.snapshots import TemplateSnapshot, mask_asset_hashes
from tests.helpers.templates import as_list, only, props, resources, statements

STACK = SERVING
ALL = (*ENVIRONMENTS, "sandbox")
FLEETS = ("staging", "prod", "sandbox")  # provisioned instances; dev is serverless


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    """Each environment's config, with the example model's serving block as `.serving`."""
    directory = serving_config_dir(tmp_path_factory.mktemp("serving-config"))
    loaded = {env: load_environment(directory / f"{env}.yaml") for env in ALL}
    return {env: SimpleNamespace(serving=cfg.models[EXAMPLE].serving, network=cfg.network, account=cfg.account, region=cfg.region)
            for env, cfg in loaded.items()}


def imported(value: dict) -> str:
    return value["Fn::ImportValue"]


def endpoint_role(template: dict, env: str) -> tuple[str, dict, list[dict]]:
    """(logical id, properties, policy statements) of the role the endpoint's model runs as: its own, named."""
    return own_role(template, naming.endpoint_role_name(env, EXAMPLE))


def own_role(template: dict, name: str) -> tuple[str, dict, list[dict]]:
    """(logical id, properties, policy statements) of the stack's role named ``name``."""
    (role_id, role), = ((k, v) for k, v in resources(template, "AWS::IAM::Role").items() if v["Properties"].get("RoleName") == name)
    policies = [v for v in resources(template, "AWS::IAM::Policy").values() if {"Ref": role_id} in v["Properties"]["Roles"]]
    return role_id, role["Properties"], [s for p in policies for s in statements(p["Properties"]["PolicyDocument"])]


def by_sid(found: list[dict]) -> dict[str, dict]:
    return {s["Sid"]: s for s in found}


def test_no_endpoint_without_a_named_model_and_synth_says_so(assembly):
    for env in ENVIRONMENTS:
        assert not [s for s in assembly.stack_names(env) if s.endswith("-Serving")]
        (metadata_file,) = (assembly.outdir / f"assembly-{env}").glob(f"{env}{EXAMPLE.replace('-', '')}TrainingPipeline*.metadata.json")
        metadata = metadata_file.read_text()
        shown = (CONFIG_DIR / f"{env}.yaml").relative_to(ROOT)  # the file the example assembly was read from
        assert (f"{env}: no endpoint for {EXAMPLE}: models.{EXAMPLE}.serving.model_package_arn is not set in {shown} "
                "(register a version with its training pipeline, then name it there)") in metadata


def test_app_prints_the_notice_in_one_line(capsys, tmp_path, monkeypatch):
    import app as app_module

    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "dev.yaml").write_bytes((CONFIG_DIR / "dev.yaml").read_bytes())
    new_app = app_module.new_app
    monkeypatch.setattr(app_module, "new_app", lambda: new_app(context={**cdk_context(), "config_dir": str(config_dir)},
                                                               outdir=str(tmp_path / "out")))
    monkeypatch.setattr(app_module.cdk.App, "synth", lambda _self: None)  # building the stage is what prints
    assert app_module.main() == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("Bundling asset")]
    models = load_environment(config_dir / "dev.yaml").models
    assert lines == [  # one line per model without a version to serve
        f"dev: no endpoint for {m}: models.{m}.serving.model_package_arn is not set in {config_dir / 'dev.yaml'} "
        "(register a version with its training pipeline, then name it there)" for m in models
    ]


@pytest.mark.parametrize("env", ALL)
def test_model_is_the_configured_registry_version(serving_assembly, configs, env):
    model = props(serving_assembly.template_json(env, STACK), "AWS::SageMaker::Model")
    assert model["Containers"] == [{"ModelPackageName": configs[env].serving.model_package_arn}]
    role_id, _, _ = endpoint_role(serving_assembly.template_json(env, STACK), env)
    assert model["ExecutionRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    if env == "dev":  # serverless: SageMaker offers it outside any VPC and without isolation
        assert "VpcConfig" not in model and "EnableNetworkIsolation" not in model
        return
    assert model["EnableNetworkIsolation"] is True
    subnets = model["VpcConfig"]["Subnets"]
    assert len(subnets) == len(configs[env].network.availability_zones) >= 2
    assert all("WorkloadsSubnet" in imported(s) for s in subnets)
    assert "WorkloadSecurityGroup" in imported(model["VpcConfig"]["SecurityGroupIds"][0])


@pytest.mark.parametrize("env", FLEETS)
def test_fleet_variant_spreads_across_zones_with_a_stable_name(serving_assembly, configs, env):
    config = props(serving_assembly.template_json(env, STACK), "AWS::SageMaker::EndpointConfig")
    (variant,) = config["ProductionVariants"]
    serving = configs[env].serving
    assert variant["VariantName"] == VARIANT == "primary"
    assert variant["InstanceType"] == serving.instance_type
    assert variant["InitialInstanceCount"] == serving.initial_instance_count
    if env != "sandbox":
        assert serving.gpu and variant["InstanceType"].split(".")[1] in {"g4dn", "g5"}
        assert variant["InitialInstanceCount"] >= 2


@pytest.mark.parametrize("env", ALL)
def test_endpoint_config_key_follows_the_nvme_rule(serving_assembly, configs, env):
    config = props(serving_assembly.template_json(env, STACK), "AWS::SageMaker::EndpointConfig")
    serving = configs[env].serving
    nvme = serving.mode == "instances" and has_local_nvme(serving.instance_type)
    assert nvme == (env in ("staging", "prod"))
    if nvme:
        assert "KmsKeyId" not in config
    else:
        assert "DataKey" in imported(config["KmsKeyId"])


def test_dev_is_serverless_without_capture(serving_assembly, configs):
    config = props(serving_assembly.template_json("dev", STACK), "AWS::SageMaker::EndpointConfig")
    (variant,) = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MaxConcurrency": configs["dev"].serving.serverless.max_concurrency,
                                           "MemorySizeInMB": configs["dev"].serving.serverless.memory_size_mb}
    assert "InstanceType" not in variant and "DataCaptureConfig" not in config
    template = serving_assembly.template_json("dev", STACK)
    for kind in ("AWS::ApplicationAutoScaling::ScalableTarget", "AWS::SageMaker::DataQualityJobDefinition"):
        assert not resources(template, kind)
    _, _, found = endpoint_role(template, "dev")
    assert not {"PutCapturedData", "EncryptCapturedData"} & set(by_sid(found))
    assert not [a for s in found for a in as_list(s["Action"]) if a.startswith("s3:Put")]


@pytest.mark.parametrize("env", FLEETS)
def test_data_capture_is_sampled_encrypted_and_written_by_the_endpoint_role(serving_assembly, configs, env):
    template = serving_assembly.template_json(env, STACK)
    capture = props(template, "AWS::SageMaker::EndpointConfig")["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == configs[env].serving.data_capture.sampling_percentage
    assert "DataKey" in imported(capture["KmsKeyId"])
    assert {o["CaptureMode"] for o in capture["CaptureOptions"]} == {"Input", "Output"}
    destination = capture["DestinationS3Uri"]["Fn::Join"][1]
    assert destination[-1] == f"/data-capture/{env}-direct-marketing"
    role_id, _, found = endpoint_role(template, env)
    put, encrypt = by_sid(found)["PutCapturedData"], by_sid(found)["EncryptCapturedData"]
    assert put["Action"] == "s3:PutObject"
    assert put["Resource"]["Fn::Join"][1][1] == f"/data-capture/{env}-direct-marketing/*"
    assert sorted(encrypt["Action"]) == ["kms:Encrypt", "kms:GenerateDataKey"]
    assert "DataKey" in imported(encrypt["Resource"])


@pytest.mark.parametrize("env", ALL)
def test_the_endpoint_runs_as_its_own_role_that_reads_only_its_models_versions(serving_assembly, configs, env):
    """The model's execution role is the stack's own, named, trusted by SageMaker for this account only, and may read
    this model's pipeline runs only: GetObject, no listing, as SageMaker's "CreateModel API: Execution Role
    Permissions" lists (docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html). Its policy exists before the
    model (and so before the endpoint that downloads the artifact as it)."""
    template = serving_assembly.template_json(env, STACK)
    role_id, role, found = endpoint_role(template, env)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": configs[env].account}}
    s3_statements = [s for s in found if any(a.startswith("s3:") for a in as_list(s["Action"]))]
    reads = [s for s in s3_statements if s["Action"] != "s3:PutObject"]
    assert [s["Action"] for s in reads] == ["s3:GetObject"]
    (read,) = reads
    assert imported(read["Resource"]["Fn::Join"][1][0]) == naming.model_artifacts_bucket_export(env)
    assert read["Resource"]["Fn::Join"][1][1] == f"/{naming.pipeline_runs_prefix(env, EXAMPLE)}/*"
    assert not [a for s in found for a in as_list(s["Action"]) if a.startswith("s3:List") or a == "s3:*"]
    decrypt = by_sid(found)["DecryptModelVersions"]
    assert decrypt["Action"] == "kms:Decrypt" and "DataKey" in imported(decrypt["Resource"])
    (logs,) = [s for s in found if s["Sid"] == "WriteOwnLogGroups"]
    assert logs["Resource"] == f"arn:aws:logs:{configs[env].region}:{configs[env].account}:log-group:/aws/sagemaker/Endpoints/{env}-{EXAMPLE}:*"
    assert not [s for s in found if "iam:PassRole" in as_list(s["Action"])]
    # SageMaker pulls the version's image (AWS's XGBoost repository for the region) as this role, and nothing else.
    pulls = [s for s in found if "ecr:BatchGetImage" in as_list(s["Action"])]
    assert [s["Resource"] for s in pulls] == ["arn:aws:ecr:us-east-1:683313688378:repository/sagemaker-xgboost"]
    # A serverless endpoint runs outside the VPC: no network-interface permissions for it.
    assert bool([s for s in found if "ec2:CreateNetworkInterface" in as_list(s["Action"])]) == (configs[env].serving.mode == "instances")
    model_id, _ = only(template, "AWS::SageMaker::Model")
    (policy_id,) = [k for k, v in resources(template, "AWS::IAM::Policy").items() if {"Ref": role_id} in v["Properties"]["Roles"]]
    assert policy_id in template["Resources"][model_id]["DependsOn"]


EXPECTED_ROUTING = {
    "staging": {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50}, "WaitIntervalInSeconds": 300},
    "prod": {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 20}, "WaitIntervalInSeconds": 600},
    "sandbox": {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50}, "WaitIntervalInSeconds": 60},
    "dev": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300},
}


@pytest.mark.parametrize("env", ALL)
def test_blue_green_rollout_rolls_back_on_both_alarms(serving_assembly, configs, env):
    template = serving_assembly.template_json(env, STACK)
    endpoint = props(template, "AWS::SageMaker::Endpoint")
    rollout = configs[env].serving.rollout
    assert endpoint["EndpointName"] == f"{env}-direct-marketing"
    # Fleets keep the instance count autoscaling reached when a new version rolls out.
    assert endpoint.get("RetainAllVariantProperties", False) is (env != "dev")
    policy = endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == EXPECTED_ROUTING[env]
    assert policy["TerminationWaitInSeconds"] == rollout.termination_wait_seconds
    assert policy["MaximumExecutionTimeoutInSeconds"] == rollout.max_execution_seconds
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    rollback = endpoint["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert sorted(a["AlarmName"]["Ref"] for a in rollback) == sorted(alarms)


@pytest.mark.parametrize("env", ALL)
def test_alarms_watch_5xx_and_p99_latency_and_notify_the_topic(serving_assembly, configs, env):
    alarms = {v["Properties"]["MetricName"]: v["Properties"]
              for v in resources(serving_assembly.template_json(env, STACK), "AWS::CloudWatch::Alarm").values()}
    cfg = configs[env].serving.alarms
    errors, latency = alarms["Invocation5XXErrors"], alarms["ModelLatency"]
    assert (errors["Statistic"], errors["Threshold"]) == ("Average", pytest.approx(cfg.error_5xx_percent / 100))
    assert (latency["ExtendedStatistic"], latency["Threshold"]) == ("p99", cfg.model_latency_p99_ms * 1000)
    for alarm in (errors, latency):
        assert alarm["Dimensions"] == [{"Name": "EndpointName", "Value": f"{env}-direct-marketing"},
                                       {"Name": "VariantName", "Value": VARIANT}]
        assert alarm["EvaluationPeriods"] == cfg.evaluation_minutes and alarm["Period"] == 60
        assert alarm["TreatMissingData"] == "notBreaching"
        for actions in (alarm["AlarmActions"], alarm["OKActions"]):
            assert "TrainingPipeline" in imported(actions[0]) and "Notifications" in imported(actions[0])


def test_the_topic_and_its_key_let_cloudwatch_alarms_of_this_account_publish(assembly):
    template = assembly.template_json("prod", TRAINING)
    only_our_alarms = {"StringEquals": {"aws:SourceAccount": "333333333333"},
                       "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:333333333333:alarm:*"}}
    key = props(template, "AWS::KMS::Key")["KeyPolicy"]["Statement"]
    (from_alarms,) = [s for s in key if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert sorted(from_alarms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert from_alarms["Condition"] == only_our_alarms
    # A topic policy replaces SNS's default: without this statement alarm actions are refused.
    topic_policy = props(template, "AWS::SNS::TopicPolicy")["PolicyDocument"]["Statement"]
    (publish,) = [s for s in topic_policy if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert publish["Action"] == "sns:Publish" and publish["Condition"] == only_our_alarms
    assert publish["Resource"] == {"Ref": only(template, "AWS::SNS::Topic")[0]}


@pytest.mark.parametrize("env", FLEETS)
def test_autoscaling_tracks_invocations_and_gpu_and_never_drops_below_the_minimum(serving_assembly, configs, env):
    template = serving_assembly.template_json(env, STACK)
    scaling = configs[env].serving.autoscaling
    target_id, target = only(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    endpoint_id = only(template, "AWS::SageMaker::Endpoint")[0]
    assert target["DependsOn"] == [endpoint_id]
    t = target["Properties"]
    assert t["ResourceId"] == f"endpoint/{env}-direct-marketing/variant/{VARIANT}"
    assert t["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (t["MinCapacity"], t["MaxCapacity"]) == (scaling.min_instances, scaling.max_instances)
    if env != "sandbox":
        assert t["MinCapacity"] >= 2
    assert t["RoleARN"].endswith(f":role/{AUTOSCALING_ROLE}")
    policies = {p["Properties"]["PolicyName"].split("ScalableTarget")[1][:-8]: p["Properties"]
                for p in resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()}
    assert set(policies) == ({"InvocationsPerInstance", "GpuUtilization"} if env != "sandbox" else {"InvocationsPerInstance"})
    invocations = policies["InvocationsPerInstance"]["TargetTrackingScalingPolicyConfiguration"]
    assert invocations["PredefinedMetricSpecification"] == {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}
    assert invocations["TargetValue"] == scaling.invocations_per_instance
    for policy in policies.values():
        assert policy["ScalingTargetId"] == {"Ref": target_id}
        tracking = policy["TargetTrackingScalingPolicyConfiguration"]
        assert (tracking["ScaleInCooldown"], tracking["ScaleOutCooldown"]) == (
            scaling.scale_in_cooldown_seconds, scaling.scale_out_cooldown_seconds)
    if env != "sandbox":
        gpu = policies["GpuUtilization"]["TargetTrackingScalingPolicyConfiguration"]
        assert gpu["TargetValue"] == scaling.gpu_utilization_percent
        assert gpu["CustomizedMetricSpecification"]["MetricName"] == "GPUUtilization"
        assert gpu["CustomizedMetricSpecification"]["Namespace"] == "/aws/sagemaker/Endpoints"


@pytest.mark.parametrize("env", FLEETS)
def test_data_quality_monitor_compares_captures_with_the_training_baseline(serving_assembly, configs, env):
    template = serving_assembly.template_json(env, STACK)
    monitoring = configs[env].serving.monitoring
    job_id, job = only(template, "AWS::SageMaker::DataQualityJobDefinition")
    monitor_id, _, monitor_statements = own_role(template, naming.monitor_role_name(env, EXAMPLE))
    (monitor_policy,) = [k for k, v in resources(template, "AWS::IAM::Policy").items() if {"Ref": monitor_id} in v["Properties"]["Roles"]]
    assert sorted(job["DependsOn"]) == sorted([only(template, "AWS::SageMaker::Endpoint")[0], monitor_policy])
    p = job["Properties"]
    app = dict(p["DataQualityAppSpecification"])
    # preprocess.py writes the record preprocessor beside the version's baseline (tests/unit/test_raw_rows.py).
    assert app.pop("RecordPreprocessorSourceUri")["Fn::Join"][1][-1] == f"/{monitoring.baseline_prefix}/record_preprocessor.py"
    assert app == {
        "ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer",
        "Environment": {"publish_cloudwatch_metrics": "Enabled"},
    }
    assert "JobDefinitionName" not in p  # generated: every change replaces the definition
    baseline = p["DataQualityBaselineConfig"]
    for name, resource in (("constraints", "ConstraintsResource"), ("statistics", "StatisticsResource")):
        assert baseline[resource]["S3Uri"]["Fn::Join"][1][-1] == f"/{monitoring.baseline_prefix}/{name}.json"
    assert p["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == f"{env}-direct-marketing"
    assert "DataKey" in imported(p["DataQualityJobOutputConfig"]["KmsKeyId"])
    output = p["DataQualityJobOutputConfig"]["MonitoringOutputs"][0]["S3Output"]["S3Uri"]["Fn::Join"][1][-1]
    assert output == f"/monitoring/{env}-direct-marketing/data-quality"
    cluster = p["JobResources"]["ClusterConfig"]
    assert cluster["InstanceType"] == monitoring.instance_type and "DataKey" in imported(cluster["VolumeKmsKeyId"])
    assert p["NetworkConfig"]["EnableNetworkIsolation"] is True
    assert p["NetworkConfig"]["EnableInterContainerTrafficEncryption"] is True
    assert len(p["NetworkConfig"]["VpcConfig"]["Subnets"]) >= 2
    assert p["RoleArn"] == {"Fn::GetAtt": [monitor_id, "Arn"]}
    # The job runs as this stack's own monitor role: it reads this endpoint's captures and the configured baseline,
    # writes this endpoint's reports, and pulls AWS's analyzer image.
    found = by_sid(monitor_statements)
    assert found["ReadCapturedData"]["Resource"]["Fn::Join"][1][-1] == f"/data-capture/{env}-{EXAMPLE}/*"
    assert found["ReadBaseline"]["Resource"]["Fn::Join"][1][-1] == f"/{monitoring.baseline_prefix}/*"
    assert found["WriteReports"]["Resource"]["Fn::Join"][1][-1] == f"/monitoring/{env}-{EXAMPLE}/data-quality/*"
    assert [a for s in monitor_statements for a in as_list(s["Action"]) if a.startswith("s3:")] == [
        "s3:GetObject", "s3:GetObject", "s3:ListBucket", "s3:PutObject"]
    assert found["PullSageMakerImages"]["Resource"] == "arn:aws:ecr:us-east-1:156813124566:repository/sagemaker-model-monitor-analyzer"
    assert p["StoppingCondition"]["MaxRuntimeInSeconds"] == monitoring.max_runtime_minutes * 60
    schedule = props(template, "AWS::SageMaker::MonitoringSchedule")["MonitoringScheduleConfig"]
    # The generated name, from the definition's ARN (…:data-quality-job-definition/<name>).
    assert schedule["MonitoringJobDefinitionName"] == {
        "Fn::Select": [1, {"Fn::Split": ["/", {"Fn::GetAtt": [job_id, "JobDefinitionArn"]}]}]}
    assert schedule["MonitoringType"] == "DataQuality"
    expected = {"hourly": "cron(0 * ? * * *)", "daily": "cron(0 0 ? * * *)"}[monitoring.schedule]
    assert schedule["ScheduleConfig"]["ScheduleExpression"] == expected


@pytest.mark.parametrize("env", ALL)
def test_dashboard_shows_traffic_latency_errors_fleet_and_gpu(serving_assembly, configs, env):
    body = props(serving_assembly.template_json(env, STACK), "AWS::CloudWatch::Dashboard")["DashboardBody"]
    text = "".join(p if isinstance(p, str) else "" for p in body["Fn::Join"][1])
    widgets = json.loads(text.replace('"region":""', '"region":"x"'))["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    expected = ["Invocations", "Model latency", "Errors"]
    if env != "dev":
        expected += ["Instances", "Invocations per instance"]
    if configs[env].serving.gpu:
        expected.append("GPU")
    assert titles == [*expected, "Alarms"]
    latency = next(w for w in widgets if w["properties"]["title"] == "Model latency")
    assert [m[-1]["stat"] for m in latency["properties"]["metrics"]] == ["p50", "p99"]


def test_monitoring_role_reads_captures_and_baselines_and_writes_only_reports(assembly):
    roles = assembly.template_json("prod", "Roles")
    (policy,) = [v["Properties"] for v in roles["Resources"].values()
                 if v["Type"] == "AWS::IAM::Policy" and "MonitoringRole" in json.dumps(v["Properties"]["Roles"])]
    statements = policy["PolicyDocument"]["Statement"]

    def object_keys(action_prefix: str) -> set[str]:
        keys = set()
        for s in statements:
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            if any(a.startswith(action_prefix) for a in actions):
                for resource in s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]:
                    if "Fn::Join" in resource:
                        keys.add(resource["Fn::Join"][1][-1])
        return keys

    assert object_keys("s3:GetObject") == {"/data-capture/*", "/pipelines/*/preprocess/baseline/*"}
    assert object_keys("s3:Put") == {"/monitoring/*"}
    assert not any("s3:DeleteObject" in json.dumps(s["Action"]) for s in statements)


@pytest.mark.parametrize("env", ALL)
def test_serving_template_snapshot(serving_assembly, snapshot, env):
    template = mask_asset_hashes(serving_assembly.template_json(env, STACK))
    assert template == snapshot(extension_class=TemplateSnapshot)
