"""The `serving:` block: what SageMaker and the platform's promises allow, each refusal one line."""

from __future__ import annotations

import pytest

from catalog.instance_types import has_local_nvme, is_gpu_instance_type
from config import load_environment
from stacks.serving.autoscaled_endpoint import endpoint_kms_key
from tests.helpers.configs import (
    ENVIRONMENTS,
    config_error,
    model_package_arn,
    shipped,
    write_config,
)

DEV_ARN = model_package_arn("dev", "123456789012")
PROD_ARN = model_package_arn("prod", "333333333333")
BASELINE = "pipelines/prod/exec-1/preprocess/baseline"


def env_with(env: str, **serving) -> dict:
    """A shipped environment with serving keys replaced; dotted keys reach into sub-blocks."""
    data = shipped(env)
    block = data.setdefault("serving", {})
    for path, value in serving.items():
        node = block
        *parents, leaf = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return data


def load(tmp_path, env: str, data: dict):
    return load_environment(write_config(tmp_path, data, env))


def test_shipped_environments_name_no_model_yet_and_keep_their_promises(tmp_path):
    for env, data in ((e, shipped(e)) for e in ENVIRONMENTS):
        serving = load(tmp_path, env, data).serving
        assert serving.model_package_arn is None
    staging, prod = (load(tmp_path, e, shipped(e)) for e in ("staging", "prod"))
    for cfg in (staging, prod):
        assert cfg.serving_requires_gpu and cfg.serving.gpu
        assert cfg.serving.initial_instance_count >= 2 and cfg.serving.autoscaling.min_instances >= 2
    dev = load(tmp_path, "dev", shipped("dev"))
    assert dev.serving.mode == "serverless" and not dev.serving_requires_gpu


def test_gpu_is_the_default_in_protected_environments_only(tmp_path):
    data = shipped("staging")
    data["serving"] = {}
    cfg = load(tmp_path, "staging", data)
    assert cfg.serving.instance_type == "ml.g4dn.xlarge" and cfg.serving_requires_gpu
    dev = shipped("dev")
    dev["serving"] = {"instance_type": "ml.m5.large", "initial_instance_count": 1, "autoscaling": {"min_instances": 1}}
    assert not load(tmp_path, "dev", dev).serving_requires_gpu
    staging_cpu = env_with("staging", instance_type="ml.m5.large", require_gpu=False)
    assert load(tmp_path, "staging", staging_cpu).serving.instance_type == "ml.m5.large"


def test_a_named_model_version_with_its_baseline_loads(tmp_path):
    cfg = load(tmp_path, "prod", env_with("prod", model_package_arn=PROD_ARN, monitoring__baseline_prefix=BASELINE + "/"))
    assert cfg.serving.model_package == {"partition": "aws", "region": "us-east-1", "account": "333333333333",
                                         "group": "prod-direct-marketing", "version": "3"}
    assert cfg.serving.monitoring.baseline_prefix == BASELINE


