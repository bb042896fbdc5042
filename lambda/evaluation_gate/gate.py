"""The evaluation gate's decision: promote the challenger model, or reject it with reasons.

The challenger's evaluation report (SageMaker model-quality JSON in S3) must meet every
configured threshold and must not be worse than the champion (the latest Approved package
in the Model Registry group) by more than the allowed margin. The gate fails closed: any
doubt (a malformed event, an unreadable report, a missing or NaN metric, a registry error)
is a rejection that names what was wrong; nothing here raises for bad input.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

#: The metrics a threshold or the champion comparison may use, and whether higher is better.
HIGHER_IS_BETTER: dict[str, bool] = {
    "auc": True,
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "log_loss": False,
}
#: Event key -> metric: a lower bound for the higher-is-better metrics, an upper bound otherwise.
THRESHOLD_KEYS: dict[str, str] = {
    (f"min_{metric}" if higher else f"max_{metric}"): metric for metric, higher in HIGHER_IS_BETTER.items()
}
DEFAULT_CHAMPION_METRIC = "auc"
REPORT_SECTION = "binary_classification_metrics"
#: Float noise (0.75 - 0.76 is -0.0100000000000000009) must not turn "exactly at the margin" into a rejection.
TOLERANCE = 1e-9
#: Event key prefix of the values the environment's config sets (the definition's constants): a pipeline parameter
#: may make a check stricter than these, never looser, so whoever may start an execution cannot lower the bar.
CONFIGURED = "configured_"
#: SageMaker Pipelines caps a Lambda step's output parameter at 1,024 characters; longer reasons are cut
#: to fit with a marker, and the full text stays in the function's log line.
OUTPUT_PARAMETER_LIMIT = 1024
#: How numbers read in reasons: 0.76 stays 0.76, float noise such as 0.020000000000000018 reads 0.02.
NUMBER = ".10g"


class GateError(Exception):
    """A check that could not be made; the message is the reason given for the rejection."""


@dataclass
class GateConfig:
    """The event, validated. A field is None when its value was unusable (and a failure recorded)."""

    evaluation_uri: str | None = None
    group_name: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    champion_metric: str | None = DEFAULT_CHAMPION_METRIC
    champion_margin: float | None = 0.0
    #: Check -> what the event asked for where that was looser than the configured value, which applies instead.
    overridden: dict[str, float] = field(default_factory=dict)


def to_number(value: Any, what: str) -> float:
    """A finite float from a JSON number or a numeric string (pipeline parameters arrive rendered)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise GateError(f"{what} is not a number: {value!r}")
    try:
        number = float(value)
    except (ValueError, OverflowError):  # OverflowError: a JSON integer beyond float range
        raise GateError(f"{what} is not a number: {value!r}") from None
    if math.isnan(number):
        raise GateError(f"{what} is NaN")
    if math.isinf(number):
        raise GateError(f"{what} is infinite")
    return number


