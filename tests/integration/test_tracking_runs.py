"""Every pipeline run logs to MLflow: the training scripts and the gate, run as the pipeline runs them with the
variables its definition gives them, log into a real MLflow server (local/tracking_server.py, the release
SageMaker runs for MlflowVersion 3.0), and what they logged is read back through MLflow's own client API.

Between the scripts and the server sits a recording proxy: every REST call they make is named by MLflow's own
service definition (mlflow.protos.service_pb2, the RPC each path serves), and each RPC must be an action the
stacks grant the caller (stacks/shared/tracking_access.py): the IAM actions of the sagemaker-mlflow service
are those RPC names. So the jobs' and gate's grants are exactly what they use, proven on real traffic.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from config import load_environment
from local.emulator import free_port
from local.tracking_runs import log_execution, run_script
from local.tracking_server import TrackingServer
from stacks.shared.tracking_access import GATE_ACTIONS, LOGGING_ACTIONS
from tests.helpers.configs import EXAMPLE
from tests.helpers.paths import CONFIG_DIR

pytestmark = pytest.mark.integration
EXPERIMENT = f"dev-{EXAMPLE}"
ROUNDS = 12
DECISION = {"decision": "promote", "reason_list": ["auc 0.79 >= min_auc 0.7"], "champion": None}


class Recorder(ThreadingHTTPServer):
    """Forwards every request to the MLflow server and remembers its method and path."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.calls: list[tuple[str, str]] = []
        self.headers: list[dict[str, str]] = []
        super().__init__(("127.0.0.1", free_port()), Forward)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Forward(BaseHTTPRequestHandler):
    server: Recorder

    def log_message(self, *args) -> None:  # quiet
        pass

    def forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.calls.append((self.command, self.path.split("?")[0]))
        self.server.headers.append(dict(self.headers.items()))
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        upstream.request(self.command, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        payload = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward


def rpc_names() -> dict[tuple[str, str], str]:
    """(HTTP method, path) -> the MLflow RPC it serves, from MLflow's own service definition."""
    from mlflow.protos.service_pb2 import MlflowService
    from mlflow.utils.rest_utils import _REST_API_PATH_PREFIX, extract_api_info_for_service

    names = {}
    for message, endpoints in extract_api_info_for_service(MlflowService, _REST_API_PATH_PREFIX).items():
        for path, method in [endpoints] if isinstance(endpoints[0], str) else endpoints:
            names[(method, path)] = message.__name__
    return names


def actions(calls: list[tuple[str, str]]) -> set[str]:
    """The sagemaker-mlflow IAM action of each tracking call (artifact transfers go to S3 in AWS, not here)."""
    names = rpc_names()
    tracking = [call for call in calls if "/mlflow-artifacts/" not in call[1]]
    unknown = [call for call in tracking if call not in names]
    assert not unknown, f"calls MLflow's service definition does not name: {unknown}"
    return {f"sagemaker-mlflow:{names[call]}" for call in tracking}


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """Two pipeline executions of the example model, each step as its job runs it (local/tracking_runs.py),
    logging through the recorder."""
    root = tmp_path_factory.mktemp("tracking")
    model = load_environment(CONFIG_DIR / "dev.yaml").models[EXAMPLE]
    with TrackingServer(root / "mlflow") as server:
        recorder = Recorder(server.port or 0)
        threading.Thread(target=recorder.serve_forever, daemon=True).start()
        try:
            calls: dict[str, list] = {"scripts": [], "gate": []}
            runs = {}
            for execution, eta in (("exec-one", "0.3"), ("exec-two", "0.1")):
                gate_calls_from = None

                def before_gate() -> None:
                    nonlocal gate_calls_from
                    gate_calls_from = len(recorder.calls)

                logged = log_execution(recorder.url, model, execution, root, hyperparameters={
                    "num_round": str(ROUNDS), "early_stopping_rounds": "0", "max_depth": "3", "eta": eta},
                    decision=DECISION, before_gate=before_gate)
                assert "tracking:" not in (logged.work / "stderr.log").read_text()  # nothing failed to log
                calls["scripts"] += recorder.calls[:gate_calls_from]
                calls["gate"] += recorder.calls[gate_calls_from:]
                recorder.calls = []
                runs[execution] = {"work": logged.work, "evaluation": logged.evaluation, "metadata": logged.metadata, "eta": eta}
            os.environ["MLFLOW_TRACKING_URI"] = server.url  # artifact listing resolves mlflow-artifacts: through it
            yield server, runs, calls
        finally:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
            recorder.shutdown()
            recorder.server_close()


def client():
    from mlflow import MlflowClient

    return MlflowClient()


def pipeline_runs(server) -> dict:
    c = client()
    experiment = c.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    found = c.search_runs([experiment.experiment_id], filter_string="tags.`sagemaker.run_kind` = 'pipeline execution'")
    return {run.info.run_name: run for run in found}


def test_each_execution_is_one_run_named_by_its_execution_id_ended_by_the_gate(logged):
    server, runs, _ = logged
    found = pipeline_runs(server)
    assert sorted(found) == sorted(runs)
    for name, run in found.items():
        assert run.data.tags["sagemaker.pipeline_execution_id"] == name
        assert run.info.status == "FINISHED"
        assert run.data.tags["gate.decision"] == "promote" and run.data.tags["gate.reasons"] == "auc 0.79 >= min_auc 0.7"


def test_the_run_holds_the_data_summary_hyperparameters_and_every_evaluation_metric(logged):
    server, runs, _ = logged
    for name, run in pipeline_runs(server).items():
        expected = runs[name]
        spec = json.loads((expected["work"] / "splits" / "metadata" / "features.json").read_text())
        metrics, params = run.data.metrics, run.data.params
        assert {split: metrics[f"rows-{split}"] for split in ("train", "validation", "test")} == spec["rows"]
        assert params["data.label_column"] == spec["label"]["column"] and int(params["data.features"]) == len(spec["features"])
        assert {k: str(v) for k, v in expected["metadata"]["params"].items()} == {k: params[k] for k in expected["metadata"]["params"]}
        assert float(params["eta"]) == float(expected["eta"])
        for metric, entry in expected["evaluation"]["binary_classification_metrics"].items():
            if isinstance(entry, dict) and isinstance(entry.get("value"), (int, float)):
                assert metrics[f"test-{metric}"] == pytest.approx(entry["value"]), metric
                if "standard_deviation" in entry:
                    assert metrics[f"test-{metric}-std"] == pytest.approx(entry["standard_deviation"]), metric


def test_the_report_plots_and_model_are_artifacts_of_the_run(logged, tmp_path):
    server, runs, _ = logged
    c = client()
    for name, run in pipeline_runs(server).items():
        listed = {a.path for folder in ("evaluation", "model", "data") for a in c.list_artifacts(run.info.run_id, folder)}
        assert {"evaluation/evaluation.json", "evaluation/roc.png", "evaluation/precision_recall.png",
                "model/xgboost-model.json", "model/preprocessing.json", "model/metadata.json", "model/code",
                "data/features.json"} <= listed
        fetched = Path(c.download_artifacts(run.info.run_id, "evaluation/evaluation.json", str(tmp_path / name)))
        assert json.loads(fetched.read_text()) == runs[name]["evaluation"]


def test_each_training_job_is_a_nested_run_with_its_hyperparameters_and_every_rounds_metrics(logged):
    server, runs, _ = logged
    c = client()
    parents = pipeline_runs(server)
    experiment = c.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    jobs = c.search_runs([experiment.experiment_id], filter_string="tags.`sagemaker.run_kind` = 'training job'")
    assert sorted(job.info.run_name for job in jobs) == sorted(f"pipelines-{name}-Train" for name in runs)
    for job in jobs:
        execution = job.data.tags["sagemaker.pipeline_execution_id"]
        assert job.data.tags["mlflow.parentRunId"] == parents[execution].info.run_id
        assert job.data.params["num_round"] == str(ROUNDS) and float(job.data.params["eta"]) == float(runs[execution]["eta"])
        for series in ("train-auc", "validation-auc", "train-logloss", "validation-logloss"):
            history = c.get_metric_history(job.info.run_id, series)
            assert [point.step for point in history] == list(range(ROUNDS)), series
        best = runs[execution]["metadata"]
        assert job.data.metrics["best-validation-auc"] == pytest.approx(best["metrics"]["validation-auc"])
        assert job.info.status == "FINISHED"


def test_the_jobs_and_the_gate_call_only_what_their_roles_are_granted(logged):
    _, _, calls = logged
    used_by_scripts, used_by_gate = actions(calls["scripts"]), actions(calls["gate"])
    assert used_by_scripts <= set(LOGGING_ACTIONS), sorted(used_by_scripts - set(LOGGING_ACTIONS))
    assert used_by_gate <= set(GATE_ACTIONS), sorted(used_by_gate - set(GATE_ACTIONS))
    # Exactly: a grant nothing uses is a grant too many.
    assert used_by_scripts == set(LOGGING_ACTIONS) and used_by_gate == set(GATE_ACTIONS)


def test_an_unreachable_server_costs_the_job_one_line_and_never_the_job(tmp_path):
    """The job trains and writes its model; stderr says once that tracking failed."""
    from tests.helpers.containers import CARAVAN

    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(CARAVAN, raw / "caravan.csv")
    env = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}", "MLFLOW_EXPERIMENT_NAME": EXPERIMENT,
           "PIPELINE_EXECUTION_ID": "exec-down", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    done = run_script("preprocess.py", env, "--input-dir", str(raw), "--output-dir", str(tmp_path / "splits"))
    assert (tmp_path / "splits" / "train").is_dir()
    lines = [line for line in done.stderr.splitlines() if line.startswith("tracking:")]
    assert len(lines) == 1 and "could not open run exec-down" in lines[0] and "the job goes on without tracking" in lines[0], lines


