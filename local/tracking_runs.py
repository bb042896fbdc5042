"""Pipeline executions' tracking without the emulator: a model's training scripts run as their jobs run them,
with the variables the pipeline definition gives each step, logging to an MLflow server; then the gate's
tracking call. The tracking tests use it, and so does the UI screenshot (python -m local.screenshot).

The full path (deployed pipeline, local runner, emulator) is the demo's; this is the same scripts and
variables in a few seconds, for tests that read back what was logged.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import naming
from config.environment import ModelConfig
from local.jobs.container import inherited_env
from local.paths import REPO_ROOT

SCRIPTS = REPO_ROOT / "training_scripts"
GATE_CODE = REPO_ROOT / "lambda" / "evaluation_gate"


@dataclass
class LoggedExecution:
    """What one logged execution left: its work files, report and model metadata."""

    execution_id: str
    work: Path  # splits/, model/, evaluation/
    evaluation: dict
    metadata: dict  # the model's metadata.json


def job_env(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without anything of its own tracking, SageMaker or AWS, plus ``env``."""
    return {**inherited_env("MLFLOW_", "SM_", "AWS_", "PIPELINE_"), **env}


def run_script(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, name, *args], cwd=SCRIPTS, env=job_env(env), capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed: {done.stderr.strip().splitlines()[-1:]}")
    return done


def log_execution(tracking_uri: str, model: ModelConfig, execution_id: str, root: Path, *, env_name: str = "dev",
                  hyperparameters: dict[str, str] | None = None, decision: dict | None = None,
                  before_gate: Callable[[], None] | None = None, extra_env: dict[str, str] | None = None) -> LoggedExecution:
    """One execution of ``model``'s pipeline steps on its bundled dataset (preprocess, train, evaluate), logging to
    ``tracking_uri``, then the gate's tracking call with ``decision``; ``extra_env`` reaches every step (this
    process's MLFLOW_, AWS_, SM_ variables do not). Stderr of each step is kept in root."""
    work = root / execution_id
    raw = work / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    source = model.dataset.source
    if source.path is None:
        raise ValueError(f"{model.name}'s dataset is not a local file ({source.value})")
    shutil.copy(source.path, raw / source.file_name)
    env = {"MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_EXPERIMENT_NAME": naming.mlflow_experiment_name(env_name, model.name),
           "PIPELINE_EXECUTION_ID": execution_id, **(extra_env or {})}
    splits, evaluation, data = work / "splits", work / "evaluation", model.dataset
    logs = [run_script("preprocess.py", env, "--input-dir", str(raw), "--output-dir", str(splits), "--label-column",
                       data.label_column, "--positive-label", data.positive_label,
                       "--categorical-columns", ",".join(data.categorical_columns), "--drop-columns", ",".join(data.drop_columns))]
    training = {"SM_CHANNEL_TRAIN": str(splits / "train"), "SM_CHANNEL_VALIDATION": str(splits / "validation"),
                "SM_CHANNEL_METADATA": str(splits / "metadata"), "SM_MODEL_DIR": str(work / "model"),
                "SM_OUTPUT_DATA_DIR": str(work / "output"), "SM_NUM_GPUS": "0",
                "SM_TRAINING_ENV": json.dumps({"job_name": f"pipelines-{execution_id}-Train"})}
    arguments = [part for name, value in (hyperparameters or {}).items() for part in (f"--{name}", str(value))]
    logs.append(run_script("train.py", {**env, **training}, *arguments))
    logs.append(run_script("evaluate.py", env, "--model-dir", str(work / "model"), "--validation-dir", str(splits / "validation"),
                           "--test-dir", str(splits / "test"), "--output-dir", str(evaluation)))
    if before_gate:
        before_gate()
    runner = ("import json, sys; sys.path.insert(0, sys.argv[1]); from handler import track; "
              "track(json.loads(sys.argv[2]), json.loads(sys.argv[3]))")
    outcome = decision or {"decision": "promote", "reason_list": ["all checks passed"], "champion": None}
    gate_env = {k: v for k, v in env.items() if k != "PIPELINE_EXECUTION_ID"}
    logs.append(subprocess.run([sys.executable, "-c", runner, str(GATE_CODE), json.dumps({"pipeline_execution_id": execution_id}),
                                json.dumps(outcome)], env=job_env(gate_env), capture_output=True, text=True, timeout=120, check=True))
    (work / "stderr.log").write_text("".join(log.stderr for log in logs))
    return LoggedExecution(execution_id, work, json.loads((evaluation / "evaluation.json").read_text()),
                           json.loads((work / "model" / "metadata.json").read_text()))
