"""The evaluation gate promotes only what passes every check and fails closed on everything else.

Real S3 objects and real Model Registry packages in moto; nothing AWS returns is stubbed.
"""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws
from moto.core import enable_iam_authentication

from tests.helpers.configs import EXAMPLE
from tests.helpers.paths import CONFIG_DIR, ROOT

GATE_DIR = ROOT / "lambda" / "evaluation_gate"
REGION = "us-east-1"
BUCKET = "gate-artifacts"
GROUP = "dev-direct-marketing"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
GOOD = {"auc": 0.76, "accuracy": 0.9, "precision": 0.2, "recall": 0.3, "f1": 0.24, "log_loss": 0.21}


@pytest.fixture(scope="module")
def lam() -> Any:
    """gate and handler, imported by path (`lambda` is a keyword) the way the Lambda runtime sees them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(GATE_DIR))
        for name in ("gate", "handler"):  # another function's module of the same name must not shadow ours
            patch.delitem(sys.modules, name, raising=False)
        try:
            yield SimpleNamespace(gate=importlib.import_module("gate"), handler=importlib.import_module("handler"))
        finally:
            sys.modules.pop("gate", None)
            sys.modules.pop("handler", None)


@pytest.fixture(scope="module")
def clients() -> Any:
    """Fake credentials, no endpoint override, and clients built once: building one costs ~0.1 s."""
    with pytest.MonkeyPatch.context() as patch:
        for key in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL"):
            patch.delenv(key, raising=False)
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            patch.setenv(key, "testing")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.setenv("AWS_CONFIG_FILE", str(GATE_DIR / "no-such-config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(GATE_DIR / "no-such-credentials"))
        session = boto3.Session(region_name=REGION)
        yield SimpleNamespace(s3=session.client("s3"), sagemaker=session.client("sagemaker"))


@pytest.fixture
def aws(clients) -> Any:
    """A fresh moto account per test (mock_aws resets its state), with the bucket and the registry group."""
    with mock_aws():
        clients.s3.create_bucket(Bucket=BUCKET)
        clients.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        yield clients


def put_report(aws, key: str, metrics: dict[str, Any] | None = None, *, body: str | bytes | None = None) -> str:
    """Uploads an evaluation.json in SageMaker's model-quality shape (or a raw body) and returns its URI."""
    if body is None:
        section = {name: {"value": value, "standard_deviation": "NaN"} for name, value in (metrics or GOOD).items()}
        section["cutoff"] = {"value": 0.18}
        section["confusion_matrix"] = {"0": {"0": 1000, "1": 50}, "1": {"0": 40, "1": 20}}
        body = json.dumps({"binary_classification_metrics": section})
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


def register(aws, status: str, report_uri: str | None) -> str:
    """Creates a real model package version in the group and returns its ARN."""
    extra = {"ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": report_uri}}}}
    response = aws.sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        **(extra if report_uri else {}),
    )
    return response["ModelPackageArn"]


def champion_with(aws, status: str = "Approved", **metrics: float) -> str:
    uri = put_report(aws, f"champions/{uuid.uuid4().hex}/evaluation.json", {**GOOD, **metrics})
    return register(aws, status, uri)


def gate_event(uri: str, **overrides: Any) -> dict[str, Any]:
    event = {
        "evaluation_uri": uri,
        "model_package_group_name": GROUP,
        "min_auc": 0.7,
        "min_precision": 0.1,
        "min_recall": 0.2,
        "champion_metric": "auc",
        "champion_margin": 0.01,
    }
    event.update(overrides)
    return {key: value for key, value in event.items() if value is not None}


def run(lam, aws, event: Any) -> dict[str, Any]:
    result = lam.gate.evaluate(event, s3=aws.s3, sagemaker=aws.sagemaker)
    assert isinstance(result["decision"], str) and isinstance(result["reasons"], str)
    json.dumps(result, allow_nan=False)  # the Lambda step must be able to serialize it
    return result


def assert_rejected(result: dict[str, Any], *fragments: str) -> None:
    assert result["decision"] == "reject", result
    for fragment in fragments:
        assert fragment in result["reasons"], (fragment, result["reasons"])


