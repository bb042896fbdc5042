"""Typed schema of the serving configuration (the `serving:` block).

Which model version an environment serves is data here: `model_package_arn` names a
version from the Model Registry, so promotion is a reviewed change to this file. Without
it no endpoint is declared. Every rule mirrors what SageMaker would reject at deploy time
(hosting instance types, deployment-guardrail ranges, serverless limits) or what the
platform promises (GPU where asked, two instances across zones in protected environments).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from catalog.instance_types import check_instance_type, is_gpu_instance_type, xgboost_image_problem
from config.fields import StrictModel, int_range, one_of
from naming import BASELINE_PREFIX_FORM, PIPELINES_PREFIX

HOSTING_SHAPE = "ProductionVariantInstanceType"
MONITORING_SHAPE = "ProcessingInstanceType"
#: SageMaker's model package version ARN: arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>.
MODEL_PACKAGE_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"model-package/(?P<group>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/(?P<version>[1-9]\d{0,8})$"
)
MODEL_PACKAGE_ARN_FORM = "arn:aws:sagemaker:<region>:<12-digit account>:model-package/<group>/<version>"
#: A baseline a pipeline run wrote: pipelines/<env>/<model>/<execution id>/preprocess/baseline (what the monitoring role may read).
BASELINE_PREFIX = re.compile(rf"^{PIPELINES_PREFIX}/[a-z0-9]+/[a-z0-9-]+/[A-Za-z0-9-]{{1,64}}/preprocess/baseline/?$")
#: The deployment timeout also covers starting the new fleet: the rollout's waits plus this must fit.
PROVISIONING_MARGIN_SECONDS = 900
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
#: Monitoring schedules SageMaker accepts, by name (cron in UTC; runs start up to 20 minutes late).
MONITORING_SCHEDULES = {"hourly": "cron(0 * ? * * *)", "daily": "cron(0 0 ? * * *)"}


def _hosting_type(value: str) -> str:
    check_instance_type(value, HOSTING_SHAPE, "hosting", ("ml.g4dn.xlarge", "ml.g5.xlarge", "ml.m5.large"))
    if problem := xgboost_image_problem(value):
        raise ValueError(f"{value!r} is {problem}")
    return value


def _processing_type(value: str) -> str:
    return check_instance_type(value, MONITORING_SHAPE, "processing", ("ml.m5.large", "ml.m5.xlarge"))


def _model_package_arn(value: str) -> str:
    if not MODEL_PACKAGE_ARN.fullmatch(value):
        raise ValueError(
            f"not a model package version ARN (allowed: {MODEL_PACKAGE_ARN_FORM}, "
            "as the training pipeline's RegisterModel step prints it)"
        )
    return value


def _baseline_prefix(value: str) -> str:
    if not BASELINE_PREFIX.fullmatch(value):
        raise ValueError("must be the key prefix of a baseline a training pipeline run wrote in the model-artifacts "
                         f"bucket: {BASELINE_PREFIX_FORM} (no s3://, no bucket)")
    return value.rstrip("/")


def _percent(lo: float, hi: float):
    def check(value: float) -> float:
        if not lo <= value <= hi:
            raise ValueError(f"must be a number in {lo:g}..{hi:g} (percent)")
        return value

    return AfterValidator(check)


class AutoscalingConfig(StrictModel):
    """Target tracking on the variant's instance count. Cooldowns in seconds."""

    min_instances: Annotated[int, int_range(1, 100)] = 2
    max_instances: Annotated[int, int_range(1, 100)] = 4
    #: Target of SageMakerVariantInvocationsPerInstance (invocations a minute per instance).
    invocations_per_instance: Annotated[int, int_range(1, 1_000_000)] = 1000
    #: Target average GPU utilization (percent of one GPU) for GPU variants.
    gpu_utilization_percent: Annotated[int, int_range(10, 100, " percent")] = 70
    scale_in_cooldown_seconds: Annotated[int, int_range(0, 3600, " seconds")] = 300
    scale_out_cooldown_seconds: Annotated[int, int_range(0, 3600, " seconds")] = 60

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingConfig:
        if self.min_instances > self.max_instances:
            raise ValueError(f"min_instances: {self.min_instances} exceeds max_instances {self.max_instances} (allowed: min <= max)")
        return self