def test_with_the_servers_arn_the_scripts_sign_every_call_as_sagemaker_mlflow_and_write_artifacts_to_s3(tmp_path):
    """The AWS path, without AWS: the scripts get the tracking server's ARN, as the pipeline gives it, and the real
    sagemaker-mlflow plugin resolves and signs every call (SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT points its endpoint at
    the recorder, in front of an MLflow server that stores artifacts in S3 as SageMaker's does: the emulator's).
    Each call carries a SigV4 signature for service sagemaker-mlflow in the server's region and the server's ARN
    header (what IAM authorizes the sagemaker-mlflow actions on); the report and the model land in S3 under the
    artifact store's prefix, written by the client itself."""
    from local.emulator import Emulator

    model = load_environment(CONFIG_DIR / "dev.yaml").models[EXAMPLE]
    arn = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/dev-mlflow"
    with Emulator() as emulator:
        s3 = emulator.client("s3")
        s3.create_bucket(Bucket="artifacts")
        aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_ENDPOINT_URL": emulator.endpoint_url, "MLFLOW_S3_ENDPOINT_URL": emulator.endpoint_url}
        with TrackingServer(tmp_path / "mlflow", artifact_root="s3://artifacts/mlflow") as server:
            recorder = Recorder(server.port or 0)
            threading.Thread(target=recorder.serve_forever, daemon=True).start()
            try:
                logged = log_execution(arn, model, "exec-arn", tmp_path, hyperparameters={"num_round": "5", "early_stopping_rounds": "0"},
                                       decision=DECISION, extra_env={**aws, "SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT": recorder.url})
            finally:
                recorder.shutdown()
                recorder.server_close()
        assert "tracking:" not in (logged.work / "stderr.log").read_text()
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="artifacts", Prefix="mlflow/")
                for o in page.get("Contents", [])]
    tracking = [h for (_, path), h in zip(recorder.calls, recorder.headers, strict=True) if "/mlflow-artifacts/" not in path]
    assert len(tracking) >= 10
    for headers in tracking:
        auth = {k.lower(): v for k, v in headers.items()}
        assert re.match(r"AWS4-HMAC-SHA256 Credential=testing/\d{8}/us-east-1/sagemaker-mlflow/aws4_request, ", auth["authorization"])
        assert auth["x-mlflow-sm-tracking-server-arn"] == arn
    assert any(k.endswith("/artifacts/evaluation/evaluation.json") for k in keys), keys
    assert any(k.endswith("/artifacts/model/xgboost-model.json") for k in keys), keys
    assert not any("/mlflow-artifacts/" in path for _, path in recorder.calls)  # nothing went through the server