class _OnePerPageUnsorted:
    """The real moto client, one package a page and the sort dropped: the gate must not rely on either."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def get_paginator(self, name: str) -> Any:
        paginator = self._client.get_paginator(name)

        def paginate(**kwargs: Any) -> Any:
            kwargs = {key: value for key, value in kwargs.items() if key not in ("SortBy", "SortOrder")}
            return paginator.paginate(**kwargs, PaginationConfig={"PageSize": 1})

        return SimpleNamespace(paginate=paginate)


def restricted_session(aws, *actions: str) -> boto3.Session:
    """Credentials of an IAM user allowed only `actions`, for real AccessDenied errors from moto."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="gate")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}
    iam.put_user_policy(UserName="gate", PolicyName="gate", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="gate")["AccessKey"]
    return boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                         region_name=REGION)


def run_as(lam, session: boto3.Session, event: dict[str, Any]) -> dict[str, Any]:
    return lam.gate.evaluate(event, s3=session.client("s3"), sagemaker=session.client("sagemaker"))


# --- promotion -----------------------------------------------------------------------------


def test_first_model_is_promoted_when_no_model_is_approved(lam, aws):
    register(aws, "PendingManualApproval", put_report(aws, "pending.json", {**GOOD, "auc": 0.99}))
    result = run(lam, aws, gate_event(put_report(aws, "run/evaluation.json")))
    assert result["decision"] == "promote"
    assert result["reasons"].startswith("all checks passed")
    assert "no approved model in dev-direct-marketing yet" in result["reasons"]
    assert result["champion"] is None
    assert result["metrics"] == {**GOOD, "cutoff": 0.18}  # the confusion matrix is not a scalar metric


def test_challenger_better_than_champion_is_promoted(lam, aws):
    arn = champion_with(aws, auc=0.72)
    result = run(lam, aws, gate_event(put_report(aws, "run/evaluation.json")))
    assert result["decision"] == "promote", result["reasons"]
    assert result["champion"] == {"model_package_arn": arn, "auc": 0.72}


def test_challenger_exactly_at_the_margin_is_promoted(lam, aws):
    champion_with(aws, auc=0.76)
    result = run(lam, aws, gate_event(put_report(aws, "run/evaluation.json", {**GOOD, "auc": 0.75})))
    assert result["decision"] == "promote", result["reasons"]
    assert "within champion_margin 0.01" in result["reasons"]


def test_challenger_worse_than_champion_beyond_the_margin_is_rejected(lam, aws):
    arn = champion_with(aws, auc=0.76)
    result = run(lam, aws, gate_event(put_report(aws, "run/evaluation.json", {**GOOD, "auc": 0.74})))
    assert_rejected(result, "auc 0.74 is worse than champion", arn, "auc 0.76", "champion_margin 0.01")
    assert result["reason_list"] == [result["reasons"]]


def test_the_latest_approved_package_is_the_champion_whatever_came_after(lam, aws):
    champion_with(aws, auc=0.95)  # approved long ago: no longer the champion
    latest_approved = champion_with(aws, auc=0.74)
    champion_with(aws, "PendingManualApproval", auc=0.99)
    champion_with(aws, "Rejected", auc=0.98)
    withdrawn = champion_with(aws, auc=0.97)
    aws.sagemaker.update_model_package(ModelPackageArn=withdrawn, ModelApprovalStatus="Rejected")

    result = run(lam, aws, gate_event(put_report(aws, "run/evaluation.json")))
    assert result["decision"] == "promote", result["reasons"]
    assert result["champion"] == {"model_package_arn": latest_approved, "auc": 0.74}


def test_the_champion_is_found_across_pages_in_any_order(lam, aws):
    champion_with(aws, auc=0.70)
    latest_approved = champion_with(aws, auc=0.75)
    for _ in range(3):
        champion_with(aws, "PendingManualApproval", auc=0.99)
    assert lam.gate.find_champion(_OnePerPageUnsorted(aws.sagemaker), GROUP)["ModelPackageArn"] == latest_approved


