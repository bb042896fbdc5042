"""A model's `serving:` block: what SageMaker and the platform's promises allow, each refusal one line."""

from __future__ import annotations

import pytest

from catalog.instance_types import has_local_nvme, is_gpu_instance_type
from config import load_environment
from stacks.serving.autoscaled_endpoint import endpoint_kms_key
from tests.helpers.configs import (
    ENVIRONMENTS,
    EXAMPLE,
    config_error,
    config_errors,
    example,
    model_package_arn,
    shipped,
    write_config,
)
from tests.helpers.paths import CONFIG_DIR

DEV_ARN = model_package_arn("dev", "123456789012")
PROD_ARN = model_package_arn("prod", "333333333333")
BASELINE = f"pipelines/prod/{EXAMPLE}/exec-1/preprocess/baseline"
AT = f"models.{EXAMPLE}.serving"


def env_with(env: str, **serving) -> dict:
    """A shipped environment with the example model's serving keys replaced; dotted keys reach into sub-blocks."""
    data = shipped(env)
    block = example(data).setdefault("serving", {})
    if block.get("mode", "instances") == "instances":  # monitored, as an account that already uses Model Monitor
        block.setdefault("monitoring", {}).update(enabled=True, account_uses_model_monitor=True)
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


def serving(tmp_path, env: str, data: dict):
    """The example model's serving config, and the environment it is in."""
    cfg = load(tmp_path, env, data)
    return cfg.models[EXAMPLE].serving, cfg


def test_shipped_environments_name_no_model_yet_and_keep_their_promises(tmp_path):
    for env, data in ((e, shipped(e)) for e in ENVIRONMENTS):
        assert serving(tmp_path, env, data)[0].model_package_arn is None
    for env in ("staging", "prod"):
        block, cfg = serving(tmp_path, env, shipped(env))
        assert cfg.serving_requires_gpu(cfg.models[EXAMPLE]) and block.gpu
        assert block.initial_instance_count >= 2 and block.autoscaling.min_instances >= 2
    block, dev = serving(tmp_path, "dev", shipped("dev"))
    assert block.mode == "serverless" and not dev.serving_requires_gpu(dev.models[EXAMPLE])


def test_gpu_is_the_default_in_protected_environments_only(tmp_path):
    data = shipped("staging")
    example(data)["serving"] = {}
    block, cfg = serving(tmp_path, "staging", data)
    assert block.instance_type == "ml.g4dn.xlarge" and cfg.serving_requires_gpu(cfg.models[EXAMPLE])
    dev = shipped("dev")
    example(dev)["serving"] = {"instance_type": "ml.m5.large", "initial_instance_count": 1, "autoscaling": {"min_instances": 1}}
    _, dev_cfg = serving(tmp_path, "dev", dev)
    assert not dev_cfg.serving_requires_gpu(dev_cfg.models[EXAMPLE])
    staging_cpu = env_with("staging", instance_type="ml.m5.large", require_gpu=False)
    assert serving(tmp_path, "staging", staging_cpu)[0].instance_type == "ml.m5.large"


def test_a_named_model_version_with_its_baseline_loads(tmp_path):
    block, _ = serving(tmp_path, "prod", env_with("prod", model_package_arn=PROD_ARN, monitoring__baseline_prefix=BASELINE + "/"))
    assert block.model_package == {"partition": "aws", "region": "us-east-1", "account": "333333333333",
                                   "group": "prod-direct-marketing", "version": "3"}
    assert block.monitoring.baseline_prefix == BASELINE