def test_a_new_store_is_created_whole_or_not_at_all(tmp_path):
    """A first start stopped midway (Ctrl-C in the first demo) must not leave a store no server opens again: the
    store is built beside its place and renamed into it; a half-built one is discarded; a failed build leaves none."""
    from local.tracking_server import TrackingServerError

    root = tmp_path / "mlflow"
    root.mkdir()
    (root / "mlflow.db.new").write_bytes(b"half a store, from a start that was stopped")
    TrackingServer(root).initialize_store()
    assert (root / "mlflow.db").stat().st_size > 0 and not (root / "mlflow.db.new").exists()
    with TrackingServer(root) as server:
        assert server.healthy()
    failing = tmp_path / "venv" / "bin"
    failing.mkdir(parents=True)
    (failing / "python").write_text("#!/bin/sh\necho 'disk full' >&2\nexit 3\n")
    (failing / "python").chmod(0o755)
    with pytest.raises(TrackingServerError, match="could not create the MLflow store .*: disk full"):
        TrackingServer(tmp_path / "other", venv=tmp_path / "venv").initialize_store()
    assert not (tmp_path / "other" / "mlflow.db").exists() and not (tmp_path / "other" / "mlflow.db.new").exists()


def test_a_server_that_came_up_during_a_long_deploy_is_ready(tmp_path):
    """The demo starts the server, deploys (87 s on a loaded machine), then asks ready(): a start() deadline that
    passed meanwhile must not fail a server that answers."""
    (tmp_path / "mlflow").mkdir()
    TrackingServer(tmp_path / "mlflow").initialize_store()  # built with the normal timeout; start() then finds it
    server = TrackingServer(tmp_path / "mlflow", timeout=1.0).start(wait=False)
    try:
        time.sleep(2.0)  # "the deploy": longer than the server's whole timeout
        assert server.ready() is server and server.healthy()
    finally:
        server.stop()