def test_log_loss_is_compared_lower_is_better(lam, aws):
    champion_with(aws, log_loss=0.20)
    uri = put_report(aws, "run/evaluation.json", {**GOOD, "log_loss": 0.40})
    result = run(lam, aws, gate_event(uri, champion_metric="log_loss", max_log_loss=0.3))
    assert_rejected(result, "log_loss 0.4 is above max_log_loss 0.3", "log_loss 0.4 is worse than champion")
    assert len(result["reason_list"]) == 2

    better = put_report(aws, "run2/evaluation.json", {**GOOD, "log_loss": 0.15})
    assert run(lam, aws, gate_event(better, champion_metric="log_loss", max_log_loss=0.3))["decision"] == "promote"


def test_numbers_rendered_as_strings_are_accepted(lam, aws):
    champion_with(aws, auc=0.765)
    event = gate_event(put_report(aws, "run/evaluation.json"), min_auc="0.7", min_precision="0.1", min_recall="2e-1",
                       champion_margin="0.01")
    result = run(lam, aws, event)
    assert result["decision"] == "promote", result["reasons"]


# --- thresholds ----------------------------------------------------------------------------


def test_every_missed_threshold_is_reported(lam, aws):
    uri = put_report(aws, "run/evaluation.json", {**GOOD, "auc": 0.65, "recall": 0.1})
    result = run(lam, aws, gate_event(uri))
    assert_rejected(result, "auc 0.65 is below min_auc 0.7", "recall 0.1 is below min_recall 0.2")
    assert len(result["reason_list"]) == 2
    assert result["reasons"] == "; ".join(result["reason_list"])


def test_missing_and_unusable_metrics_all_fail_closed(lam, aws):
    body = json.dumps({"binary_classification_metrics": {
        "auc": {"value": float("nan")},  # json.dumps writes NaN, which Python's json reads back
        "precision": {"value": "high"},
        "recall": {"value": float("inf")},
        "f1": {"standard_deviation": 0.1},
    }})
    uri = put_report(aws, "run/evaluation.json", body=body)
    result = run(lam, aws, gate_event(uri, min_f1=0.1, min_accuracy=0.5))
    assert_rejected(result, "metric auc is NaN", "metric precision is not a number: 'high'",
                    "metric recall is infinite", "metric f1 is missing", "metric accuracy is missing")
    assert result["metrics"] == {}
    # A missing one names the path the gate reads (a team's own evaluate.py may leave it out).
    assert "evaluation report: metric f1 is missing (no binary_classification_metrics.f1.value)" in result["reason_list"]


# --- a malformed event ---------------------------------------------------------------------


@pytest.mark.parametrize("overrides, fragment", [
    ({"evaluation_uri": None}, "evaluation_uri must be s3://bucket/key, got None"),
    ({"evaluation_uri": "https://example.com/evaluation.json"}, "evaluation_uri must be s3://bucket/key"),
    ({"evaluation_uri": f"s3://{BUCKET}"}, "evaluation_uri must be s3://bucket/key"),
    ({"model_package_group_name": None}, "model_package_group_name is missing"),
    ({"model_package_group_name": "  "}, "model_package_group_name is missing"),
    ({"min_auc": None, "min_precision": None, "min_recall": None}, "no threshold given"),
    ({"min_auc": "high"}, "threshold min_auc is not a number: 'high'"),
    ({"min_auc": "NaN"}, "threshold min_auc is NaN"),
    ({"min_auc": float("nan")}, "threshold min_auc is NaN"),
    ({"min_auc": True}, "threshold min_auc is not a number: True"),
    ({"min_auc": 10**400}, "threshold min_auc is not a number"),  # beyond float range: OverflowError
    ({"min_auroc": 0.7}, "unknown threshold min_auroc"),
    ({"max_auc": 0.9}, "unknown threshold max_auc"),
    ({"champion_margin": -0.01}, "champion_margin must be >= 0"),
    ({"champion_margin": "a lot"}, "champion_margin is not a number"),
    ({"champion_metric": "roc"}, "unknown champion_metric 'roc'"),
    ({"champion_metric": ["auc"]}, "unknown champion_metric ['auc']"),
    ({"configured_min_auroc": 0.7}, "unknown configured_min_auroc (allowed: configured_min_auc,"),
    ({"configured_min_auc": "high"}, "configured_min_auc is not a number: 'high'"),
])
def test_a_malformed_event_is_rejected_naming_the_field(lam, aws, overrides, fragment):
    result = run(lam, aws, gate_event(put_report(aws, "run/evaluation.json"), **overrides))
    assert_rejected(result, fragment)