@pytest.mark.parametrize(
    "env, changes, expected",
    [
        ("prod", {"instance_type": "ml.g5.9000xlarge"},
         "serving.instance_type = 'ml.g5.9000xlarge': not a SageMaker hosting instance type"),
        ("prod", {"instance_type": "ml.t3.medium.xl"}, "not a SageMaker hosting instance type"),
        ("prod", {"instance_type": "ml.m5.xlarge"},
         "serving.instance_type: 'ml.m5.xlarge' has no GPU, and prod is a protected environment (allowed: a GPU hosting type"),
        ("dev", {"mode": "instances", "instance_type": "ml.c5.large", "require_gpu": True, "data_capture": {}, "monitoring": {}},
         "serving.instance_type: 'ml.c5.large' has no GPU, and require_gpu is true"),
        ("dev", {"require_gpu": True}, "serving.mode: serverless endpoints have no GPU, and require_gpu is true"),
        ("staging", {"mode": "serverless", "data_capture": {"enabled": False}, "monitoring": {"enabled": False}},
         "serving.mode: 'serverless' has no GPU, VPC or multi-AZ fleet (allowed in prod and staging* environments: instances)"),
        ("prod", {"initial_instance_count": 1, "autoscaling__min_instances": 1},
         "serving.initial_instance_count: 1 instance cannot span two Availability Zones (allowed in prod and staging* "
         "environments: 2 or more)"),
        ("staging", {"autoscaling__min_instances": 1},
         "serving.autoscaling.min_instances: 1 instance cannot span two Availability Zones"),
        ("prod", {"initial_instance_count": 20},
         "serving.initial_instance_count: 20 is outside autoscaling's 3..12 (allowed: min_instances <= count <= max_instances)"),
        ("prod", {"autoscaling__min_instances": 8, "autoscaling__max_instances": 4},
         "serving.autoscaling.min_instances: 8 exceeds max_instances 4"),
        ("prod", {"autoscaling__gpu_utilization_percent": 5}, "serving.autoscaling.gpu_utilization_percent = 5: must be an integer in 10..100"),
        ("prod", {"autoscaling__scale_in_cooldown_seconds": -1}, "serving.autoscaling.scale_in_cooldown_seconds = -1"),
        ("prod", {"model_package_arn": "arn:aws:sagemaker:us-east-1:333333333333:model-package-group/prod-direct-marketing"},
         "serving.model_package_arn = <str of 82>: not a model package version ARN (allowed: arn:aws:sagemaker:<region>:"),
        ("prod", {"model_package_arn": "prod-direct-marketing/3"}, "not a model package version ARN"),
        ("prod", {"model_package_arn": model_package_arn("prod", "111111111111"), "monitoring__baseline_prefix": BASELINE},
         "serving.model_package_arn: the version is in 111111111111/us-east-1, this environment is 333333333333/us-east-1"),
        ("prod", {"model_package_arn": PROD_ARN.replace("us-east-1", "eu-west-1"), "monitoring__baseline_prefix": BASELINE},
         "the version is in 333333333333/eu-west-1"),
        ("prod", {"model_package_arn": PROD_ARN},
         "serving.monitoring.baseline_prefix: required to monitor a model"),
        ("prod", {"monitoring__baseline_prefix": "s3://bucket/baseline"},
         "must be the key prefix of a baseline a training pipeline run wrote in the model-artifacts bucket: "
         "pipelines/<env>/<execution id>/preprocess/baseline"),
        ("prod", {"monitoring__baseline_prefix": "pipelines/prod/../../data-capture"}, "must be the key prefix of a baseline"),
        ("prod", {"monitoring__baseline_prefix": "raw/prod/exec-1/preprocess/baseline"}, "must be the key prefix of a baseline"),
        ("prod", {"data_capture__sampling_percentage": 0},
         "serving.data_capture.sampling_percentage: 0 captures nothing for Model Monitor to read (allowed with monitoring enabled: 1..100)"),
        ("prod", {"instance_type": "ml.p2.xlarge"}, "serving.instance_type: 'ml.p2.xlarge' has no GPU"),
        ("prod", {"data_capture__enabled": False},
         "serving.monitoring.enabled: Model Monitor reads captured requests, but data_capture.enabled is false"),
        ("prod", {"data_capture__sampling_percentage": 101}, "serving.data_capture.sampling_percentage = 101: must be an integer in 0..100"),
        ("prod", {"monitoring__schedule": "weekly"}, "serving.monitoring.schedule = 'weekly'"),
        ("prod", {"monitoring__instance_type": "ml.g5.9000xlarge"}, "not a SageMaker processing instance type"),
        ("prod", {"monitoring__max_runtime_minutes": 90}, "serving.monitoring.max_runtime_minutes = 90: must be an integer in 1..60"),
        ("dev", {"data_capture__enabled": True},
         "serving.data_capture.enabled: SageMaker serverless endpoints have no data capture (allowed with mode serverless"),
        ("dev", {"monitoring__enabled": True, "data_capture__enabled": False},
         "serving.monitoring.enabled: SageMaker serverless endpoints have no monitoring"),
        ("dev", {"serverless__memory_size_mb": 1500}, "serving.serverless.memory_size_mb = 1500: allowed: one of 1024, 2048"),
        ("dev", {"serverless__max_concurrency": 500}, "serving.serverless.max_concurrency = 500: must be an integer in 1..200"),
        ("prod", {"rollout__strategy": "linear", "rollout__step_percent": 5},
         "serving.rollout.step_percent: 5 is below linear's minimum (allowed for linear: 10..50)"),
        ("prod", {"rollout__step_percent": 60}, "serving.rollout.step_percent = 60: must be an integer in 1..50"),
        ("prod", {"rollout__strategy": "rolling"}, "serving.rollout.strategy = 'rolling'"),
        ("prod", {"rollout__max_execution_seconds": 1200},
         "serving.rollout.max_execution_seconds: 1200 leaves no time to start the new fleet after the rollout's waits "
         "(3300 s of steps and termination wait; allowed: at least 4200, the waits plus 900 s (this project's margin), "
         "at most 28800)"),
        ("prod", {"model_package_arn": PROD_ARN, "monitoring__baseline_prefix": "pipelines/dev/exec-1/preprocess/baseline"},
         "serving.monitoring.baseline_prefix: 'pipelines/dev/exec-1/preprocess/baseline' was written by the dev pipeline, "
         "not in this environment's bucket (allowed: pipelines/prod/<execution id>/preprocess/baseline)"),
        ("prod", {"rollout__wait_seconds": 7200}, "serving.rollout.wait_seconds = 7200: must be an integer in 0..3600"),
        ("prod", {"alarms__error_5xx_percent": 0}, "serving.alarms.error_5xx_percent = 0"),
        ("prod", {"alarms__model_latency_p99_ms": 0}, "serving.alarms.model_latency_p99_ms = 0: must be an integer in 1..60000"),
        ("prod", {"mode": "batch"}, "serving.mode = 'batch'"),
        ("prod", {"replicas": 3}, "serving.replicas: unknown key"),
    ],
)
def test_bad_serving_settings_fail_with_one_line(tmp_path, env, changes, expected):
    assert expected in config_error(tmp_path, env_with(env, **changes), env)


