#!/usr/bin/env python3
"""Choose a bundled model's default hyperparameters by k-fold cross-validation, and print them as mean ± sd.

For each model of config/dev.yaml's catalog (or --model NAME), preprocess.py prepares its
data_file exactly as the pipeline's Preprocess step does; then XGBoost's own `xgb.cv` runs a
stratified k-fold cross-validation (default 5 folds) on the training split only, for every
point of a small grid around the seeds' tutorial settings. The number of rounds is where the
AUC averaged over the folds stops improving: one fold's validation split is too noisy for
that (with 6 % positives, 20 % of Caravan's rows hold about 60 positive rows), which is why
the bundled configs train a fixed num_round with early stopping off.

    make bench-cv                     # every model of dev, 5 folds
    .venv/bin/python benchmarks/cv.py --model direct-marketing --folds 10

Prints one table per model (the grid, best first) and the line to put in its config.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from config import load_environment
from config.environment import ModelConfig
from local.paths import REPO_ROOT as ROOT

SCRIPTS = ROOT / "training_scripts"
#: Around the tutorial's settings (max_depth 5, eta 0.2, gamma 4, min_child_weight 6, subsample 0.8).
GRID = {"max_depth": (3, 5), "eta": (0.05, 0.2), "min_child_weight": (1, 6), "gamma": (0, 4)}
MAX_ROUNDS = 1000
#: Rounds without a gain in the fold-averaged AUC before xgb.cv stops; averaged over folds, not one split.
PATIENCE = 50


def train_split(model: ModelConfig, work: Path) -> Path:
    """The model's training split, as the pipeline's Preprocess step writes it (label first, no header)."""
    source = model.dataset.source
    if source.path is None:
        sys.exit(f"{model.name}: data_file {source.value} is in S3; cross-validate a local copy")
    raw = work / "raw"
    raw.mkdir(parents=True)
    (raw / source.file_name).write_bytes(source.path.read_bytes())
    data = model.dataset
    args = ["--input-dir", str(raw), "--output-dir", str(work / "splits"), "--label-column", data.label_column,
            "--positive-label", data.positive_label, "--categorical-columns", ",".join(data.categorical_columns),
            "--drop-columns", ",".join(data.drop_columns)]
    result = subprocess.run([sys.executable, "preprocess.py", *args], cwd=SCRIPTS, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{model.name}: preprocess.py failed: {result.stderr[-1000:]}")
    return work / "splits" / "train"


def cross_validate(train_dir: Path, folds: int, seed: int) -> list[dict]:
    """Every grid point's fold-averaged AUC at its best round, best first."""
    import numpy as np
    import xgboost as xgb

    table = np.vstack([np.loadtxt(path, delimiter=",", ndmin=2) for path in sorted(train_dir.glob("*.csv"))])
    matrix = xgb.DMatrix(table[:, 1:], label=table[:, 0])
    results = []
    for values in itertools.product(*GRID.values()):
        params = {"objective": "binary:logistic", "eval_metric": "auc", "subsample": 0.8, "seed": seed,
                  "tree_method": "hist", "nthread": os.cpu_count() or 1, **dict(zip(GRID, values, strict=True))}
        history: Any = xgb.cv(params, matrix, num_boost_round=MAX_ROUNDS, nfold=folds, stratified=True, seed=seed,
                              early_stopping_rounds=PATIENCE, as_pandas=True)
        best = int(history["test-auc-mean"].idxmax())
        results.append({**dict(zip(GRID, values, strict=True)), "num_round": best + 1,
                        "auc_mean": float(history["test-auc-mean"].iloc[best]), "auc_sd": float(history["test-auc-std"].iloc[best]),
                        "rows": int(table.shape[0]), "positives": int(table[:, 0].sum())})
    return sorted(results, key=lambda r: -r["auc_mean"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="one model of dev's catalog (default: every model)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "dev.yaml")
    args = parser.parse_args()
    env = load_environment(args.config, display_root=ROOT)
    models = [env.model(args.model)] if args.model else list(env.models.values())
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.folds}-fold stratified CV on the training split, seed {args.seed}")
    for model in models:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            results = cross_validate(train_split(model, Path(tmp)), args.folds, args.seed)
        best = results[0]
        print(f"\n{model.name}: {best['rows']} training rows, {best['positives']} positive; "
              f"{len(results)} grid points in {time.perf_counter() - started:.0f}s")
        print(f"  {'max_depth eta min_child_weight gamma':<40} {'rounds':>6}  AUC mean ± sd over folds")
        for r in results:
            print(f"  {r['max_depth']:>9} {r['eta']:>4} {r['min_child_weight']:>16} {r['gamma']:>5}      {r['num_round']:>6}  "
                  f"{r['auc_mean']:.4f} ± {r['auc_sd']:.4f}")
        chosen = {**{k: best[k] for k in GRID}, "num_round": best["num_round"], "early_stopping_rounds": 0}
        print(f"  config: hyperparameters: {chosen}")
        print(f"  config: hyperparameters_chosen_by: \"{args.folds}-fold CV on the training split (benchmarks/cv.py): "
              f"AUC {best['auc_mean']:.3f} ± {best['auc_sd']:.3f}\"")
    return 0


if __name__ == "__main__":
    sys.exit(main())
