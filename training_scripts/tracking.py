"""Experiment tracking: what each pipeline step logs to MLflow, and nothing at all when tracking is off.

The pipeline gives its steps three variables when the environment's `tracking` is on:
MLFLOW_TRACKING_URI (the environment's SageMaker MLflow tracking server ARN in AWS, which the
sagemaker-mlflow plugin resolves and signs; the local MLflow server's URL in local mode),
MLFLOW_EXPERIMENT_NAME (<env>-<model>) and PIPELINE_EXECUTION_ID. Every step of one pipeline
execution logs into one run of that experiment, named by the execution id:
preprocess.py its data summary, evaluate.py the evaluation and the chosen model, the gate
its decision; each training job (one, or one per tuning job) logs its hyperparameters and its
per-round metrics into a run of its own nested under it, named by the job.

Without MLFLOW_TRACKING_URI nothing is imported or logged and the scripts run as before.
Tracking never fails a job: a failed call is reported on stderr (the job's log) once, and the
job goes on without tracking.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

#: Fewer, shorter retries than MLflow's defaults (7 retries, 120 s timeout): an unreachable server
#: costs a job seconds, not minutes. A variable the job sets itself wins.
CLIENT_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                   "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
#: The MLflow client, pinned as requirements.txt pins it (a test checks they agree): the release AWS pins for a
#: tracking server of MlflowVersion 3.0, and the plugin that resolves the server's ARN and signs requests.
CLIENT = ("mlflow-skinny==3.0.1", "sagemaker-mlflow==0.5.0")
PACKAGES = Path(tempfile.gettempdir()) / "tracking-packages"
INSTALL_TIMEOUT = 300
EXECUTION_TAG = "sagemaker.pipeline_execution_id"
KIND_TAG = "sagemaker.run_kind"  # "pipeline execution" or "training job"


def key(name: object) -> str:
    """A parameter, metric or tag name MLflow accepts (letters, digits, _ - . / and space; 250 characters)."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", str(name))[:250]


def _warn(message: str) -> None:
    print(f"tracking: {message}", file=sys.stderr, flush=True)


class Run:
    """One MLflow run that this job logs to, or a stand-in that logs nothing."""

    def __init__(self, step: str, client: Any = None, run_id: str | None = None) -> None:
        self.step, self.client, self.run_id = step, client, run_id

    @property
    def active(self) -> bool:
        return self.client is not None and self.run_id is not None

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        if not self.active:
            return None
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - tracking must never fail the job
            _warn(f"{self.step}: could not {what} ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                  "the job goes on without tracking")
            self.client = None
            return None

    def params(self, values: Mapping[str, Any]) -> None:
        def log() -> None:
            from mlflow.entities import Param

            items = [Param(key(k), str(v)[:6000]) for k, v in values.items()]
            for i in range(0, len(items), 100):
                self.client.log_batch(self.run_id, params=items[i:i + 100])

        self._call("log parameters", log)

    def metrics(self, values: Mapping[str, float], step: int = 0) -> None:
        self.history({name: [value] for name, value in values.items()}, first_step=step)

    def history(self, series: Mapping[str, Iterable[float]], first_step: int = 0) -> None:
        """Metric series, one value per step (a boosting round), in batches of MLflow's limit of 1000."""
        def log() -> None:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            items = [Metric(key(name), float(value), now, first_step + step)
                     for name, values in series.items() for step, value in enumerate(values)]
            for i in range(0, len(items), 1000):
                self.client.log_batch(self.run_id, metrics=items[i:i + 1000])

        self._call("log metrics", log)

    def tags(self, values: Mapping[str, Any]) -> None:
        def log() -> None:
            from mlflow.entities import RunTag

            self.client.log_batch(self.run_id, tags=[RunTag(key(k), str(v)) for k, v in values.items()])

        self._call("set tags", log)

    def artifacts(self, path: Path, artifact_path: str | None = None) -> None:
        """A file or a directory's files."""
        if path.is_dir():
            self._call(f"log {path.name}/", lambda: self.client.log_artifacts(self.run_id, str(path), artifact_path))
        elif path.is_file():
            self._call(f"log {path.name}", lambda: self.client.log_artifact(self.run_id, str(path), artifact_path))

    def finish(self, status: str = "FINISHED") -> None:
        self._call("end the run", lambda: self.client.set_terminated(self.run_id, status))


def client_importable(step: str) -> bool:
    """Whether MLflow's client imports, installing CLIENT first when it does not: SageMaker's framework images do
    not ship it. The install goes to a folder of its own, behind the image's packages on the import path, from
    the package index the job reaches (PyPI through the environment's NAT gateway, or PIP_INDEX_URL)."""
    modules = ("mlflow", "sagemaker_mlflow") if os.environ.get("MLFLOW_TRACKING_URI", "").startswith("arn:") else ("mlflow",)
    if all(_found(module) for module in modules):
        return True
    started = time.monotonic()
    try:
        # Short network timeouts: without a NAT gateway the index is unreachable, and the job should know soon.
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               "--no-input", "--timeout", "10", "--retries", "1", "--target", str(PACKAGES), *CLIENT],
                              capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        failure = (done.stderr.strip().splitlines() or ["pip failed"])[-1] if done.returncode else None
    except (OSError, subprocess.TimeoutExpired) as error:
        failure = f"{type(error).__name__}: {error}"
    if failure:
        _warn(f"{step}: the MLflow client is not in this image and could not be installed ({failure}); nothing is "
              "logged (an environment without NAT gateways needs it in the image, or a package index in the VPC)")
        return False
    if str(PACKAGES) not in sys.path:
        sys.path.append(str(PACKAGES))  # the image's own packages keep precedence
    importlib.invalidate_caches()
    missing = [module for module in modules if not _found(module)]
    if missing:
        _warn(f"{step}: the MLflow client was installed but {', '.join(missing)} is not found; nothing is logged")
        return False
    print(f"tracking: installed {' '.join(CLIENT)} in {time.monotonic() - started:.0f}s", flush=True)
    return True