def test_serverless_rollouts_count_one_wait_whatever_the_strategy(tmp_path):
    """SageMaker shifts serverless traffic all at once: linear steps neither apply nor are checked."""
    data = env_with("dev", rollout__strategy="linear", rollout__step_percent=5, rollout__wait_seconds=600,
                    rollout__max_execution_seconds=1500)
    cfg = load(tmp_path, "dev", data)
    assert cfg.serving.rollout.total_wait_seconds(shifting=False) == 600
    message = config_error(tmp_path, env_with("dev", rollout__wait_seconds=600, rollout__max_execution_seconds=1400), "dev")
    assert "(600 s of steps and termination wait; allowed: at least 1500" in message


def test_region_without_the_monitor_image_must_turn_monitoring_off(tmp_path):
    data = env_with("prod")
    data.update(region="ca-west-1")  # SageMaker and its XGBoost image are there, the analyzer is not
    data["network"].update(availability_zones=["ca-west-1a", "ca-west-1b"], nat_gateways=2)
    data["pipeline"]["training"]["debugger"] = {"profiler": False, "rules": []}  # no Debugger image there either
    message = config_error(tmp_path, data, "prod")
    assert "serving.monitoring: Model Monitor analyzer images are not published in ca-west-1" in message
    assert message.endswith("; set monitoring.enabled: false there")


@pytest.mark.parametrize(
    "instance_type, gpu, nvme",
    [
        ("ml.g4dn.xlarge", True, True),
        ("ml.g5.2xlarge", True, True),
        ("ml.g6.xlarge", True, True),
        ("ml.p3.2xlarge", True, False),
        ("ml.p2.xlarge", False, False),  # K80: below what CUDA 12 XGBoost supports
        ("ml.p4d.24xlarge", True, True),
        ("ml.m5.large", False, False),
        ("ml.m5d.large", False, True),
        ("ml.c7i.large", False, False),
        ("ml.inf2.xlarge", False, False),
    ],
)
def test_gpu_and_nvme_rules(instance_type, gpu, nvme):
    assert is_gpu_instance_type(instance_type) is gpu
    assert has_local_nvme(instance_type) is nvme


def test_endpoint_config_takes_the_key_only_without_local_nvme():
    class Key:
        key_arn = "arn:aws:kms:us-east-1:123456789012:key/abc"

    assert endpoint_kms_key("ml.g5.xlarge", Key()) is None
    assert endpoint_kms_key("ml.g4dn.xlarge", Key()) is None
    assert endpoint_kms_key("ml.m5.large", Key()) == Key.key_arn
    assert endpoint_kms_key("ml.p3.2xlarge", Key()) == Key.key_arn
