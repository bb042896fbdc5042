#!/usr/bin/env python3
"""Print the training figures: step times and the model's test metrics on the Caravan data.

Runs training_scripts/ exactly as the pipeline's steps do (subprocesses, SM_* variables,
an /opt/ml-like tree), BENCH_RUNS times (default 3), and prints the median wall time of
each step, XGBoost's own training time, and AUC / precision / recall at the chosen
cutoff. SM_NUM_GPUS is passed through, so on a GPU host `SM_NUM_GPUS=1 python
benchmarks/training.py` measures the GPU path (install `xgboost==3.0.5` there instead of
xgboost-cpu). `--plots DIR` copies the evaluation plots (the README's pictures) to DIR.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local.dataset import caravan_csv
from local.paths import REPO_ROOT as ROOT

SCRIPTS = ROOT / "training_scripts"


def found(pattern: str, text: str) -> str:
    """The first group of pattern in train.py's output; exits naming the pattern when it is not there."""
    match = re.search(pattern, text)
    if match is None:
        sys.exit(f"train.py's output has no {pattern!r}")
    return match.group(1)


def step(script: str, args: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, script, *args], cwd=SCRIPTS, env={**os.environ, **env}, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{script} failed: {result.stderr[-2000:]}")
    return time.perf_counter() - start, result.stdout


def run_once(work: Path) -> dict:
    raw = work / "raw"
    raw.mkdir(parents=True)
    shutil.copy(caravan_csv(), raw / "caravan.csv")
    splits, model, evaluation = work / "splits", work / "model", work / "evaluation"
    prep, _ = step("preprocess.py", ["--input-dir", str(raw), "--output-dir", str(splits)], {})
    env = {"SM_CHANNEL_TRAIN": str(splits / "train"), "SM_CHANNEL_VALIDATION": str(splits / "validation"),
           "SM_CHANNEL_METADATA": str(splits / "metadata"),
           "SM_MODEL_DIR": str(model), "SM_OUTPUT_DIR": str(work / "output"), "SM_NUM_GPUS": os.environ.get("SM_NUM_GPUS", "0")}
    train, out = step("train.py", ["--checkpoint_dir", str(work / "no-checkpoints")], env)
    evaluate, _ = step("evaluate.py", ["--model-dir", str(model), "--validation-dir", str(splits / "validation"),
                                       "--test-dir", str(splits / "test"), "--output-dir", str(evaluation)], {})
    metrics = json.loads((evaluation / "evaluation.json").read_text())["binary_classification_metrics"]
    return {
        "preprocess": prep, "train": train, "evaluate": evaluate,
        "xgboost": float(found(r"training_seconds:([0-9.]+)", out)),
        "device": found(r"device:(\w+)", out),
        "metrics": metrics, "evaluation": evaluation,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plots", type=Path, help="copy the evaluation plots here")
    args = parser.parse_args()
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_once(Path(tmp) / f"run-{i}") for i in range(runs)]
        if args.plots:
            args.plots.mkdir(parents=True, exist_ok=True)
            for png in sorted(results[0]["evaluation"].glob("*.png")):
                shutil.copy(png, args.plots / png.name)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"xgboost {importlib.metadata.version('xgboost-cpu') if _has('xgboost-cpu') else importlib.metadata.version('xgboost')}, "
          f"device {results[0]['device']}, {runs} runs")
    for name in ("preprocess", "train", "evaluate", "xgboost"):
        values = [r[name] for r in results]
        label = "xgb.train() alone (inside train.py)" if name == "xgboost" else f"{name}.py, whole process"
        print(f"  {label:<40} median {statistics.median(values):6.2f} s   min {min(values):6.2f} s")
    m = results[0]["metrics"]
    print(f"  test AUC {m['auc']['value']:.3f} ± {m['auc']['standard_deviation']:.3f}; at cutoff {m['cutoff']['value']:.2f} "
          f"({m['cutoff']['rule']}): precision {m['precision']['value']:.3f}, recall {m['recall']['value']:.3f}, "
          f"F1 {m['f1']['value']:.3f}, accuracy {m['accuracy']['value']:.3f}")
    same = all(r["metrics"]["auc"]["value"] == m["auc"]["value"] for r in results)
    print(f"  runs {'agree' if same else 'DIFFER'} on the metrics (seeded split and training)")
    return 0


def _has(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


if __name__ == "__main__":
    sys.exit(main())