@pytest.mark.parametrize(
    "env, changes, expected",
    [
        ("prod", {"instance_type": "ml.g5.9000xlarge"},
         f"{AT}.instance_type = 'ml.g5.9000xlarge': not a SageMaker hosting instance type"),
        ("prod", {"instance_type": "ml.t3.medium.xl"}, "not a SageMaker hosting instance type"),
        # In botocore's hosting enum, but no image of the model's runs there (catalog/instance_types.xgboost_image_problem).
        ("prod", {"instance_type": "ml.c7g.xlarge"}, f"{AT}.instance_type = 'ml.c7g.xlarge': 'ml.c7g.xlarge' is an ARM (Graviton) "
         "host, and SageMaker's XGBoost image is built for x86 only (allowed: an x86 type"),
        ("prod", {"instance_type": "ml.p2.xlarge"}, "'ml.p2.xlarge' is a K80 GPU host, below the CUDA 12 that SageMaker's XGBoost image needs"),
        ("prod", {"instance_type": "ml.m5.xlarge"},
         f"{AT}.instance_type: 'ml.m5.xlarge' has no GPU, and prod is a protected environment (allowed: a GPU hosting type"),
        ("dev", {"mode": "instances", "instance_type": "ml.c5.large", "require_gpu": True, "data_capture": {}, "monitoring": {}},
         f"{AT}.instance_type: 'ml.c5.large' has no GPU, and require_gpu is true"),
        ("dev", {"require_gpu": True}, f"{AT}.mode: serverless endpoints have no GPU, and require_gpu is true"),
        ("staging", {"mode": "serverless", "data_capture": {"enabled": False}, "monitoring": {"enabled": False}},
         f"{AT}.mode: 'serverless' has no GPU, VPC or multi-AZ fleet (allowed in prod and staging* environments: instances)"),
        ("prod", {"initial_instance_count": 1, "autoscaling__min_instances": 1},
         f"{AT}.initial_instance_count: 1 instance cannot span two Availability Zones (allowed in prod and staging* "
         "environments: 2 or more)"),
        ("staging", {"autoscaling__min_instances": 1},
         f"{AT}.autoscaling.min_instances: 1 instance cannot span two Availability Zones"),
        ("prod", {"initial_instance_count": 20},
         f"{AT}.initial_instance_count: 20 is outside autoscaling's 3..12 (allowed: min_instances <= count <= max_instances)"),
        ("prod", {"autoscaling__min_instances": 8, "autoscaling__max_instances": 4},
         f"{AT}.autoscaling.min_instances: 8 exceeds max_instances 4"),
        ("prod", {"autoscaling__gpu_utilization_percent": 5}, f"{AT}.autoscaling.gpu_utilization_percent = 5: must be an integer in 10..100"),
        ("prod", {"autoscaling__scale_in_cooldown_seconds": -1}, f"{AT}.autoscaling.scale_in_cooldown_seconds = -1"),
        ("prod", {"model_package_arn": "arn:aws:sagemaker:us-east-1:333333333333:model-package-group/prod-direct-marketing"},
         f"{AT}.model_package_arn = <str of 82 characters>: not a model package version ARN (allowed: arn:aws:sagemaker:<region>:"),
        ("prod", {"model_package_arn": "prod-direct-marketing/3"}, "not a model package version ARN"),
        ("prod", {"model_package_arn": model_package_arn("prod", "111111111111"), "monitoring__baseline_prefix": BASELINE},
         f"{AT}.model_package_arn: the version is in 111111111111/us-east-1, this environment is 333333333333/us-east-1"),
        ("prod", {"model_package_arn": PROD_ARN.replace("us-east-1", "eu-west-1"), "monitoring__baseline_prefix": BASELINE},
         "the version is in 333333333333/eu-west-1"),
        ("prod", {"model_package_arn": PROD_ARN},
         f"{AT}.monitoring.baseline_prefix: required to monitor a model"),
        ("prod", {"monitoring__baseline_prefix": "s3://bucket/baseline"},
         "must be the key prefix of a baseline a training pipeline run wrote in the model-artifacts bucket: "
         "pipelines/<env>/<model>/<execution id>/preprocess/baseline"),
        ("prod", {"monitoring__baseline_prefix": "pipelines/prod/../../data-capture"}, "must be the key prefix of a baseline"),
        ("prod", {"monitoring__baseline_prefix": "raw/prod/exec-1/preprocess/baseline"}, "must be the key prefix of a baseline"),
        ("prod", {"data_capture__sampling_percentage": 0},
         f"{AT}.data_capture.sampling_percentage: 0 captures nothing for Model Monitor to read (allowed with monitoring enabled: 1..100)"),
        ("prod", {"data_capture__enabled": False},
         f"{AT}.monitoring.enabled: Model Monitor reads captured requests, but data_capture.enabled is false"),
        ("prod", {"data_capture__sampling_percentage": 101}, f"{AT}.data_capture.sampling_percentage = 101: must be an integer in 0..100"),
        ("prod", {"monitoring__schedule": "weekly"}, f"{AT}.monitoring.schedule = 'weekly'"),
        ("prod", {"monitoring__instance_type": "ml.g5.9000xlarge"}, "not a SageMaker processing instance type"),
        ("prod", {"monitoring__max_runtime_minutes": 90}, f"{AT}.monitoring.max_runtime_minutes = 90: must be an integer in 1..60"),
        ("dev", {"data_capture__enabled": True},
         f"{AT}.data_capture.enabled: SageMaker serverless endpoints have no data capture (allowed with mode serverless"),
        ("dev", {"monitoring__enabled": True, "monitoring__account_uses_model_monitor": True, "data_capture__enabled": False},
         f"{AT}.monitoring.enabled: SageMaker serverless endpoints have no monitoring"),
        ("dev", {"serverless__memory_size_mb": 1500}, f"{AT}.serverless.memory_size_mb = 1500: allowed: one of 1024, 2048"),
        ("dev", {"serverless__max_concurrency": 500}, f"{AT}.serverless.max_concurrency = 500: must be an integer in 1..200"),
        ("prod", {"rollout__strategy": "linear", "rollout__step_percent": 5},
         f"{AT}.rollout.step_percent: 5 is below linear's minimum (allowed for linear: 10..50)"),
        ("prod", {"rollout__step_percent": 60}, f"{AT}.rollout.step_percent = 60: must be an integer in 1..50"),
        ("prod", {"rollout__strategy": "rolling"}, f"{AT}.rollout.strategy = 'rolling'"),
        ("prod", {"rollout__max_execution_seconds": 1200},
         f"{AT}.rollout.max_execution_seconds: 1200 leaves no time to start the new fleet after the rollout's waits "
         "(3300 s of steps and termination wait; allowed: at least 4200, the waits plus 900 s (this project's margin), "
         "at most 28800)"),
        ("prod", {"model_package_arn": PROD_ARN, "monitoring__baseline_prefix": f"pipelines/dev/{EXAMPLE}/exec-1/preprocess/baseline"},
         f"{AT}.monitoring.baseline_prefix: 'pipelines/dev/{EXAMPLE}/exec-1/preprocess/baseline' was "
         f"written by the dev/{EXAMPLE} pipeline, not by this model's in this environment (allowed: "
         f"pipelines/prod/{EXAMPLE}/<execution id>/preprocess/baseline)"),
        ("prod", {"model_package_arn": PROD_ARN, "monitoring__baseline_prefix": "pipelines/prod/churn/exec-1/preprocess/baseline"},
         "was written by the prod/churn pipeline, not by this model's in this environment"),
        ("prod", {"rollout__wait_seconds": 7200}, f"{AT}.rollout.wait_seconds = 7200: must be an integer in 0..3600"),
        ("prod", {"alarms__error_5xx_percent": 0}, f"{AT}.alarms.error_5xx_percent = 0"),
        ("prod", {"alarms__model_latency_p99_ms": 0}, f"{AT}.alarms.model_latency_p99_ms = 0: must be an integer in 1..60000"),
        ("prod", {"mode": "batch"}, f"{AT}.mode = 'batch'"),
        ("prod", {"replicas": 3}, f"{AT}.replicas: unknown key"),
    ],
)
def test_bad_serving_settings_fail_with_one_line(tmp_path, env, changes, expected):
    assert expected in config_error(tmp_path, env_with(env, **changes), env)