def split_s3_uri(uri: Any) -> tuple[str, str] | None:
    """(bucket, key) of an s3://bucket/key URI, or None. Not urlparse: '#' and '?' are legal in keys."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        return None
    bucket, _, key = uri[len("s3://"):].partition("/")
    return (bucket, key) if bucket and key else None


def read_event(event: Any, failures: list[str]) -> GateConfig:
    if not isinstance(event, dict):
        failures.append(f"event is not a JSON object: {type(event).__name__}")
        return GateConfig(champion_metric=None, champion_margin=None)
    config = GateConfig()

    uri = event.get("evaluation_uri")
    if split_s3_uri(uri) is None:
        failures.append(f"evaluation_uri must be s3://bucket/key, got {uri!r}")
    else:
        config.evaluation_uri = uri

    group = event.get("model_package_group_name")
    if isinstance(group, str) and group.strip():
        config.group_name = group.strip()
    else:
        failures.append(f"model_package_group_name is missing or empty: {group!r}")

    for key, value in event.items():
        if not (isinstance(key, str) and key.startswith(("min_", "max_"))):
            continue  # other keys are context the pipeline may pass along
        if key not in THRESHOLD_KEYS:
            failures.append(f"unknown threshold {key} (allowed: {', '.join(THRESHOLD_KEYS)})")
            continue
        try:
            config.thresholds[key] = to_number(value, f"threshold {key}")
        except GateError as error:
            failures.append(str(error))
    if not any(isinstance(key, str) and key.removeprefix(CONFIGURED) in THRESHOLD_KEYS for key in event):
        failures.append(f"no threshold given (need at least one of {', '.join(THRESHOLD_KEYS)})")

    metric = event.get("champion_metric", DEFAULT_CHAMPION_METRIC)
    if not isinstance(metric, str) or metric not in HIGHER_IS_BETTER:
        failures.append(f"unknown champion_metric {metric!r} (allowed: {', '.join(HIGHER_IS_BETTER)})")
        config.champion_metric = None
    else:
        config.champion_metric = metric

    try:
        config.champion_margin = to_number(event.get("champion_margin", 0.0), "champion_margin")
        if config.champion_margin < 0:
            failures.append(f"champion_margin must be >= 0, got {config.champion_margin:{NUMBER}}")
            config.champion_margin = None
    except GateError as error:
        failures.append(str(error))
        config.champion_margin = None
    apply_configured(event, config, failures)
    return config


def apply_configured(event: dict, config: GateConfig, failures: list[str]) -> None:
    """The stricter of each given check and its configured value (``configured_<key>``): a higher minimum, a
    lower maximum, a smaller champion margin. A configured check the event leaves out applies as configured."""
    allowed = [*THRESHOLD_KEYS, "champion_margin"]
    for name, value in event.items():
        if not (isinstance(name, str) and name.startswith(CONFIGURED)):
            continue
        key = name[len(CONFIGURED):]
        if key not in allowed:
            failures.append(f"unknown {name} (allowed: {', '.join(CONFIGURED + k for k in allowed)})")
            continue
        try:
            floor = to_number(value, name)
        except GateError as error:
            failures.append(str(error))
            continue
        if key == "champion_margin":
            given = config.champion_margin
            if given is not None and given > floor + TOLERANCE:
                config.overridden[key], config.champion_margin = given, floor
            continue
        given = config.thresholds.get(key)
        stricter = max if key.startswith("min_") else min
        if given is None:
            config.thresholds[key] = floor
        elif stricter(given, floor) != given:
            config.overridden[key], config.thresholds[key] = given, floor


def overridden_note(config: GateConfig, key: str) -> str:
    if key not in config.overridden:
        return ""
    return f" (configured; the {config.overridden[key]:{NUMBER}} asked for is looser and does not apply)"


def load_report(s3: Any, uri: str, label: str) -> dict[str, Any]:
    """The report's metric section ({name: {"value": ...}}), or GateError saying why not."""
    location = split_s3_uri(uri)
    if location is None:
        raise GateError(f"{label} URI must be s3://bucket/key, got {uri!r}")
    bucket, key = location
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "?")
        if code in ("NoSuchKey", "404"):
            raise GateError(f"{label} {uri} not found (NoSuchKey)") from None
        raise GateError(f"{label} {uri} unreadable: {code}: {error}") from None
    except BotoCoreError as error:
        raise GateError(f"{label} {uri} unreadable: {error}") from None
    try:
        report = json.loads(body)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise GateError(f"{label} {uri} is not valid JSON: {error}") from None
    section = report.get(REPORT_SECTION) if isinstance(report, dict) else None
    if not isinstance(section, dict):
        raise GateError(f"{label} {uri} has no {REPORT_SECTION} object")
    return section


def metric_value(section: dict[str, Any], metric: str, label: str) -> float:
    entry = section.get(metric)
    if not isinstance(entry, dict) or "value" not in entry:
        raise GateError(f"{label}: metric {metric} is missing (no {REPORT_SECTION}.{metric}.value)")
    return to_number(entry["value"], f"{label}: metric {metric}")


def usable_metrics(section: dict[str, Any]) -> dict[str, float]:
    """Every scalar metric with a finite value (the confusion matrix and NaNs are left out)."""
    metrics = {}
    for name in section:
        try:
            metrics[name] = metric_value(section, name, "report")
        except GateError:
            pass
    return metrics


def check_threshold(key: str, bound: float, section: dict[str, Any]) -> tuple[bool, str]:
    metric = THRESHOLD_KEYS[key]
    value = metric_value(section, metric, "evaluation report")
    higher = HIGHER_IS_BETTER[metric]
    ok = value >= bound if higher else value <= bound
    relation = (">=" if higher else "<=") if ok else ("is below" if higher else "is above")
    return ok, f"{metric} {value:{NUMBER}} {relation} {key} {bound:{NUMBER}}"