def test_an_event_that_is_not_an_object_is_rejected(lam, aws):
    assert_rejected(run(lam, aws, ["s3://x/y"]), "event is not a JSON object: list")


def test_a_malformed_event_and_a_missed_threshold_are_both_reported(lam, aws):
    uri = put_report(aws, "run/evaluation.json", {**GOOD, "auc": 0.6})
    result = run(lam, aws, gate_event(uri, champion_margin=-1))
    assert_rejected(result, "champion_margin must be >= 0", "auc 0.6 is below min_auc 0.7")


# --- the configured checks: a parameter may make them stricter, never looser ----------------


def test_a_threshold_lowered_below_the_configured_one_does_not_apply(lam, aws):
    """Whoever may start an execution may pass MinAuc=0: the config's value still holds, and the reason says so."""
    uri = put_report(aws, "run/evaluation.json", {**GOOD, "auc": 0.65})
    result = run(lam, aws, gate_event(uri, min_auc=0.0, configured_min_auc=0.7))
    assert_rejected(result, "auc 0.65 is below min_auc 0.7 (configured; the 0 asked for is looser and does not apply)")


def test_a_threshold_raised_above_the_configured_one_applies(lam, aws):
    uri = put_report(aws, "run/evaluation.json", {**GOOD, "auc": 0.76})
    result = run(lam, aws, gate_event(uri, min_auc=0.9, configured_min_auc=0.7))
    assert_rejected(result, "auc 0.76 is below min_auc 0.9")
    assert "configured" not in result["reasons"]


def test_a_configured_threshold_the_event_leaves_out_applies(lam, aws):
    uri = put_report(aws, "run/evaluation.json", {**GOOD, "recall": 0.3})
    result = run(lam, aws, gate_event(uri, min_recall=None, configured_min_recall=0.5))
    assert_rejected(result, "recall 0.3 is below min_recall 0.5")


def test_a_champion_margin_widened_beyond_the_configured_one_does_not_apply(lam, aws):
    champion_with(aws, auc=0.80)
    uri = put_report(aws, "run/evaluation.json", {**GOOD, "auc": 0.76})
    assert run(lam, aws, gate_event(uri, champion_margin=0.5))["decision"] == "promote"  # nothing configured
    result = run(lam, aws, gate_event(uri, champion_margin=0.5, configured_champion_margin=0.01))
    assert_rejected(result, "more than champion_margin 0.01 (configured; the 0.5 asked for is looser and does not apply)")


# --- an unusable evaluation report ---------------------------------------------------------


def test_a_missing_report_is_rejected(lam, aws):
    assert_rejected(run(lam, aws, gate_event(f"s3://{BUCKET}/run/nothing.json")), "not found (NoSuchKey)")


def test_a_report_in_a_missing_bucket_is_rejected(lam, aws):
    assert_rejected(run(lam, aws, gate_event("s3://no-such-bucket-here/evaluation.json")), "NoSuchBucket")


def test_a_report_we_may_not_read_is_rejected(lam, aws):
    uri = put_report(aws, "run/evaluation.json")
    restricted = restricted_session(aws, "sagemaker:ListModelPackages")
    with enable_iam_authentication():
        result = run_as(lam, restricted, gate_event(uri))
    assert_rejected(result, "unreadable: AccessDenied")