def test_serverless_rollouts_count_one_wait_whatever_the_strategy(tmp_path):
    """SageMaker shifts serverless traffic all at once: linear steps neither apply nor are checked."""
    data = env_with("dev", rollout__strategy="linear", rollout__step_percent=5, rollout__wait_seconds=600,
                    rollout__max_execution_seconds=1500)
    block, _ = serving(tmp_path, "dev", data)
    assert block.rollout.total_wait_seconds(shifting=False) == 600
    message = config_error(tmp_path, env_with("dev", rollout__wait_seconds=600, rollout__max_execution_seconds=1400), "dev")
    assert "(600 s of steps and termination wait; allowed: at least 1500" in message


def test_region_without_the_monitor_image_must_turn_monitoring_off(tmp_path):
    data = env_with("prod")
    data.update(region="ca-west-1")  # SageMaker and its XGBoost image are there, the analyzer is not
    data["network"].update(availability_zones=["ca-west-1a", "ca-west-1b"], nat_gateways=2)
    example(data)["training"]["debugger"] = {"profiler": False, "rules": []}  # no Debugger image there either
    for model in data["models"].values():
        model.setdefault("training", {})["debugger"] = {"profiler": False, "rules": []}
        model.setdefault("serving", {}).setdefault("monitoring", {}).update(enabled=True, account_uses_model_monitor=True)
    problems = config_errors(tmp_path, data, "prod")
    assert len(problems) == len(data["models"])  # every model that monitors its endpoint, each on its own line
    for name, message in zip(data["models"], problems, strict=True):
        assert f"models.{name}.serving.monitoring: Model Monitor analyzer images are not published in ca-west-1" in message
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


def test_model_monitor_is_off_unless_the_account_already_uses_it(tmp_path):
    """Model Monitor takes no new customers since 2026-07-30 (AWS's "Model Monitor availability change" note):
    the shipped configs declare no schedule, and turning one on takes account_uses_model_monitor: true."""
    for env in ("staging", "prod"):
        assert load_environment(CONFIG_DIR / f"{env}.yaml").model(EXAMPLE).serving.monitoring.enabled is False
    message = config_error(tmp_path, env_with("prod", monitoring__account_uses_model_monitor=False), "prod")
    assert message.endswith(f"{AT}.monitoring.enabled: SageMaker Model Monitor takes no new customers since 2026-07-30 and may "
                            "refuse this account (allowed: enabled: false; or account_uses_model_monitor: true where the account "
                            "already uses Model Monitor)")
