"""The local inference server (training_scripts/serve.py) keeps SageMaker's hosting contract.

A small model trained here on synthetic rows is served on a free loopback port; requests go
over real HTTP. Bad input gets a 4xx with a message and the server keeps answering.
"""

from __future__ import annotations

import decimal
import http.client
import importlib
import json
import shutil
import socket
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from local.emulator import free_port
from tests.helpers.paths import SCRIPTS

import inference
import serve

FEATURES = 7


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, FEATURES))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=400) > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1}, xgb.DMatrix(x, label=y), 20)
    directory = tmp_path_factory.mktemp("model")
    booster.save_model(str(directory / inference.MODEL_FILE))
    return directory


@pytest.fixture(scope="module")
def server(model_dir):
    running = serve.start(str(model_dir))
    yield running
    running.shutdown()
    running.server_close()


@pytest.fixture
def rows() -> np.ndarray:
    return np.random.default_rng(11).normal(size=(5, FEATURES)).round(4)


def call(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def csv_body(rows: np.ndarray) -> bytes:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode()


def expected(model_dir: Path, rows: np.ndarray) -> np.ndarray:
    booster = xgb.Booster()
    booster.load_model(str(model_dir / inference.MODEL_FILE))
    return booster.predict(xgb.DMatrix(rows))


def test_ping_answers_200_once_the_model_is_loaded(server):
    assert call(server, "GET", "/ping")[0] == 200


def test_csv_request_returns_one_probability_a_row(server, model_dir, rows):
    status, content_type, body = call(server, "POST", "/invocations", csv_body(rows), {"Content-Type": "text/csv"})
    assert (status, content_type) == (200, "text/csv")
    assert [float(v) for v in body.split()] == pytest.approx(expected(model_dir, rows), abs=1e-6)


def test_csv_scores_read_back_as_the_very_float32_the_model_gave():
    """Served scores must not be rounded: an AUC from them is the evaluation report's, and scores of a
    model of many shallow trees sit close together. numpy is the reference for both the value (its
    float32 parse) and the digits of each line (its shortest round-trip repr, Dragon4 "unique")."""
    rng = np.random.default_rng(7)
    scores = np.concatenate([
        rng.random(2000, dtype=np.float32),
        np.array([0, 1, 0.5, 1e-38, 1.4e-45, 3.4028235e38, -2.5, 1e-7, 0.1, 123456.79, np.float32(1) / 3], dtype=np.float32),
        (rng.standard_normal(200) * 10.0 ** rng.integers(-20, 20, 200)).astype(np.float32),
    ])
    text, content_type = inference.output_fn(scores, "text/csv")
    lines = text.split("\n")
    assert content_type == "text/csv" and lines[-1] == "" and len(lines) == scores.size + 1
    assert np.array_equal(np.array(lines[:-1], dtype=np.float32), scores)
    def digits(text: str) -> tuple[int, ...]:
        return decimal.Decimal(text).normalize().as_tuple().digits

    assert [(line, v) for line, v in zip(lines[:-1], scores, strict=True)
            if digits(line) != digits(np.format_float_scientific(v, unique=True))] == []


def test_json_request_and_json_accept(server, model_dir, rows):
    for payload in ({"instances": rows.tolist()}, rows.tolist()):
        status, content_type, body = call(
            server, "POST", "/invocations", json.dumps(payload).encode(),
            {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"},
        )
        assert (status, content_type) == (200, "application/json")
        assert json.loads(body)["predictions"] == pytest.approx(expected(model_dir, rows), abs=1e-6)


def test_missing_headers_mean_what_they_mean_in_sagemakers_container(server, model_dir, rows):
    """No Content-Type: JSON (the container's worker default); no Accept or */*: the default accept, CSV."""
    status, content_type, body = call(server, "POST", "/invocations", json.dumps(rows.tolist()).encode())
    assert (status, content_type) == (200, "text/csv")
    assert [float(v) for v in body.split()] == pytest.approx(expected(model_dir, rows), abs=1e-6)
    for accept, answer_type in (("*/*", "text/csv"), ("application/json, text/csv", "application/json"),
                                ("text/html;q=0.9, text/csv", "text/csv"), ("text/*", "text/csv"),
                                ("application/*", "application/json"), ("application/json;q=0.1, text/csv", "text/csv"),
                                ("text/csv;q=0, application/json", "application/json")):
        headers = {"Content-Type": "text/csv", "Accept": accept}
        assert call(server, "POST", "/invocations", csv_body(rows), headers)[:2] == (200, answer_type), accept


def test_models_predict_on_the_gpu_where_there_is_one(tmp_path, monkeypatch):
    monkeypatch.setenv("NVIDIA_GPUS_DIR", str(tmp_path))
    assert inference.device() == "cpu"  # no GPU listed by the driver
    (tmp_path / "0000:00:1e.0").mkdir()
    monkeypatch.setattr(inference.xgb, "build_info", lambda: {"USE_CUDA": True})
    assert inference.device() == "cuda"
    monkeypatch.setattr(inference.xgb, "build_info", lambda: {"USE_CUDA": False})
    assert inference.device() == "cpu"  # a CPU-only XGBoost build cannot use it


def test_missing_values_are_missing_not_errors(server, model_dir, rows):
    holes = rows.copy()
    holes[0, 2] = np.nan
    body = csv_body(rows).split(b"\n")
    body[0] = b",".join(b"" if i == 2 else cell for i, cell in enumerate(body[0].split(b",")))
    status, _, answer = call(server, "POST", "/invocations", b"\n".join(body), {"Content-Type": "text/csv"})
    assert status == 200
    assert [float(v) for v in answer.split()] == pytest.approx(expected(model_dir, holes), abs=1e-6)


BIG = b"1," * (inference.MAX_BODY_BYTES // 2 + 1)


@pytest.mark.parametrize(
    "body, headers, status, message",
    [
        (b"1,2,3", {"Content-Type": "text/csv"}, 400, f"rows have 3 values; this model takes {FEATURES} preprocessed features (no label)"),
        (b"1,2,3,4,5,6,7\n1,2", {"Content-Type": "text/csv"}, 400, "row 2 has 2 values; every row needs 7, as row 1 has"),
        (b"1,2,x,4,5,6,7", {"Content-Type": "text/csv"}, 400, "row 1, feature 2: 'x' is not a number; preprocessed features are numeric"),
        (b"", {"Content-Type": "text/csv"}, 400, "request body is empty"),
        (b"\n \n", {"Content-Type": "text/csv"}, 400, "request body is empty"),
        (b"\xff\xfe,1", {"Content-Type": "text/csv"}, 400, "request body is not UTF-8 text"),
        (b"{not json", {"Content-Type": "application/json"}, 400, "request body is not valid JSON"),
        (b'{"rows": []}', {"Content-Type": "application/json"}, 400, 'JSON body must be {"instances"'),
        (b'{"instances": []}', {"Content-Type": "application/json"}, 400, "request has no rows"),
        (b'[[true, 1, 2, 3, 4, 5, 6]]', {"Content-Type": "application/json"}, 400, "not a number"),
        (b"1,2", {"Content-Type": "application/x-parquet"}, 415, "content type 'application/x-parquet' is not supported"),
        (b"1,2,3,4,5,6,7", {"Content-Type": "text/csv", "Accept": "image/png"}, 406, "accept type 'image/png'"),
        (b"1,2,3,4,5,6,7", {"Content-Type": "text/csv", "Accept": "text/csv;q=0"}, 406, "accept type 'text/csv;q=0'"),
        (BIG, {"Content-Type": "text/csv"}, 413, f"the limit is {inference.MAX_BODY_BYTES}"),
    ],
    ids=["columns", "ragged", "non-numeric", "empty", "blank", "not-utf8", "bad-json", "json-shape", "no-rows",
         "json-bool", "content-type", "accept", "accept-q0", "oversized"],
)
def test_bad_input_gets_a_4xx_with_a_message_and_the_server_keeps_serving(server, rows, body, headers, status, message):
    got, content_type, answer = call(server, "POST", "/invocations", body, headers)
    assert (got, content_type) == (status, "application/json")
    assert message in json.loads(answer)["message"]
    assert call(server, "POST", "/invocations", csv_body(rows), {"Content-Type": "text/csv"})[0] == 200


def test_keep_alive_connection_survives_a_bad_request(server, rows):
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=10)
    statuses = []
    for body in (b"nonsense", csv_body(rows), b"", csv_body(rows)):
        connection.request("POST", "/invocations", body=body, headers={"Content-Type": "text/csv"})
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
    connection.close()
    assert statuses == [400, 200, 400, 200]


def test_a_body_that_stops_arriving_gets_a_408_and_frees_its_thread(server, monkeypatch):
    """A client that declares a body and stalls would hold a server thread for good; after the handler's
    timeout it gets a 408 naming the wait, the connection closes, and the server keeps serving."""
    monkeypatch.setattr(serve.InvocationHandler, "timeout", 0.5)
    with socket.create_connection(server.server_address[:2], timeout=10) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 100\r\n\r\n1,2")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in answer
    assert b"the request body stopped arriving (0.5 s without data; Content-Length said 100 bytes)" in answer
    monkeypatch.undo()
    assert call(server, "GET", "/ping")[0] == 200


def test_a_body_without_content_length_is_refused(server):
    with socket.create_connection(server.server_address[:2], timeout=10) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3\r\n1,2\r\n0\r\n\r\n")
        answer = sock.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 411 ") and b"Content-Length is required" in answer


def test_unknown_paths_and_methods(server):
    assert call(server, "GET", "/invocations")[0] == 404
    assert call(server, "POST", "/predict", b"1")[0] == 404
    status, _, answer = call(server, "PUT", "/invocations", b"1")
    assert status == 405 and "POST /invocations" in json.loads(answer)["message"]


def test_a_bug_in_the_model_is_a_500_and_the_server_keeps_serving(server, rows, monkeypatch):
    def broken(features, model):
        raise RuntimeError("boom")

    monkeypatch.setattr(inference, "predict_fn", broken)
    status, _, answer = call(server, "POST", "/invocations", csv_body(rows), {"Content-Type": "text/csv"})
    assert status == 500 and "boom" not in answer.decode()
    monkeypatch.undo()
    assert call(server, "POST", "/invocations", csv_body(rows), {"Content-Type": "text/csv"})[0] == 200


def test_command_line_refuses_a_missing_model_and_a_taken_port(tmp_path, server, model_dir, capsys):
    assert serve.main(["--model-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"serve: cannot load the model: no xgboost-model.json in {tmp_path}; the model archive must come from train.py"
    ]
    port = server.server_address[1]
    assert serve.main(["--model-dir", str(model_dir), "--port", str(port)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"serve: cannot listen on 127.0.0.1:{port}: ")


def shipped_model(model_dir: Path, target: Path, inference_text: str, neighbours: dict[str, str]) -> Path:
    """A copy of the model with its own code/inference.py and modules beside it, as train.py ships them."""
    shutil.copytree(model_dir, target)
    (target / "code").mkdir()
    (target / "code" / "inference.py").write_text(inference_text)
    for name, text in neighbours.items():
        (target / "code" / name).write_text(text)
    return target


def test_a_models_own_inference_may_import_a_module_beside_it(tmp_path, model_dir, rows):
    """SageMaker's container puts the model's code/ on sys.path (SAGEMAKER_SUBMIT_DIRECTORY): so does serve.py."""
    own = (SCRIPTS / "inference.py").read_text() + "\nimport churn_features_for_test as _own\nSCALE = _own.SCALE\n"
    target = shipped_model(model_dir, tmp_path / "model", own, {"churn_features_for_test.py": "SCALE = 3\n"})
    handlers = serve.handlers_for(str(target))
    assert handlers.SCALE == 3
    model = handlers.model_fn(str(target))
    scores = handlers.predict_fn(handlers.input_fn(csv_body(rows), "text/csv"), model)
    np.testing.assert_allclose(scores, expected(model_dir, rows), rtol=1e-6)


def test_a_model_whose_inference_imports_what_it_did_not_ship_fails_to_load_in_one_line(tmp_path, model_dir, capsys):
    own = "import churn_features_not_shipped\n"
    target = shipped_model(model_dir, tmp_path / "model", own, {})
    assert serve.main(["--model-dir", str(target)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (f"serve: cannot load the model: {target / 'code' / 'inference.py'} cannot be loaded: ModuleNotFoundError: "
                    "No module named 'churn_features_not_shipped' (the model ships the modules beside its inference.py in "
                    "code/; one it imports from elsewhere is not there)")


def test_command_line_serves_on_the_port_it_is_given(model_dir):
    port = free_port()
    process = serve.start_process(str(model_dir), port)  # returns once GET /ping answers 200 there
    try:
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=10)
    with pytest.raises(RuntimeError, match="serve.py exited with 1: serve: cannot load the model: no xgboost-model.json"):
        serve.start_process(str(model_dir.parent), free_port())


def test_inside_the_container_errors_become_responses_with_their_status(monkeypatch, model_dir):
    """SageMaker's XGBoost container answers raised errors with 500 but passes a returned response on."""

    class Response:
        def __init__(self, response=None, status=200, mimetype=None):
            self.response, self.status, self.mimetype = response, status, mimetype

    # The real layout (sagemaker-containers 2.8.6): Response lives in the private _worker module and
    # beta.framework binds it as the name `worker`; there is no beta.framework.worker module.
    fake: dict[str, Any] = {name: types.ModuleType(name) for name in
            ("sagemaker_containers", "sagemaker_containers._worker", "sagemaker_containers.beta",
             "sagemaker_containers.beta.framework")}
    fake["sagemaker_containers._worker"].Response = Response
    fake["sagemaker_containers.beta.framework"].worker = fake["sagemaker_containers._worker"]
    fake["sagemaker_containers"].beta = fake["sagemaker_containers.beta"]
    fake["sagemaker_containers.beta"].framework = fake["sagemaker_containers.beta.framework"]
    for name, module in fake.items():
        monkeypatch.setitem(sys.modules, name, module)
    try:
        container = importlib.reload(inference)
        model = container.model_fn(str(model_dir))
        for body, content_type, accept, status in (
            (b"1,2", "text/csv", "text/csv", 400),
            (b"a,b", "text/csv", "text/csv", 400),
            (b"1", "text/plain", "text/csv", 415),
            (b"1,2,3,4,5,6,7", "text/csv", "image/png", 406),
        ):
            answer = container.output_fn(container.predict_fn(container.input_fn(body, content_type), model), accept)
            assert isinstance(answer, Response) and answer.status == status and answer.mimetype == "application/json"
            assert json.loads(answer.response)["message"]
        good, content_type = container.output_fn(container.predict_fn(container.input_fn(b"1,2,3,4,5,6,7", "text/csv"), model), "text/csv")
        assert content_type == "text/csv" and 0 <= float(good) <= 1
    finally:
        monkeypatch.undo()
        importlib.reload(inference)


@pytest.mark.parametrize("size_mb", [7, 40])
def test_an_oversized_request_gets_a_413_the_client_reads(server, rows, size_mb):
    """A body over SageMaker's 6 MB payload limit (the XGBoost container's serving.py: MAX_PAYLOAD_IN_MB = 6)
    is answered 413 with the limit in the message, which a real HTTP client (urllib3, what botocore uses)
    reads whole: the answer goes out before the connection closes and the unread body is drained."""
    import urllib3

    host, port = server.server_address[:2]
    body = b"1," * (size_mb * 1024 * 1024 // 2)
    answer = urllib3.PoolManager().request("POST", f"http://{host}:{port}/invocations", body=body,
                                           headers={"Content-Type": "text/csv"}, retries=False)
    assert answer.status == 413 and answer.headers["Connection"] == "close"
    assert f"request body is {len(body)} bytes; the limit is {6 * 1024 * 1024}" in json.loads(answer.data)["message"]
    assert call(server, "POST", "/invocations", csv_body(rows), {"Content-Type": "text/csv"})[0] == 200


def test_a_client_that_asks_before_sending_hears_413_without_sending_the_body(server):
    """Expect: 100-continue (RFC 9110 10.1.1; curl sends it above 1 MB): the refusal comes before any body byte."""
    with socket.create_connection(server.server_address[:2], timeout=10) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                     b"Content-Length: 7340032\r\nExpect: 100-continue\r\n\r\n")
        answer = sock.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 413 ") and b"the limit is 6291456" in answer