@pytest.mark.parametrize("body, fragment", [
    ("", "is not valid JSON"),
    ("{not json", "is not valid JSON"),
    (b"\xff\xfe\x00garbage", "is not valid JSON"),
    ("[1, 2]", "has no binary_classification_metrics object"),
    ('{"regression_metrics": {"mse": {"value": 1}}}', "has no binary_classification_metrics object"),
    ('{"binary_classification_metrics": [0.7]}', "has no binary_classification_metrics object"),
    ('{"binary_classification_metrics": {"auc": 0.76}}', "metric auc is missing"),
])
def test_a_malformed_report_is_rejected(lam, aws, body, fragment):
    result = run(lam, aws, gate_event(put_report(aws, "run/evaluation.json", body=body)))
    assert_rejected(result, fragment)


# --- a champion that cannot be compared, or a registry that cannot be asked ----------------


def test_a_champion_without_a_report_reference_is_rejected(lam, aws):
    arn = register(aws, "Approved", None)
    result = run(lam, aws, gate_event(put_report(aws, "run/evaluation.json")))
    assert_rejected(result, f"champion {arn} has no ModelMetrics.ModelQuality.Statistics.S3Uri")
    assert result["champion"] == {"model_package_arn": arn, "auc": None}


@pytest.mark.parametrize("champion_body, fragment", [
    (None, "not found (NoSuchKey)"),
    ("<html>", "is not valid JSON"),
    ('{"binary_classification_metrics": {"accuracy": {"value": 0.9}}}', "metric auc is missing"),
    ('{"binary_classification_metrics": {"auc": {"value": "NaN"}}}', "metric auc is NaN"),
])
def test_a_champion_whose_report_is_unusable_is_rejected(lam, aws, champion_body, fragment):
    key = "champion/evaluation.json"
    if champion_body is not None:
        put_report(aws, key, body=champion_body)
    arn = register(aws, "Approved", f"s3://{BUCKET}/{key}")
    result = run(lam, aws, gate_event(put_report(aws, "run/evaluation.json")))
    assert_rejected(result, f"champion {arn} report", fragment)


def test_a_registry_we_may_not_ask_is_rejected(lam, aws):
    champion_with(aws, auc=0.5)
    uri = put_report(aws, "run/evaluation.json")
    restricted = restricted_session(aws, "s3:GetObject", "sagemaker:ListModelPackages")
    with enable_iam_authentication():
        result = run_as(lam, restricted, gate_event(uri))
    assert_rejected(result, "cannot describe champion", "AccessDenied")


def test_an_unreachable_registry_is_rejected(lam, aws):
    # Port 9 (discard) is closed: a real connection error, which botocore raises as a BotoCoreError.
    unreachable = boto3.client("sagemaker", region_name=REGION, endpoint_url="http://127.0.0.1:9",
                               config=Config(retries={"max_attempts": 1}, connect_timeout=1))
    result = lam.gate.evaluate(gate_event(put_report(aws, "run/evaluation.json")), s3=aws.s3, sagemaker=unreachable)
    assert_rejected(result, f"cannot list approved model packages in {GROUP}")


# --- the handler ---------------------------------------------------------------------------


def test_handler_returns_the_result_and_logs_one_json_line(lam, aws, capsys):
    arn = champion_with(aws, auc=0.80)
    event = gate_event(put_report(aws, "run/evaluation.json"), champion_margin="0.01")
    result = lam.handler.handler(event, None)

    assert_rejected(result, "auc 0.76 is worse than champion", "auc 0.8")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    log = json.loads(lines[0])
    assert log == {
        "event": "evaluation_gate",
        "decision": "reject",
        "reasons": result["reason_list"],
        "metrics": result["metrics"],
        "champion": {"model_package_arn": arn, "auc": 0.8},
        "evaluation_uri": event["evaluation_uri"],
        "model_package_group_name": GROUP,
    }


def test_handler_logs_a_promotion(lam, aws, capsys):
    result = lam.handler.handler(gate_event(put_report(aws, "run/evaluation.json")), None)
    assert result["decision"] == "promote"
    log = json.loads(capsys.readouterr().out)
    assert log["decision"] == "promote" and log["reasons"] == result["reason_list"] and log["champion"] is None


