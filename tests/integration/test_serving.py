"""A model trained by the pipeline's scripts, served over HTTP, answers as the model does in process.

preprocess.py and train.py run as the pipeline's steps do (subprocesses, SM_* variables);
serve.py then runs as its own process on a free loopback port, as local mode runs it, and
the test split goes over HTTP as text/csv and application/json.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import xgboost as xgb

from local.emulator import free_port
from tests.helpers.configs import EXAMPLE
from tests.helpers.containers import CARAVAN, sm_env
from tests.helpers.paths import SCRIPTS

import serve


def run(script: str, *args: str, env: dict | None = None) -> None:
    result = subprocess.run([sys.executable, script, *args], cwd=SCRIPTS, env={**os.environ, **(env or {})},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("serving")
    (root / "raw").mkdir()
    (root / "raw" / "caravan.csv").write_bytes(CARAVAN.read_bytes())
    run("preprocess.py", "--input-dir", str(root / "raw"), "--output-dir", str(root / "splits"))
    run("train.py", env=sm_env(root, root / "splits" / "train", root / "splits" / "validation",
                               SM_CHANNEL_METADATA=str(root / "splits" / "metadata")))
    test = np.loadtxt(root / "splits" / "test" / "test.csv", delimiter=",", ndmin=2)
    return {"model": root / "model", "features": test[:, 1:], "labels": test[:, 0]}


@pytest.fixture(scope="module")
def server(trained):
    port = free_port()
    process = serve.start_process(str(trained["model"]), port)
    yield port
    process.terminate()
    assert process.wait(timeout=10) is not None


def post_or_get(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def in_process(trained) -> np.ndarray:
    booster = xgb.Booster()
    booster.load_model(str(trained["model"] / "xgboost-model.json"))
    return booster.predict(xgb.DMatrix(trained["features"]))


def test_csv_predictions_over_http_equal_the_models(server, trained):
    body = "\n".join(",".join(f"{v:.10g}" for v in row) for row in trained["features"]).encode()
    status, answer = post_or_get(server, "POST", "/invocations", body, {"Content-Type": "text/csv"})
    assert status == 200
    served = np.array([float(line) for line in answer.split()])
    assert len(served) == len(trained["features"]) == 874
    # 9 significant digits: each served score is the model's float32 score, exactly.
    np.testing.assert_array_equal(served.astype(np.float32), in_process(trained))


def test_json_predictions_over_http_equal_the_models(server, trained):
    rows = trained["features"][:100]
    status, answer = post_or_get(server, "POST", "/invocations", json.dumps({"instances": rows.tolist()}).encode(),
                                 {"Content-Type": "application/json", "Accept": "application/json"})
    assert status == 200
    np.testing.assert_allclose(json.loads(answer)["predictions"], in_process(trained)[:100], atol=5e-7)


def test_the_served_model_still_separates_buyers(server, trained):
    from sklearn.metrics import roc_auc_score

    body = "\n".join(",".join(f"{v:g}" for v in row) for row in trained["features"]).encode()
    _, answer = post_or_get(server, "POST", "/invocations", body, {"Content-Type": "text/csv"})
    assert roc_auc_score(trained["labels"], [float(v) for v in answer.split()]) > 0.7


def test_bad_requests_get_a_4xx_and_the_real_model_keeps_serving(server, trained):
    good = ",".join(f"{v:g}" for v in trained["features"][0]).encode()
    width = trained["features"].shape[1]
    for body, content_type, status, message in (
        (good + b",1", "text/csv", 400, f"rows have {width + 1} values; this model takes the 85 input columns"),
        (good.replace(b"0", b"zero", 1), "text/csv", 400, "not a number"),
        (b"", "text/csv", 400, "request body is empty"),
        (good, "application/x-npy", 415, "is not supported"),
    ):
        got, answer = post_or_get(server, "POST", "/invocations", body, {"Content-Type": content_type})
        assert (got, message in json.loads(answer)["message"]) == (status, True)
        assert post_or_get(server, "POST", "/invocations", good, {"Content-Type": "text/csv"})[0] == 200


def served_invoker(port: int):
    """The delivery smoke test's Invoke, sent to the container's own /invocations (what SageMaker forwards to)."""
    from delivery.smoke_test import Answer

    def invoke(body: bytes, content_type: str) -> Answer:
        accept = "application/json" if "json" in content_type else "text/csv"
        status, answer = post_or_get(port, "POST", "/invocations", body, {"Content-Type": content_type, "Accept": accept})
        return Answer(status, answer)

    return invoke


def test_the_delivery_smoke_test_passes_against_the_served_model(server, trained):
    from delivery.smoke_test import check_predictions, sample_file, sample_rows

    sample = sample_rows(sample_file(EXAMPLE))
    lines = check_predictions(served_invoker(server), sample)
    assert lines[0].startswith(f"{len(sample.rows)} raw rows scored (CSV with a header): ")
    assert lines[1:] == ["the same rows as JSON records scored the same", "a row without its last column was refused with HTTP 400"]


def test_the_smoke_test_fails_on_a_model_that_expects_other_columns(server, trained):
    from delivery.smoke_test import Sample, SmokeTestFailed, check_predictions, sample_file, sample_rows

    sample = sample_rows(sample_file(EXAMPLE))
    wider = Sample([*sample.columns, "LOYALTY"], [[*row, "0"] for row in sample.rows])
    with pytest.raises(SmokeTestFailed, match=r"^text/csv request: HTTP 400: .*column 'LOYALTY' is not an input of this model"):
        check_predictions(served_invoker(server), wider)
