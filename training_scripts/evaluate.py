"""Evaluation: score the test split, write evaluation.json (SageMaker model-quality shape) and plots.

The cutoff that turns a probability into "will respond" is chosen on the validation
split, never on test, by --cutoff-rule:
- min-log-loss: the seeds' tutorial rule, the cutoff whose thresholded predictions have the
  lowest log loss (on a rare positive class this lands near "predict nobody");
- max-f1: the cutoff with the best F1, the usual choice when positives are rare.
Test metrics are then reported at that cutoff: accuracy, precision, recall, F1, the
confusion matrix; AUC and log loss need no cutoff. Standard deviations come from a
seeded bootstrap of the test rows, so a gate can tell noise from a real difference.

Plots (PNG, beside evaluation.json): roc.png, precision_recall.png and
log_loss_vs_cutoff.png with the chosen cutoff marked.
"""

from __future__ import annotations

import argparse
import json
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display in a processing container
import matplotlib.pyplot as plt
import numpy as np
import tracking
import xgboost as xgb
from sklearn import metrics

import sm_contract
from sm_contract import InputError, run_main, write_json

PROCESSING = Path("/opt/ml/processing")
CUTOFF_RULES = ("max-f1", "min-log-loss")
CUTOFFS = np.round(np.arange(0.01, 1.0, 0.01), 2)
MODEL_FILE = "xgboost-model.json"
CURVE_POINTS = 101  # curves in evaluation.json are resampled to keep the report small


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=PROCESSING / "model")
    parser.add_argument("--validation-dir", type=Path, default=PROCESSING / "validation")
    parser.add_argument("--test-dir", type=Path, default=PROCESSING / "test")
    parser.add_argument("--output-dir", type=Path, default=PROCESSING / "evaluation")
    parser.add_argument("--cutoff-rule", default="max-f1")
    parser.add_argument("--bootstrap-samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--hyperparameters-chosen-by", default="",
                        help="how the model's hyperparameters were chosen (the config's training.hyperparameters_chosen_by)")
    args = parser.parse_args(argv)
    if args.cutoff_rule not in CUTOFF_RULES:
        raise InputError(f"--cutoff-rule is {args.cutoff_rule!r}; allowed: {', '.join(CUTOFF_RULES)}")
    if args.bootstrap_samples < 0:
        raise InputError(f"--bootstrap-samples is {args.bootstrap_samples}; expected 0 (off) or more")
    return args


def load_model(model_dir: Path) -> xgb.Booster:
    """The model from a training job's model.tar.gz, or from an unpacked model dir."""
    if (model_dir / MODEL_FILE).is_file():
        path = model_dir / MODEL_FILE
    elif (model_dir / "model.tar.gz").is_file():
        unpacked = Path(tempfile.mkdtemp(prefix="model-"))
        with tarfile.open(model_dir / "model.tar.gz") as archive:
            if MODEL_FILE not in archive.getnames():
                raise InputError(f"model.tar.gz in {model_dir} has no {MODEL_FILE}; it must come from train.py")
            archive.extract(MODEL_FILE, unpacked)
        path = unpacked / MODEL_FILE
    else:
        raise InputError(f"no model in {model_dir}: expected {MODEL_FILE} or model.tar.gz from the training step")
    booster = xgb.Booster()
    booster.load_model(str(path))
    return booster