class RolloutConfig(StrictModel):
    """Blue/green deployment guardrails: shift traffic in steps, bake, roll back on alarms."""

    strategy: Literal["canary", "linear"] = "canary"
    #: Canary: the share of capacity that takes traffic first (1-50). Linear: each step's share (10-50).
    step_percent: Annotated[int, int_range(1, 50, " percent")] = 10
    #: Time between steps while the alarms watch the new fleet (SageMaker: 0-3600 s).
    wait_seconds: Annotated[int, int_range(0, 3600, " seconds")] = 300
    #: Time the old fleet is kept after all traffic moved, for a fast rollback (0-3600 s).
    termination_wait_seconds: Annotated[int, int_range(0, 3600, " seconds")] = 300
    #: Upper bound of a whole deployment (SageMaker: 600-28800 s); this project asks for the waits
    #: plus 15 minutes, so that starting the new fleet cannot time the rollout out.
    max_execution_seconds: Annotated[int, int_range(600, 28800, " seconds")] = 3600

    def total_wait_seconds(self, shifting: bool = True) -> int:
        """Waits of one rollout; without traffic shifting (serverless: all at once) one wait."""
        steps = 1 if self.strategy == "canary" or not shifting else math.ceil(100 / self.step_percent) - 1
        return steps * self.wait_seconds + self.termination_wait_seconds

    def check(self, shifting: bool) -> None:
        if shifting and self.strategy == "linear" and self.step_percent < 10:
            raise ValueError(f"rollout.step_percent: {self.step_percent} is below linear's minimum (allowed for linear: 10..50)")
        waits = self.total_wait_seconds(shifting)
        needed = waits + PROVISIONING_MARGIN_SECONDS
        if self.max_execution_seconds < needed:
            raise ValueError(
                f"rollout.max_execution_seconds: {self.max_execution_seconds} leaves no time to start the new fleet after "
                f"the rollout's waits ({waits} s of steps and termination wait; allowed: at least {needed}, the waits "
                f"plus {PROVISIONING_MARGIN_SECONDS} s (this project's margin), at most 28800)"
            )


class AlarmsConfig(StrictModel):
    """Alarms that notify the project's topic and roll a deployment back."""

    #: Share of invocations answered with a 5xx, over one minute.
    error_5xx_percent: Annotated[float, _percent(0.01, 100)] = 1.0
    #: ModelLatency p99 over one minute, in milliseconds (CloudWatch reports microseconds).
    model_latency_p99_ms: Annotated[int, int_range(1, 60_000, " ms")] = 100
    #: Consecutive one-minute periods over the threshold before the alarm fires.
    evaluation_minutes: Annotated[int, int_range(1, 60, " minutes")] = 3


class DataCaptureConfig(StrictModel):
    """Which share of requests and responses the endpoint writes to S3 (what Model Monitor reads)."""

    enabled: bool = True
    sampling_percentage: Annotated[int, int_range(0, 100, " percent")] = 20


class MonitoringConfig(StrictModel):
    """A Model Monitor data-quality schedule against the training data's baseline: off unless an account asks.

    SageMaker Model Monitor is closed to new customers since 30 July 2026 (AWS documentation, "Amazon SageMaker
    Model Monitor availability change"): a schedule in an account that never used it may be refused, so
    turning it on also takes ``account_uses_model_monitor: true``, a statement that the account already has it.
    """

    enabled: bool = False
    #: The account used Model Monitor before it closed to new customers (2026-07-30).
    account_uses_model_monitor: bool = False
    #: Key prefix, in the model-artifacts bucket, of the statistics.json and constraints.json that the
    #: training pipeline's preprocess step wrote for the served model version (see docs/serving.md).
    baseline_prefix: Annotated[str, AfterValidator(_baseline_prefix)] | None = None
    schedule: Literal["hourly", "daily"] = "hourly"
    instance_type: Annotated[str, AfterValidator(_processing_type)] = "ml.m5.large"
    volume_size_gb: Annotated[int, int_range(1, 16384, " GB")] = 20
    #: SageMaker caps a monitoring job at the schedule's period: 60 minutes for hourly runs.
    max_runtime_minutes: Annotated[int, int_range(1, 60, " minutes")] = 30

    @property
    def schedule_expression(self) -> str:
        return MONITORING_SCHEDULES[self.schedule]

    @model_validator(mode="after")
    def _only_where_the_account_has_model_monitor(self) -> MonitoringConfig:
        if self.enabled and not self.account_uses_model_monitor:
            raise ValueError(
                "enabled: SageMaker Model Monitor takes no new customers since 2026-07-30 and may refuse this account "
                "(allowed: enabled: false; or account_uses_model_monitor: true where the account already uses Model Monitor)"
            )
        return self


