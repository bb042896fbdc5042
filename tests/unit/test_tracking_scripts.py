"""Tracking off is tracking absent: without MLFLOW_TRACKING_URI the scripts import no MLflow and run as before;
local jobs never log to the ARN the pipeline names (the sagemaker-mlflow plugin would resolve it to AWS), only
to the local MLflow server when one runs. What the scripts log is read back in tests/integration/test_tracking_runs.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import tracking

from local.jobs.container import LOCAL_TRACKING_URI, inherited_env, local_tracking
from tests.helpers.containers import CARAVAN
from tests.helpers.paths import ROOT, SCRIPTS

ARN = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/dev-mlflow"


def test_without_a_tracking_uri_the_scripts_import_no_mlflow(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(CARAVAN, raw / "caravan.csv")
    probe = ("import sys; sys.path.insert(0, '.'); import preprocess; "
             f"preprocess.main(['--input-dir', {str(raw)!r}, '--output-dir', {str(tmp_path / 'out')!r}]); "
             "print('mlflow imported' if 'mlflow' in sys.modules else 'no mlflow')")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run([sys.executable, "-c", probe], cwd=SCRIPTS, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "no mlflow" and "tracking:" not in done.stderr


def test_an_inactive_run_logs_nothing_and_says_why_once(monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = tracking.pipeline_run("train.py")
    assert not run.active
    run.params({"eta": 0.1})
    run.history({"validation-auc": [0.7, 0.8]})
    run.finish()
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    assert not tracking.pipeline_run("train.py").active
    assert capsys.readouterr().err == "tracking: train.py: MLFLOW_TRACKING_URI is set but MLFLOW_EXPERIMENT_NAME is not; nothing is logged\n"


@pytest.mark.parametrize(("name", "key"), [("validation-auc", "validation-auc"), ("imputed-age (years)", "imputed-age _years_"),
                                           ("data.label_column", "data.label_column"), ("x" * 300, "x" * 250)])
def test_names_become_keys_mlflow_accepts(name, key):
    assert tracking.key(name) == key


def test_local_jobs_log_to_the_local_server_and_never_to_the_arn(monkeypatch):
    monkeypatch.delenv(LOCAL_TRACKING_URI, raising=False)
    job = {"MLFLOW_TRACKING_URI": ARN, "MLFLOW_EXPERIMENT_NAME": "dev-m", "PIPELINE_EXECUTION_ID": "e1"}
    assert local_tracking(job) == {"MLFLOW_EXPERIMENT_NAME": "dev-m", "PIPELINE_EXECUTION_ID": "e1"}
    monkeypatch.setenv(LOCAL_TRACKING_URI, "http://127.0.0.1:5000")
    assert local_tracking(job)["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"
    assert "MLFLOW_TRACKING_URI" not in local_tracking({"PIPELINE_EXECUTION_ID": "e1"})  # tracking off in the pipeline
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://tracking.example.com")  # the user's own server
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA")
    inherited = inherited_env("AWS_")
    assert "MLFLOW_TRACKING_URI" not in inherited and "AWS_ACCESS_KEY_ID" not in inherited and "PATH" in inherited


def test_the_client_a_job_or_the_gate_installs_is_the_one_requirements_pin():
    pins = set(re.findall(r"^((?:mlflow-skinny|sagemaker-mlflow)==\S+)", (SCRIPTS / "requirements.txt").read_text(), re.MULTILINE))
    gate = (ROOT / "lambda" / "evaluation_gate" / "handler.py").read_text()
    assert set(tracking.CLIENT) == pins and len(pins) == 2
    assert f"CLIENT = {tracking.CLIENT!r}".replace("'", '"') in gate


#: An interpreter in which the client is not there (as in SageMaker's images and Lambda's runtime): importing
#: mlflow or sagemaker_mlflow, or any module of theirs, fails.
NO_CLIENT = ("import importlib.abc, json, sys\n"
             "class NoClient(importlib.abc.MetaPathFinder):\n"
             "    def find_spec(self, name, path=None, target=None):\n"
             "        if name.split('.')[0] in ('mlflow', 'sagemaker_mlflow'):\n"
             "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
             "sys.meta_path.insert(0, NoClient())\n")


def without_client_or_index(code: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    """``code`` run where the client is missing and the only package index is a closed port (no NAT gateway)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PIP_"))},
           "MLFLOW_TRACKING_URI": ARN, "MLFLOW_EXPERIMENT_NAME": "dev-m", "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
           "PIP_RETRIES": "0", "PIP_TIMEOUT": "2", "PIP_NO_CACHE_DIR": "1"}
    return subprocess.run([sys.executable, "-c", NO_CLIENT + code, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_an_image_without_the_client_and_no_package_index_runs_the_job_and_says_so_once(tmp_path):
    """SageMaker's images lack MLflow's client; a job installs it from the index it reaches. With none (no NAT
    gateway), the install fails, and preprocess.py, which logs parameters, metrics and an artifact, still writes
    every split: one line says tracking is off."""
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(CARAVAN, raw / "caravan.csv")
    done = without_client_or_index(
        "sys.path.insert(0, '.'); import tracking; tracking.PACKAGES = tracking.Path(sys.argv[1])\n"
        "import preprocess; preprocess.main(['--input-dir', sys.argv[2], '--output-dir', sys.argv[3]])",
        str(tmp_path / "packages"), str(raw), str(tmp_path / "out"), cwd=SCRIPTS)
    assert done.returncode == 0, done.stderr[-2000:]
    assert all((tmp_path / "out" / split).is_dir() for split in ("train", "validation", "test", "metadata", "baseline"))
    lines = [line for line in done.stderr.splitlines() if line.startswith("tracking:")]
    assert len(lines) == 1 and "the MLflow client is not in this image and could not be installed" in lines[0], done.stderr


def test_the_gates_decision_stands_when_its_run_cannot_be_tagged(tmp_path):
    """Lambda's runtime lacks the client too; with no index to install it from, the gate returns its decision and
    logs one line."""
    done = without_client_or_index(
        "sys.path.insert(0, sys.argv[1]); import handler; handler.PACKAGES = sys.argv[2]\n"
        "handler.track({'pipeline_execution_id': 'e1'}, {'decision': 'reject', 'reason_list': ['auc low'], 'champion': None})\n"
        "print('returned')", str(ROOT / "lambda" / "evaluation_gate"), str(tmp_path / "packages"))
    assert done.returncode == 0 and done.stdout.strip() == "returned", done.stderr[-2000:]
    assert done.stderr.count("tracking:") == 1 and "the MLflow client could not be installed" in done.stderr, done.stderr
