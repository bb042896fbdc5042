"""Data-quality baseline for SageMaker Model Monitor, computed from the training features.

Model Monitor's analyzer compares each hour of captured requests with two files:
statistics.json (per feature: counts, mean, sum, std_dev, min, max and a KLL quantile sketch
with 10 histogram buckets) and constraints.json (per feature: type, completeness,
non-negativity; plus the monitoring settings). This writes both in the analyzer's format for
the features a request carries: headerless CSV, so features are named _c0, _c1, ... in
request column order, the names the analyzer gives captured columns. preprocess.py calls it
on the training split; the pipeline registers the files with the model version
(ModelMetrics.ModelDataQuality), and the serving stack's monitoring schedule reads them.

The sketch is KLL's: level h holds items that stand for 2^h values each. It is built
deterministically (sort, keep every other item when a level overflows), so the same data
gives the same files.
"""

from __future__ import annotations

import math

import numpy as np

SKETCH_K = 2048
SKETCH_C = 0.64
BUCKETS = 10
#: The analyzer's comparison settings: distance between baseline and captured distributions above
#: which a feature counts as drifted; "Robust" is the analyzer's default method.
DRIFT_THRESHOLD = 0.1


def feature_name(index: int) -> str:
    return f"_c{index}"


def kll_sketch(values: np.ndarray, k: int = SKETCH_K) -> list[list[float]]:
    levels: list[list[float]] = [sorted(float(v) for v in values)]
    height = 0
    while height < len(levels) and len(levels[height]) > k:
        items = levels[height]
        # An odd item stays at its level; each remaining pair promotes one item at double weight.
        stay, pairs = (items[:1], items[1:]) if len(items) % 2 else ([], items)
        promoted = pairs[height % 2::2]
        levels[height] = stay
        if height + 1 == len(levels):
            levels.append([])
        levels[height + 1] = sorted(levels[height + 1] + promoted)
        height += 1
    return levels


def histogram(values: np.ndarray, low: float, high: float) -> list[dict]:
    if low == high:
        return [{"lower_bound": low, "upper_bound": high, "count": float(len(values))}]
    counts, edges = np.histogram(values, bins=BUCKETS, range=(low, high))
    return [{"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(counts[i])} for i in range(BUCKETS)]


def data_quality_baseline(features: np.ndarray) -> tuple[dict, dict]:
    """(statistics, constraints) for a rows x features matrix; NaN counts as missing."""
    if features.ndim != 2 or not features.shape[0]:
        raise ValueError("a baseline needs a non-empty two-dimensional feature matrix")
    rows = features.shape[0]
    statistics, constraints = [], []
    for index in range(features.shape[1]):
        column = features[:, index]
        present = column[~np.isnan(column)]
        integral = bool(present.size) and bool(np.all(np.floor(present) == present))
        kind = "Integral" if integral else "Fractional"
        name = feature_name(index)
        numbers: dict = {"common": {"num_present": int(present.size), "num_missing": int(rows - present.size)}}
        if present.size:
            low, high = float(present.min()), float(present.max())
            numbers.update(
                mean=float(present.mean()), sum=float(present.sum()), std_dev=float(present.std()), min=low, max=high,
                distribution={"kll": {"buckets": histogram(present, low, high),
                                      "sketch": {"parameters": {"c": SKETCH_C, "k": float(SKETCH_K)}, "data": kll_sketch(present)}}},
            )
        statistics.append({"name": name, "inferred_type": kind, "numerical_statistics": numbers})
        constraint = {"name": name, "inferred_type": kind, "completeness": present.size / rows}
        if present.size:
            constraint["num_constraints"] = {"is_non_negative": bool(present.min() >= 0)}
        constraints.append(constraint)
    return (
        {"version": 0.0, "dataset": {"item_count": rows}, "features": statistics},
        {
            "version": 0.0,
            "features": constraints,
            "monitoring_config": {
                "evaluate_constraints": "Enabled",
                "emit_metrics": "Enabled",
                "datatype_check_threshold": 1.0,
                "domain_content_threshold": 1.0,
                "distribution_constraints": {
                    "perform_comparison": "Enabled",
                    "comparison_threshold": DRIFT_THRESHOLD,
                    "comparison_method": "Robust",
                },
            },
        },
    )


def sketch_weight(levels: list[list[float]]) -> int:
    """How many values a sketch stands for (each item at level h counts 2^h)."""
    return sum(len(items) * 2**height for height, items in enumerate(levels))


def sketch_quantile(levels: list[list[float]], q: float) -> float:
    """The q-quantile a sketch estimates; for tests and for reading a baseline by hand."""
    weighted = sorted((value, 2**height) for height, items in enumerate(levels) for value in items)
    target, seen = q * sum(w for _, w in weighted), 0
    for value, weight in weighted:
        seen += weight
        if seen >= target:
            return value
    return weighted[-1][0] if weighted else math.nan