def never_fails(step: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A script's tracking function that can only print one line: whatever it raises, the job goes on."""
    def wrap(function: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> None:
            try:
                function(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - tracking must never fail the job
                _warn(f"{step}: tracking failed ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                      "the job goes on without tracking")
        return guarded
    return wrap


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def configured() -> bool:
    return bool(os.environ.get("MLFLOW_TRACKING_URI"))


def pipeline_run(step: str, job: str | None = None) -> Run:
    """This pipeline execution's run (created by whichever step comes first), or, with `job`, a run for this
    job nested under it. A stand-in that logs nothing when tracking is off or the server cannot be reached."""
    if not configured():
        return Run(step)
    experiment_name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    execution = os.environ.get("PIPELINE_EXECUTION_ID") or "no-pipeline"
    if not experiment_name:
        _warn(f"{step}: MLFLOW_TRACKING_URI is set but MLFLOW_EXPERIMENT_NAME is not; nothing is logged")
        return Run(step)
    for name, value in CLIENT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if not client_importable(step):
        return Run(step)
    try:
        import mlflow
        from mlflow import MlflowClient

        client = MlflowClient()
    except Exception as error:  # noqa: BLE001 - an installed client that does not load: no tracking, the job goes on
        _warn(f"{step}: the MLflow client does not load ({type(error).__name__}: {error}); nothing is logged")
        return Run(step)
    if not os.environ["MLFLOW_TRACKING_URI"].startswith("arn:"):
        # sagemaker-mlflow's header provider assumes an ARN and warns on every call to any other server.
        logging.getLogger("mlflow.tracking.request_header.registry").setLevel(logging.ERROR)
    run = Run(step, client, run_id="pending")

    def open_run() -> str:
        experiment = mlflow.get_experiment_by_name(experiment_name)
        experiment_id = experiment.experiment_id if experiment else run.client.create_experiment(experiment_name)
        parent = _find(run.client, experiment_id, f"tags.`{EXECUTION_TAG}` = '{execution}' and tags.`{KIND_TAG}` = 'pipeline execution'")
        if parent is None:
            parent = run.client.create_run(experiment_id, run_name=execution, tags={
                EXECUTION_TAG: execution, KIND_TAG: "pipeline execution"}).info.run_id
        if job is None:
            return parent
        child = _find(run.client, experiment_id, f"tags.`mlflow.parentRunId` = '{parent}' and tags.`mlflow.runName` = '{job}'")
        return child or run.client.create_run(experiment_id, run_name=job, tags={
            EXECUTION_TAG: execution, KIND_TAG: "training job", "mlflow.parentRunId": parent}).info.run_id

    run.run_id = run._call(f"open run {execution} of experiment {experiment_name}", open_run)
    return run


def _find(client: Any, experiment_id: str, query: str) -> str | None:
    found = client.search_runs([experiment_id], filter_string=query, max_results=1, order_by=["attributes.start_time ASC"])
    return found[0].info.run_id if found else None
