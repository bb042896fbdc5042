"""Lambda entry point of the training pipeline's evaluation gate (a SageMaker Pipelines Lambda step).

Thin on purpose: clients are created per call (none at import time, so tests and the local
runner can point them at an emulator), the decision is gate.evaluate's, and one JSON log
line records it. The pipeline reads "decision" and "reasons" as String outputs.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import boto3

from gate import evaluate, fit_output_parameter


def handler(event: Any, context: Any = None) -> dict[str, Any]:  # noqa: ARG001 - Lambda's handler signature
    try:
        result = evaluate(event, s3=boto3.client("s3"), sagemaker=boto3.client("sagemaker"))
    except Exception as error:  # noqa: BLE001 - fail closed: a crash must read as "reject", never escape
        reason = f"evaluation gate error: {type(error).__name__}: {error}"
        result = {"decision": "reject", "reasons": fit_output_parameter(reason), "reason_list": [reason], "metrics": {},
                  "champion": None}

    fields = event if isinstance(event, dict) else {}
    print(json.dumps({
        "event": "evaluation_gate",
        "decision": result["decision"],
        "reasons": result["reason_list"],
        "metrics": result["metrics"],
        "champion": result["champion"],
        "evaluation_uri": fields.get("evaluation_uri"),
        "model_package_group_name": fields.get("model_package_group_name"),
    }, default=str))
    track(fields, result)
    return result


#: The MLflow client, as training_scripts/tracking.py pins it (a test checks they agree). Lambda's Python runtime
#: lacks it: the function installs it into /tmp on first use, from the package index its NAT gateway reaches.
CLIENT = ("mlflow-skinny==3.0.1", "sagemaker-mlflow==0.5.0")
PACKAGES = "/tmp/tracking-packages"
INSTALL_TIMEOUT = 90  # of the function's 180 s with tracking on


def client_importable() -> bool:
    import importlib.util
    import subprocess

    modules = ("mlflow", "sagemaker_mlflow") if os.environ["MLFLOW_TRACKING_URI"].startswith("arn:") else ("mlflow",)
    try:
        if all(importlib.util.find_spec(module) for module in modules):
            return True
    except (ImportError, ValueError):
        pass
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
                           "--timeout", "10", "--retries", "1", "--target", PACKAGES, *CLIENT], capture_output=True, text=True,
                          timeout=INSTALL_TIMEOUT)
    if done.returncode:
        raise ImportError(f"the MLflow client could not be installed: {(done.stderr.strip().splitlines() or ['pip failed'])[-1]}")
    sys.path.append(PACKAGES)
    importlib.invalidate_caches()
    return True


def track(event: dict, result: dict) -> None:
    """The decision and its reasons as tags of the pipeline execution's MLflow run (training_scripts/tracking.py
    opens it), which ends there, when the function has MLFLOW_TRACKING_URI. Never fails the gate: a failure is
    one log line."""
    execution, experiment = event.get("pipeline_execution_id"), os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if not os.environ.get("MLFLOW_TRACKING_URI") or not execution or not experiment:
        return
    for name, value in {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}.items():
        os.environ.setdefault(name, value)
    try:
        client_importable()
        from mlflow import MlflowClient
        from mlflow.entities import RunTag

        client = MlflowClient()
        known = client.get_experiment_by_name(experiment)
        if known is None:
            raise LookupError(f"no experiment {experiment}")
        found = client.search_runs(
            [known.experiment_id], max_results=1,
            filter_string=f"tags.`sagemaker.pipeline_execution_id` = '{execution}' and tags.`sagemaker.run_kind` = 'pipeline execution'")
        if not found:
            raise LookupError(f"no run of execution {execution} in experiment {experiment}")
        champion = result.get("champion")
        tags = {"gate.decision": result["decision"], "gate.reasons": "; ".join(result["reason_list"]) or "none",
                "gate.champion": json.dumps(champion, default=str) if champion else "none"}
        client.log_batch(found[0].info.run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])
        client.set_terminated(found[0].info.run_id, "FINISHED")  # the steps after the gate log nothing
    except Exception as error:  # noqa: BLE001 - the gate's decision stands whether or not it is logged
        print(f"tracking: the gate's decision was not logged ({type(error).__name__}: {error})", file=sys.stderr)