def predict(booster: xgb.Booster, directory: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    features, labels = sm_contract.read_label_first_csv(directory, what)
    sm_contract.check_binary_labels(labels, what)
    if features.shape[1] != booster.num_features():
        raise InputError(f"{what} has {features.shape[1]} features; the model expects {booster.num_features()}")
    if len(np.unique(labels)) < 2:
        raise InputError(f"{what} has a single class; AUC and the cutoff need both 0 and 1 labels")
    return labels, booster.predict(xgb.DMatrix(features))


def thresholded_log_loss(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Log loss of the 0/1 predictions at each cutoff, as the seeds' tutorial plots it."""
    return np.array([metrics.log_loss(labels, (scores > c).astype(float), labels=[0, 1]) for c in CUTOFFS])


def choose_cutoff(rule: str, labels: np.ndarray, scores: np.ndarray) -> float:
    if rule == "min-log-loss":
        return float(CUTOFFS[int(np.argmin(thresholded_log_loss(labels, scores)))])
    f1 = [metrics.f1_score(labels, scores > c, zero_division=0) for c in CUTOFFS]
    return float(CUTOFFS[int(np.argmax(f1))])


def at_cutoff(labels: np.ndarray, scores: np.ndarray, cutoff: float) -> dict[str, float]:
    predicted = scores > cutoff
    tn, fp, fn, tp = metrics.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    ratio = lambda a, b: float(a / b) if b else 0.0
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f_beta = lambda beta: ratio((1 + beta**2) * precision * recall, beta**2 * precision + recall)
    return {
        "accuracy": ratio(tp + tn, len(labels)),
        "precision": precision,
        "recall": recall,
        "f0_5": f_beta(0.5),
        "f1": f_beta(1.0),
        "f2": f_beta(2.0),
        "true_positive_rate": recall,
        "true_negative_rate": ratio(tn, tn + fp),
        "false_positive_rate": ratio(fp, fp + tn),
        "false_negative_rate": ratio(fn, fn + tp),
        "tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp),
    }


def scalar_metrics(labels: np.ndarray, scores: np.ndarray, cutoff: float) -> dict[str, float]:
    values = at_cutoff(labels, scores, cutoff)
    values["auc"] = float(metrics.roc_auc_score(labels, scores))
    values["log_loss"] = float(metrics.log_loss(labels, scores, labels=[0, 1]))
    return values


def bootstrap_std(labels: np.ndarray, scores: np.ndarray, cutoff: float, samples: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(samples):
        pick = rng.integers(0, len(labels), len(labels))
        if len(np.unique(labels[pick])) == 2:
            draws.append(scalar_metrics(labels[pick], scores[pick], cutoff))
    if len(draws) < 2:
        return {}
    return {name: float(np.std([d[name] for d in draws], ddof=1)) for name in draws[0] if name not in ("tn", "fp", "fn", "tp")}


def report(labels: np.ndarray, scores: np.ndarray, cutoff: float, rule: str, stds: dict[str, float]) -> dict:
    values = scalar_metrics(labels, scores, cutoff)
    metric = lambda name: {"value": values[name], **({"standard_deviation": stds[name]} if name in stds else {})}
    fpr, tpr, _ = metrics.roc_curve(labels, scores)
    precisions, recalls, _ = metrics.precision_recall_curve(labels, scores)
    positives = float(labels.mean())
    body: dict[str, object] = {name: metric(name) for name in (
        "accuracy", "precision", "recall", "f0_5", "f1", "f2", "auc", "log_loss",
        "true_positive_rate", "true_negative_rate", "false_positive_rate", "false_negative_rate",
    )}
    body.update(
        {
            "confusion_matrix": {"0": {"0": values["tn"], "1": values["fp"]}, "1": {"0": values["fn"], "1": values["tp"]}},
            "cutoff": {"value": cutoff, "rule": rule},
            "recall_best_constant_classifier": {"value": 1.0},
            "precision_best_constant_classifier": {"value": positives},
            "accuracy_best_constant_classifier": {"value": max(positives, 1 - positives)},
            "receiver_operating_characteristic_curve": resample({"false_positive_rates": fpr, "true_positive_rates": tpr}),
            "precision_recall_curve": resample({"precisions": precisions, "recalls": recalls}),
        }
    )
    return {"binary_classification_metrics": body, "rows": {"test": int(len(labels)), "test_positives": int(labels.sum())}}


def resample(curve: dict[str, np.ndarray]) -> dict[str, list]:
    length = len(next(iter(curve.values())))
    keep = np.unique(np.linspace(0, length - 1, min(length, CURVE_POINTS)).round().astype(int))
    return {name: [round(float(v), 6) for v in values[keep]] for name, values in curve.items()}


def plot(labels: np.ndarray, scores: np.ndarray, val_labels: np.ndarray, val_scores: np.ndarray, cutoff: float, out: Path) -> None:
    point = at_cutoff(labels, scores, cutoff)
    fpr, tpr, _ = metrics.roc_curve(labels, scores)
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot(fpr, tpr, label=f"test AUC {metrics.roc_auc_score(labels, scores):.3f}")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    axes.scatter([point["false_positive_rate"]], [point["true_positive_rate"]], color="red", zorder=3, label=f"cutoff {cutoff:.2f}")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve (test split)")
    save(figure, axes, out / "roc.png")

    precisions, recalls, _ = metrics.precision_recall_curve(labels, scores)
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot(recalls, precisions, label=f"test average precision {metrics.average_precision_score(labels, scores):.3f}")
    axes.axhline(labels.mean(), linestyle=":", color="grey", label="respond rate (chance)")
    axes.scatter([point["recall"]], [point["precision"]], color="red", zorder=3, label=f"cutoff {cutoff:.2f}")
    axes.set(xlabel="recall", ylabel="precision", title="Precision-recall curve (test split)")
    save(figure, axes, out / "precision_recall.png")

    figure, axes = plt.subplots(figsize=(6, 4))
    losses = thresholded_log_loss(val_labels, val_scores)
    axes.plot(CUTOFFS, losses, label="log loss of 0/1 predictions (validation)")
    lowest = float(CUTOFFS[int(np.argmin(losses))])
    axes.axvline(cutoff, color="red", linestyle="--", label=f"chosen cutoff {cutoff:.2f}")
    if lowest != cutoff:
        axes.axvline(lowest, color="grey", linestyle=":", label=f"lowest log loss at {lowest:.2f}")
    axes.set(xlabel="cutoff", ylabel="log loss", title="Log loss against cutoff")
    save(figure, axes, out / "log_loss_vs_cutoff.png")


def save(figure, axes, path: Path) -> None:
    axes.legend(loc="best", fontsize="small")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    # A fixed Software tag (no version or date) keeps the PNG bytes identical run to run.
    figure.savefig(path, dpi=100, metadata={"Software": "evaluate.py"})
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    booster = load_model(args.model_dir)
    val_labels, val_scores = predict(booster, args.validation_dir, "validation split")
    test_labels, test_scores = predict(booster, args.test_dir, "test split")
    cutoff = choose_cutoff(args.cutoff_rule, val_labels, val_scores)
    stds = bootstrap_std(test_labels, test_scores, cutoff, args.bootstrap_samples, args.seed)
    evaluation = report(test_labels, test_scores, cutoff, args.cutoff_rule, stds)
    # The report says where the hyperparameters came from, so a reader can judge the model's numbers.
    evaluation["hyperparameters"] = {"chosen_by": args.hyperparameters_chosen_by or "not stated in the model's config"}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.output_dir / "evaluation.json", evaluation)
    plot(test_labels, test_scores, val_labels, val_scores, cutoff, args.output_dir)
    summary = evaluation["binary_classification_metrics"]
    print(
        f"test auc:{summary['auc']['value']:.4f} precision:{summary['precision']['value']:.4f} "
        f"recall:{summary['recall']['value']:.4f} f1:{summary['f1']['value']:.4f} at cutoff {cutoff:.2f} ({args.cutoff_rule})"
    )
    track(args, evaluation)


@tracking.never_fails("evaluate.py")
def track(args: argparse.Namespace, evaluation: dict) -> None:
    """Into the pipeline execution's run: the evaluated model's hyperparameters (as train.py recorded them),
    every test metric with its bootstrap standard deviation, the report and plots, and the model itself."""
    if not tracking.configured():
        return
    run = tracking.pipeline_run("evaluate.py")
    with tempfile.TemporaryDirectory(prefix="model-") as scratch:
        model = unpacked_model(args.model_dir, Path(scratch))
        recorded = json.loads((model / "metadata.json").read_text()) if (model / "metadata.json").is_file() else {}
        run.params({**{name: value for name, value in recorded.get("params", {}).items()},
                    "best_iteration": recorded.get("best_iteration"), "cutoff_rule": args.cutoff_rule,
                    "hyperparameters_chosen_by": evaluation["hyperparameters"]["chosen_by"]})
        scores = {}
        for name, entry in evaluation["binary_classification_metrics"].items():
            if isinstance(entry, dict) and isinstance(entry.get("value"), (int, float)):
                scores[f"test-{name}"] = entry["value"]
                if "standard_deviation" in entry:
                    scores[f"test-{name}-std"] = entry["standard_deviation"]
        run.metrics({**scores, "test-rows": evaluation["rows"]["test"]})
        run.artifacts(args.output_dir, "evaluation")
        run.artifacts(model, "model")


def unpacked_model(model_dir: Path, scratch: Path) -> Path:
    """The training job's model directory: as it is, or model.tar.gz unpacked into scratch."""
    if (model_dir / "model.tar.gz").is_file() and not (model_dir / MODEL_FILE).is_file():
        with tarfile.open(model_dir / "model.tar.gz") as archive:
            archive.extractall(scratch, filter="data")
        return scratch
    return model_dir


if __name__ == "__main__":
    run_main(main)