def find_champion(sagemaker: Any, group: str) -> dict[str, Any] | None:
    """The latest Approved package summary in the group, or None when none is approved yet."""
    approved = []
    pages = sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved", SortBy="CreationTime", SortOrder="Descending"
    )
    for page in pages:
        # Filtered again here so that an API (or emulator) ignoring the filter cannot crown a rejected model.
        approved += [p for p in page.get("ModelPackageSummaryList", []) if p.get("ModelApprovalStatus") == "Approved"]
    # Packages created in the same instant are ordered by version, which only grows.
    return max(approved, key=lambda p: (p["CreationTime"], p.get("ModelPackageVersion", 0)), default=None)


def read_champion_metric(s3: Any, sagemaker: Any, arn: str, metric: str) -> float:
    try:
        package = sagemaker.describe_model_package(ModelPackageName=arn)
    except (ClientError, BotoCoreError) as error:
        raise GateError(f"cannot describe champion {arn}: {error}") from None
    report_uri = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not report_uri:
        raise GateError(f"champion {arn} has no ModelMetrics.ModelQuality.Statistics.S3Uri: cannot compare")
    label = f"champion {arn} report"
    return metric_value(load_report(s3, report_uri, label), metric, label)


def compare_with_champion(
    group: str, metric: str, margin: float, challenger: dict[str, Any] | None, *, s3: Any, sagemaker: Any
) -> tuple[dict[str, Any] | None, bool, str]:
    """(champion or None, passed, reason). A champion that cannot be compared fails the check."""
    try:
        summary = find_champion(sagemaker, group)
    except (ClientError, BotoCoreError) as error:
        return None, False, f"cannot list approved model packages in {group}: {error}"
    if summary is None:
        return None, True, f"no approved model in {group} yet (first model, no champion to beat)"

    arn = summary["ModelPackageArn"]
    champion: dict[str, Any] = {"model_package_arn": arn, metric: None}
    try:
        best = champion[metric] = read_champion_metric(s3, sagemaker, arn, metric)
        if challenger is None:
            raise GateError(f"cannot compare with champion {arn} {metric} {best:{NUMBER}} without an evaluation report")
        value = metric_value(challenger, metric, "evaluation report")
    except GateError as error:
        return champion, False, str(error)

    shortfall = best - value if HIGHER_IS_BETTER[metric] else value - best
    if shortfall > margin + TOLERANCE:
        return champion, False, (
            f"{metric} {value:{NUMBER}} is worse than champion {arn} {metric} {best:{NUMBER}} "
            f"by {shortfall:{NUMBER}}, more than champion_margin {margin:{NUMBER}}"
        )
    return champion, True, (
        f"{metric} {value:{NUMBER}} vs champion {arn} {metric} {best:{NUMBER}}: "
        f"within champion_margin {margin:{NUMBER}}"
    )


def fit_output_parameter(text: str, limit: int = OUTPUT_PARAMETER_LIMIT) -> str:
    """``text`` if it fits a pipeline output parameter, else its start and a marker saying how much is
    in the function's log (the whole result is logged there)."""
    if len(text) <= limit:
        return text
    for cut in range(limit, 0, -1):
        marker = f" ... [{len(text) - cut} more characters in the evaluation gate's log]"
        if cut + len(marker) <= limit:
            return text[:cut] + marker
    return text[:limit]


def evaluate(event: Any, *, s3: Any, sagemaker: Any) -> dict[str, Any]:
    """Decide on the challenger; never raises for bad input, bad reports or AWS errors."""
    failures: list[str] = []
    passed: list[str] = []
    config = read_event(event, failures)

    section: dict[str, Any] | None = None
    if config.evaluation_uri:
        try:
            section = load_report(s3, config.evaluation_uri, "evaluation report")
        except GateError as error:
            failures.append(str(error))
    if section is not None:
        for key, bound in config.thresholds.items():
            try:
                ok, reason = check_threshold(key, bound, section)
            except GateError as error:
                ok, reason = False, str(error)
            (passed if ok else failures).append(reason + overridden_note(config, key))

    champion = None
    if config.group_name and config.champion_metric and config.champion_margin is not None:
        champion, ok, reason = compare_with_champion(
            config.group_name, config.champion_metric, config.champion_margin, section, s3=s3, sagemaker=sagemaker
        )
        (passed if ok else failures).append(reason + overridden_note(config, "champion_margin"))

    if not failures and not passed:
        failures.append("no check was made")  # cannot happen with a valid event; never promote on nothing
    failures = list(dict.fromkeys(failures))  # one bad metric can fail a threshold and the comparison alike
    return {
        "decision": "reject" if failures else "promote",
        "reasons": fit_output_parameter("; ".join(failures) if failures else "all checks passed: " + "; ".join(passed)),
        "reason_list": failures or passed,
        "metrics": usable_metrics(section) if section is not None else {},
        "champion": champion,
    }
