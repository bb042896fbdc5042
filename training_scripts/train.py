"""XGBoost training, SageMaker script mode: hyperparameters in, a servable model out.

- Channels `train` and `validation` hold label-first, headerless CSV (preprocess.py).
- `SM_NUM_GPUS` > 0 trains on the GPU (device "cuda"), otherwise on the CPU; both use
  the histogram tree method, so a model trained on either serves on either.
- Early stopping watches the last `eval_metric` on the validation channel. Every round
  prints `[n]\ttrain-auc:...\tvalidation-auc:...` and the end prints the best round's
  values again, so a SageMaker metric definition `validation-auc:([0-9.]+)` ends on the
  best score (tuning jobs optimise the last value they see).
- More than one host in `SM_HOSTS`: each host reads its own shard of `train`
  (ShardedByS3Key) and the hosts train one model through XGBoost's collective; the first
  host runs the tracker and is the only one that writes the model.
- With a checkpoint directory (SageMaker's managed spot syncs /opt/ml/checkpoints to S3)
  a restarted job resumes from the last checkpoint instead of starting again, and keeps the
  best round over all of them, before the checkpoint included.
- The model dir gets `xgboost-model.json`, `metadata.json` and `code/inference.py`, which
  is what the XGBoost serving container loads (SAGEMAKER_PROGRAM=inference.py), and, from the
  `metadata` channel (preprocess.py's features.json), `preprocessing.json`: the fitted
  transformation inference.py applies to raw rows. Without that channel the model serves
  preprocessed vectors only.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tracking
import xgboost as xgb
from xgboost import collective
from xgboost.tracker import RabitTracker

import sm_contract
from sm_contract import InputError, run_main, write_json

MODEL_FILE = "xgboost-model.json"
PREPROCESSING_FILE = "preprocessing.json"  # inference.PREPROCESSING_FILE
FEATURES_FILE = "features.json"  # preprocess.py's metadata output
CHECKPOINT_NAME = "xgboost-checkpoint"
#: Evaluation, the gate and serving read the model's output as a probability.
OBJECTIVES = ("binary:logistic",)
EVAL_METRICS = ("auc", "aucpr", "logloss", "error")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Names as SageMaker passes them: `--<hyperparameter> <value>`, the seeds' defaults.
    parser.add_argument("--max_depth", type=int, default=5)
    parser.add_argument("--eta", type=float, default=0.2)
    parser.add_argument("--gamma", type=float, default=4.0)
    parser.add_argument("--min_child_weight", type=float, default=6.0)
    parser.add_argument("--subsample", type=float, default=0.8)
    parser.add_argument("--colsample_bytree", type=float, default=1.0)
    parser.add_argument("--scale_pos_weight", type=float, default=1.0)
    parser.add_argument("--objective", default="binary:logistic")
    parser.add_argument("--eval_metric", default="logloss,auc", help="comma-separated; the last one drives early stopping")
    parser.add_argument("--num_round", type=int, default=100)
    parser.add_argument("--early_stopping_rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tracker_port", type=int, default=9099)
    parser.add_argument("--checkpoint_dir", type=Path, default=Path("/opt/ml/checkpoints"))
    parser.add_argument("--checkpoint_interval", type=int, default=10)
    args = parser.parse_args(argv)
    validate(args)
    return args


def validate(args: argparse.Namespace) -> None:
    checks = [
        (args.max_depth >= 1, f"max_depth is {args.max_depth}; expected 1 or more"),
        (0 < args.eta <= 1, f"eta is {args.eta}; expected 0 < eta <= 1"),
        (args.gamma >= 0, f"gamma is {args.gamma}; expected 0 or more"),
        (args.min_child_weight >= 0, f"min_child_weight is {args.min_child_weight}; expected 0 or more"),
        (0 < args.subsample <= 1, f"subsample is {args.subsample}; expected 0 < subsample <= 1"),
        (0 < args.colsample_bytree <= 1, f"colsample_bytree is {args.colsample_bytree}; expected 0 < value <= 1"),
        (args.scale_pos_weight > 0, f"scale_pos_weight is {args.scale_pos_weight}; expected more than 0"),
        (args.objective in OBJECTIVES, f"objective is {args.objective!r}; allowed: {', '.join(OBJECTIVES)}"),
        (args.num_round >= 1, f"num_round is {args.num_round}; expected 1 or more"),
        (args.early_stopping_rounds >= 0, f"early_stopping_rounds is {args.early_stopping_rounds}; expected 0 (off) or more"),
        (args.checkpoint_interval >= 1, f"checkpoint_interval is {args.checkpoint_interval}; expected 1 or more"),
    ]
    for ok, message in checks:
        if not ok:
            raise InputError(message)
    unknown = [m for m in eval_metrics(args) if m not in EVAL_METRICS]
    if unknown or not eval_metrics(args):
        raise InputError(f"eval_metric is {args.eval_metric!r}; allowed (comma-separated): {', '.join(EVAL_METRICS)}")


def eval_metrics(args: argparse.Namespace) -> list[str]:
    return [m.strip() for m in args.eval_metric.split(",") if m.strip()]


def booster_params(args: argparse.Namespace, gpus: int) -> dict:
    return {
        "max_depth": args.max_depth,
        "eta": args.eta,
        "gamma": args.gamma,
        "min_child_weight": args.min_child_weight,
        "subsample": args.subsample,
        "colsample_bytree": args.colsample_bytree,
        "scale_pos_weight": args.scale_pos_weight,
        "objective": args.objective,
        "eval_metric": eval_metrics(args),
        "tree_method": "hist",
        "device": "cuda" if gpus > 0 else "cpu",
        "seed": args.seed,
    }


def check_labels(labels: np.ndarray, what: str) -> int:
    """Labels must be 0/1 and, over the whole cluster, include both classes."""
    sm_contract.check_binary_labels(labels, what)
    counts = np.array([labels.size, labels.sum()], dtype=np.float64)
    if collective.is_distributed():
        counts = collective.allreduce(counts, collective.Op.SUM)
    rows, positives = int(counts[0]), int(counts[1])
    if positives in (0, rows):
        only = 1 if positives else 0
        raise InputError(f"{what}: every one of {rows} labels is {only}; training needs both classes (0 and 1)")
    return rows


def latest_checkpoint(directory: Path) -> Path | None:
    # XGBoost 3.x writes UBJSON checkpoints, earlier releases JSON: resume from either.
    pattern = re.compile(rf"^{CHECKPOINT_NAME}_(\d+)\.(?:json|ubj)$")
    found = [(int(m.group(1)), p) for p in directory.glob(f"{CHECKPOINT_NAME}_*") if (m := pattern.match(p.name))]
    return max(found)[1] if found else None


@contextmanager
def cluster_context(args: argparse.Namespace) -> Iterator[None]:
    """The collective over SM_HOSTS, or nothing for a single host.

    The first host starts the tracker on --tracker_port; every host (the first included)
    joins it as the worker whose rank is its position in SM_HOSTS.
    """
    hosts = sm_contract.hosts()
    if len(hosts) == 1:
        yield
        return
    rank = hosts.index(sm_contract.current_host())
    tracker_ip = socket.gethostbyname(hosts[0])
    tracker = None
    if rank == 0:
        tracker = RabitTracker(n_workers=len(hosts), host_ip=tracker_ip, port=args.tracker_port, sortby="task")
        tracker.start()
        print(f"tracker listening on {tracker_ip}:{args.tracker_port} for {len(hosts)} hosts", flush=True)
    try:
        with collective.CommunicatorContext(
            dmlc_communicator="rabit",
            dmlc_tracker_uri=tracker_ip,
            dmlc_tracker_port=args.tracker_port,
            dmlc_task_id=str(rank),
            dmlc_retry=30,
            dmlc_timeout=600,
        ):
            yield
    finally:
        if tracker is not None:
            tracker.wait_for()


def train(args: argparse.Namespace) -> None:
    gpus = sm_contract.num_gpus()
    x_train, y_train = sm_contract.read_label_first_csv(sm_contract.channel_dir("train"), "train channel")
    x_val, y_val = sm_contract.read_label_first_csv(sm_contract.channel_dir("validation"), "validation channel")
    if x_val.shape[1] != x_train.shape[1]:
        raise InputError(
            f"validation channel has {x_val.shape[1]} features, train has {x_train.shape[1]}; "
            "both must come from the same preprocessing run"
        )
    train_rows = check_labels(y_train, "train channel")
    check_labels(y_val, "validation channel")
    rank = collective.get_rank()
    dtrain = xgb.DMatrix(x_train, label=y_train)
    dval = xgb.DMatrix(x_val, label=y_val)

    resume_from, callbacks = None, []
    if args.checkpoint_dir.is_dir():
        resume_from = latest_checkpoint(args.checkpoint_dir)
        callbacks.append(
            xgb.callback.TrainingCheckPoint(args.checkpoint_dir, name=CHECKPOINT_NAME, interval=args.checkpoint_interval)
        )
    initial = xgb.Booster(model_file=str(resume_from)) if resume_from else None
    done = initial.num_boosted_rounds() if initial else 0
    if rank == 0:
        print(f"train_rows:{train_rows} hosts:{collective.get_world_size()} device:{booster_params(args, gpus)['device']}")
    if resume_from is not None and rank == 0:
        print(f"resuming from checkpoint {resume_from.name} after {done} rounds")

    params = booster_params(args, gpus)
    history: dict = {}
    started = time.perf_counter()
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=max(args.num_round - done, 0),
        evals=[(dtrain, "train"), (dval, "validation")],
        early_stopping_rounds=args.early_stopping_rounds or None,
        verbose_eval=True,
        xgb_model=initial,
        callbacks=callbacks,
        evals_result=history,
    )
    seconds = time.perf_counter() - started
    if not args.early_stopping_rounds:
        best = booster.num_boosted_rounds() - 1
    elif initial is not None:
        # Early stopping saw only the rounds after the checkpoint: the best may be one before it.
        best = best_round(booster, dval, eval_metrics(args)[-1])
    else:
        best = booster.best_iteration
    booster = booster[: best + 1]  # serve the best round, not the rounds after it
    # Scored again on the final model rather than read from the log: after a resume the log
    # lacks the rounds trained before the interruption.
    scores = booster.eval_set([(dtrain, "train"), (dval, "validation")], iteration=best)
    summary = {name: float(value) for name, value in re.findall(r"(\w+-\w+):([-+0-9.eE]+)", scores)}
    if rank == 0:
        print(f"best_iteration:{best}")
        for name, value in summary.items():
            print(f"{name}:{value:.6f}")
        print(f"training_seconds:{seconds:.3f}")
        save_model(booster, params, best, summary, x_train.shape[1], seconds)
        track(args, params, history, done, best, summary, seconds)


HYPERPARAMETERS = ("max_depth", "eta", "gamma", "min_child_weight", "subsample", "colsample_bytree", "scale_pos_weight",
                   "objective", "eval_metric", "num_round", "early_stopping_rounds", "seed")


@tracking.never_fails("train.py")
def track(args: argparse.Namespace, params: dict, history: dict, done: int, best: int, summary: dict, seconds: float) -> None:
    """This training job's run, nested under the pipeline execution's: the hyperparameters it ran with, every
    round's train and validation metrics (step = boosting round), and the best round's scores."""
    if not tracking.configured():
        return
    run = tracking.pipeline_run("train.py", job=sm_contract.job_name())
    run.params({**{name: getattr(args, name) for name in HYPERPARAMETERS}, "device": params["device"],
                "hosts": collective.get_world_size()})
    run.history({f"{split}-{metric}": values for split, metrics in history.items() for metric, values in metrics.items()},
                first_step=done)
    run.metrics({"best_iteration": best, "training_seconds": seconds, **{f"best-{name}": value for name, value in summary.items()}})
    run.finish()


def best_round(booster: xgb.Booster, dval: xgb.DMatrix, metric: str) -> int:
    """The round whose model scores best on validation over every round the booster holds, with the
    metric early stopping watches; the first of equals, as early stopping keeps it."""
    maximize = metric in ("auc", "aucpr")
    best, best_score = 0, None
    for round_ in range(booster.num_boosted_rounds()):
        text = booster[: round_ + 1].eval_set([(dval, "validation")], iteration=round_)
        match = re.search(rf"validation-{re.escape(metric)}:([-+0-9.eE]+|nan|inf)", text)
        score = float(match.group(1)) if match else float("nan")
        if best_score is None or (score > best_score if maximize else score < best_score):
            best, best_score = round_, score
    return best


def save_model(booster: xgb.Booster, params: dict, best: int, summary: dict, features: int, seconds: float) -> None:
    out = sm_contract.model_dir()
    out.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(out / MODEL_FILE))
    ship_serving_code(out / "code")
    preprocessing = fitted_preprocessing(features)
    if preprocessing is not None:
        shutil.copy2(preprocessing, out / PREPROCESSING_FILE)
    write_json(
        out / "metadata.json",
        {
            "model_file": MODEL_FILE,
            "xgboost_version": xgb.__version__,
            "num_features": features,
            "best_iteration": best,
            "metrics": summary,
            "params": {k: v for k, v in params.items() if k != "device"},
            "trained_on": {"device": params["device"], "hosts": collective.get_world_size()},
            "training_seconds": round(seconds, 3),
        },
    )


def ship_serving_code(code: Path) -> None:
    """inference.py and every module beside it: the serving container puts code/ on sys.path
    (SAGEMAKER_SUBMIT_DIRECTORY), so a team's inference.py may import a module of its own folder. And the code
    asset's pyproject.toml where it has one: the serving toolkit runs `pip install .` on code/ too, under network
    isolation, which only its offline build backend (offline_build_backend.py, a module above) lets succeed."""
    code.mkdir(exist_ok=True)
    here = Path(__file__).parent
    for module in sorted([*here.glob("*.py"), *here.glob("pyproject.toml")]):
        shutil.copy2(module, code / module.name)


def fitted_preprocessing(features: int) -> Path | None:
    """features.json from the metadata channel, checked against the trained feature count; None without the channel."""
    channel = sm_contract.channel_dir("metadata")
    if not channel.is_dir():
        print("no metadata channel: the model will serve preprocessed vectors only, not raw rows")
        return None
    found = sorted(channel.rglob(FEATURES_FILE))
    if not found:
        raise InputError(f"metadata channel {channel} has no {FEATURES_FILE}; it must be preprocess.py's metadata output")
    listed = len(json.loads(found[0].read_text()).get("features", []))
    if listed != features:
        raise InputError(f"metadata channel's {FEATURES_FILE} lists {listed} features but the train channel has {features}; "
                         "both must come from the same preprocessing run")
    return found[0]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with cluster_context(args):
        try:
            train(args)
        except xgb.core.XGBoostError as error:
            if len(sm_contract.hosts()) > 1:  # most often: another host stopped on bad input
                raise InputError(
                    f"the training collective failed on host {sm_contract.current_host()} ({str(error).splitlines()[0]}); "
                    "another host's failure reason names the cause"
                ) from None
            raise


if __name__ == "__main__":
    run_main(main)
