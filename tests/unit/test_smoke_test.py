"""The delivery smoke test's judgement of answers, and its endpoint checks against the emulator.
(Against the real inference server: tests/integration/test_serving.py.)"""

from __future__ import annotations

import json

import pytest

from delivery.smoke_test import (
    Answer,
    SmokeTestFailed,
    check_predictions,
    run,
    sample_file,
    sample_rows,
    scores,
)
from tests.helpers.configs import EXAMPLE


def test_csv_and_json_answers_become_scores():
    assert scores(Answer(200, b"0.100000\n0.900000\n"), 2, "csv") == [0.1, 0.9]
    assert scores(Answer(200, json.dumps({"predictions": [0.1, 0.9]}).encode()), 2, "json") == [0.1, 0.9]


@pytest.mark.parametrize("answer, message", [
    (Answer(500, b"boom"), "csv: HTTP 500: boom"),
    (Answer(200, b"0.1\n"), "csv: 1 scores for 2 rows (expected one score per row)"),
    (Answer(200, b"0.1\n1.7\n"), "csv: scores outside [0, 1]: [1.7] (expected probabilities)"),
    (Answer(200, b"0.1\nnan\n"), "csv: scores outside [0, 1]: [nan]"),
    (Answer(200, b"yes\nno\n"), "csv: the answer is not a list of scores: 'yes\\nno'"),
])
def test_wrong_answers_fail_with_one_line(answer, message):
    with pytest.raises(SmokeTestFailed) as failed:
        scores(answer, 2, "csv")
    assert str(failed.value) == message or str(failed.value).startswith(message)


def test_a_model_that_scores_malformed_rows_fails_the_smoke_test():
    sample = sample_rows(sample_file(EXAMPLE))

    def lenient(body: bytes, content_type: str) -> Answer:
        n = len(json.loads(body)["instances"]) if "json" in content_type else len(body.decode().splitlines()) - 1
        return Answer(200, ("0.5\n" * max(n, 1)).encode())

    with pytest.raises(SmokeTestFailed, match=rf"a row without its last column \({sample.columns[-1]}\) got HTTP 200 \(expected a 4xx"):
        check_predictions(lenient, sample)


@pytest.mark.parametrize("model", ["direct-marketing", "health-utilization"])
def test_each_bundled_models_sample_is_raw_rows_of_its_input_columns(model):
    """The samples are what the business sends: the dataset's header minus the label and dropped columns."""
    from config import load_environment
    from tests.helpers.paths import CONFIG_DIR

    dataset = load_environment(CONFIG_DIR / "dev.yaml").models[model].dataset
    assert dataset.source.path is not None
    header = dataset.source.path.read_text().splitlines()[0].replace('"', "").split(",")
    sample = sample_rows(sample_file(model))
    assert sample.columns == [c for c in header if c not in (dataset.label_column, *dataset.drop_columns)]
    assert len(sample.rows) >= 2 and all(len(row) == len(sample.columns) for row in sample.rows)


def test_a_sample_without_a_header_or_with_ragged_rows_fails_with_one_line(tmp_path):
    (tmp_path / "one.csv").write_text("a,b\n")
    with pytest.raises(SmokeTestFailed, match=r"^one.csv needs a header line of input columns and at least one row$"):
        sample_rows(tmp_path / "one.csv")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(SmokeTestFailed, match=r"^ragged.csv: row 2 has 1 values for 2 columns in the header$"):
        sample_rows(tmp_path / "ragged.csv")


def runtime_error(code: str, status: int, original: int | None = None):
    """A SageMaker Runtime error as botocore hands it over (ModelError carries the container's status)."""
    from botocore.exceptions import ClientError

    response = {"Error": {"Code": code, "Message": "container said no"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    if original is not None:
        response["OriginalStatusCode"] = original
    return ClientError(response, "InvokeEndpoint")


class FakeRuntime:
    def __init__(self, error):
        self.error = error

    def invoke_endpoint(self, **_request):
        raise self.error


def test_only_the_containers_own_4xx_counts_as_a_refusal():
    from delivery.smoke_test import endpoint_invoker

    answer = endpoint_invoker(FakeRuntime(runtime_error("ModelError", 424, original=400)), "e")(b"1,2", "text/csv")
    assert answer == Answer(400, b"container said no")
    for error in (runtime_error("ThrottlingException", 400), runtime_error("ModelError", 424)):
        with pytest.raises(SmokeTestFailed, match=r"^invoking e failed: (ThrottlingException|ModelError): container said no$"):
            endpoint_invoker(FakeRuntime(error), "e")(b"1,2", "text/csv")


def test_csv_and_json_disagreeing_fails_the_smoke_test():
    def inconsistent(body: bytes, content_type: str) -> Answer:
        if "json" in content_type:
            return Answer(200, json.dumps({"predictions": [0.2] * len(json.loads(body)["instances"])}).encode())
        return Answer(200, ("0.5\n" * (len(body.decode().splitlines()) - 1)).encode())

    with pytest.raises(SmokeTestFailed, match="CSV and JSON requests scored the same rows differently"):
        check_predictions(inconsistent, sample_rows(sample_file(EXAMPLE)))


@pytest.mark.parametrize("role_arn", [None, f"arn:aws:iam::123456789012:role/staging-{EXAMPLE}-smoke-test"])
def test_a_missing_endpoint_fails_with_one_line_naming_it(monkeypatch, role_arn, emulator):
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(SmokeTestFailed, match=rf"^staging: cannot describe endpoint staging-{EXAMPLE}: .*Could not find endpoint"):
        run(env="staging", region="us-east-1", endpoint=f"staging-{EXAMPLE}", role_arn=role_arn, session=session,
            sample=sample_file(EXAMPLE))


def test_unreadable_sample_rows_fail_with_one_line(tmp_path):
    with pytest.raises(SmokeTestFailed, match=r"^cannot read the sample rows .*churn.csv \(No such file or directory\)$"):
        sample_rows(tmp_path / "churn.csv")
    assert sample_file("churn").name == "churn.csv" and sample_file("churn").parent.name == "samples"