def test_handler_fails_closed_when_the_gate_itself_crashes(lam, aws, capsys, monkeypatch):
    def crash(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(lam.handler, "evaluate", crash)
    result = lam.handler.handler({"evaluation_uri": "s3://x/y"}, None)
    assert_rejected(result, "evaluation gate error: RuntimeError: boom")
    assert json.loads(capsys.readouterr().out)["decision"] == "reject"


def test_gate_accepts_what_the_pipeline_sends_and_evaluate_writes(lam, aws, capsys, monkeypatch):
    """The contract end to end: the dev pipeline's Lambda-step arguments (parameter defaults filled
    in, as SageMaker renders them) and a report written by training_scripts/evaluate.py."""
    import numpy as np

    monkeypatch.syspath_prepend(str(ROOT / "training_scripts"))
    from config import load_environment
    from stacks.training.pipeline_definition import build_definition
    from tests.helpers.pipelines import RESOURCES

    import evaluate

    rng = np.random.default_rng(7)
    labels = (rng.random(2000) < 0.1).astype(float)
    scores = np.clip(0.1 + 0.5 * labels + rng.normal(0, 0.2, 2000), 0, 1)  # a model with AUC ~0.9
    report = evaluate.report(labels, scores, 0.3, "max-f1", evaluate.bootstrap_std(labels, scores, 0.3, 20, 1))
    uri = put_report(aws, f"pipelines/dev/{EXAMPLE}/run-1/evaluate/evaluation/evaluation.json", body=json.dumps(report))

    definition = build_definition(load_environment(CONFIG_DIR / "dev.yaml").models[EXAMPLE], RESOURCES)
    defaults = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    (gate_step,) = [s for s in definition["Steps"] if s["Type"] == "Lambda"]
    event = {
        key: defaults[value["Get"].split(".", 1)[1]] if isinstance(value, dict) and "Get" in value else value
        for key, value in gate_step["Arguments"].items()
    }
    event["evaluation_uri"] = uri  # a Std:Join of the evaluation step's output in the definition
    event["model_package_group_name"] = GROUP

    result = lam.handler.handler(event)
    assert result["decision"] == "promote", result["reasons"]
    assert result["metrics"]["auc"] == pytest.approx(report["binary_classification_metrics"]["auc"]["value"])
    assert json.loads(capsys.readouterr().out.strip())["decision"] == "promote"
    event["min_precision"] = "0.99"  # a threshold the report cannot meet: rejected, and said why
    rejected = lam.handler.handler(event)
    assert rejected["decision"] == "reject" and "min_precision 0.99" in rejected["reasons"]
    # The definition also sends the config's own values, so MinAuc=1 may reject but MinAuc=0 cannot lower the bar.
    assert event["configured_min_auc"] == defaults["MinAuc"]
    event.update(min_precision=defaults["MinPrecision"], min_auc="0", configured_min_auc=0.999)
    lowered = lam.handler.handler(event)
    assert lowered["decision"] == "reject" and "(configured; the 0 asked for is looser" in lowered["reasons"]


def test_reasons_longer_than_an_output_parameter_are_cut_with_a_marker_and_logged_whole(lam, aws, capsys):
    """SageMaker Pipelines limits a Lambda step's output parameter to 1,024 characters (AWS documentation,
    Lambda step): a longer `reasons` would fail the step instead of rejecting the model with its reasons."""
    event = gate_event("s3://" + "b" * 60 + "/" + "k" * 900 + ".json",
                       **{f"min_{metric}": "not-a-number" for metric in ("auc", "precision", "recall", "f1", "accuracy")})
    result = lam.handler.handler(event, None)
    full = "; ".join(result["reason_list"])
    assert result["decision"] == "reject" and len(full) > 1024
    assert len(result["reasons"]) <= 1024
    cut = len(full) - len(result["reasons"].split(" ... [")[0])
    assert result["reasons"].endswith(f" ... [{cut} more characters in the evaluation gate's log]")
    assert full.startswith(result["reasons"].split(" ... [")[0])
    assert json.loads(capsys.readouterr().out)["reasons"] == result["reason_list"]  # the whole text is in the log


@pytest.mark.parametrize("length", [0, 1, 1023, 1024])
def test_reasons_that_fit_are_untouched(lam, length):
    assert lam.gate.fit_output_parameter("x" * length) == "x" * length