class ServerlessConfig(StrictModel):
    """A serverless endpoint's size: memory per invocation and the concurrency SageMaker may scale to."""

    memory_size_mb: Annotated[int, one_of(SERVERLESS_MEMORY_MB)] = 2048
    max_concurrency: Annotated[int, int_range(1, 200)] = 5


class ServingConfig(StrictModel):
    """The real-time endpoint of one environment."""

    #: The model version to serve; unset: no endpoint is declared (register one first).
    model_package_arn: Annotated[str, AfterValidator(_model_package_arn)] | None = None
    #: instances: a provisioned, autoscaled fleet in the VPC. serverless: pay per request (dev only;
    #: SageMaker offers it without GPUs, VPC, network isolation, data capture or Model Monitor).
    mode: Literal["instances", "serverless"] = "instances"
    instance_type: Annotated[str, AfterValidator(_hosting_type)] = "ml.g4dn.xlarge"
    #: Refuse a non-GPU instance type. Unset: required in protected environments (staging, prod).
    require_gpu: bool | None = None
    #: Instances at creation; SageMaker spreads two or more across the VPC's zones.
    initial_instance_count: Annotated[int, int_range(1, 100)] = 2
    autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    data_capture: DataCaptureConfig = Field(default_factory=DataCaptureConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    serverless: ServerlessConfig = Field(default_factory=ServerlessConfig)

    @property
    def gpu(self) -> bool:
        return self.mode == "instances" and is_gpu_instance_type(self.instance_type)

    @property
    def model_package(self) -> dict[str, str] | None:
        match = MODEL_PACKAGE_ARN.fullmatch(self.model_package_arn or "")
        return match.groupdict() if match else None

    @model_validator(mode="after")
    def _consistent(self) -> ServingConfig:
        self.rollout.check(shifting=self.mode == "instances")  # SageMaker shifts serverless traffic all at once
        if self.mode == "serverless":
            for feature, on in (("data_capture", self.data_capture.enabled), ("monitoring", self.monitoring.enabled)):
                if on:
                    raise ValueError(
                        f"{feature}.enabled: SageMaker serverless endpoints have no {feature.replace('_', ' ')} "
                        f"(allowed with mode serverless: {feature}.enabled: false; or mode: instances)"
                    )
            return self
        scaling = self.autoscaling
        if not scaling.min_instances <= self.initial_instance_count <= scaling.max_instances:
            raise ValueError(
                f"initial_instance_count: {self.initial_instance_count} is outside autoscaling's "
                f"{scaling.min_instances}..{scaling.max_instances} (allowed: min_instances <= count <= max_instances)"
            )
        if self.monitoring.enabled and self.data_capture.enabled and self.data_capture.sampling_percentage == 0:
            raise ValueError("data_capture.sampling_percentage: 0 captures nothing for Model Monitor to read "
                             "(allowed with monitoring enabled: 1..100)")
        if self.monitoring.enabled and not self.data_capture.enabled:
            raise ValueError("monitoring.enabled: Model Monitor reads captured requests, but data_capture.enabled is false "
                             "(allowed: both on, or monitoring off)")
        if self.monitoring.enabled and self.model_package_arn and not self.monitoring.baseline_prefix:
            raise ValueError(
                "monitoring.baseline_prefix: required to monitor a model: the key prefix of the baseline the "
                "training pipeline wrote for this version (its ModelMetrics.ModelDataQuality in the registry)"
            )
        return self
