"""Data-quality baseline for SageMaker Model Monitor, computed from the training features.

Model Monitor's analyzer compares each hour of captured requests with two files:
statistics.json (per feature: counts, mean, sum, std_dev, min, max and a KLL quantile sketch
with 10 histogram buckets) and constraints.json (per feature: type, completeness,
non-negativity; plus the monitoring settings). This writes both in the analyzer's format for
the columns a request carries: the raw input columns (what clients send and data capture
records), named as the business names them. The analyzer reads captured requests through the
record preprocessor preprocess.py writes beside these files (record_preprocessor.py), which
keys every captured row by the same names, so a drift report names the business's columns.
preprocess.py calls it on the training split; the pipeline registers the files with the model version
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


def string_column(name: str, values: np.ndarray, rows: int) -> tuple[dict, dict]:
    """A text column (None is missing): the analyzer's String statistics and the levels as its domain."""
    present = [str(v) for v in values if v is not None]
    levels, counts = np.unique(np.array(present, dtype=object), return_counts=True) if present else (np.array([]), np.array([]))
    statistics = {"name": name, "inferred_type": "String", "string_statistics": {
        "common": {"num_present": len(present), "num_missing": rows - len(present)},
        "distinct_count": float(len(levels)),
        "distribution": {"categorical": {"buckets": [{"value": str(v), "count": float(c)} for v, c in zip(levels, counts, strict=True)]}},
    }}
    constraint = {"name": name, "inferred_type": "String", "completeness": len(present) / rows,
                  "string_constraints": {"domains": [str(v) for v in levels]}}
    return statistics, constraint


def data_quality_baseline(features: np.ndarray | list[np.ndarray], names: list[str]) -> tuple[dict, dict]:
    """(statistics, constraints) for a rows x columns matrix, or a list of columns in request order, with
    each column's name: a float column (NaN is missing) gets numerical statistics, an object column of
    text (None is missing) String statistics, as the analyzer infers them from captured rows."""
    columns: list[np.ndarray] = ([features[:, i] for i in range(features.shape[1])]
                                 if isinstance(features, np.ndarray) and features.ndim == 2 else list(features))
    if not len(columns) or not len(columns[0]):
        raise ValueError("a baseline needs a non-empty two-dimensional feature matrix")
    if len(names) != len(columns) or len(set(names)) != len(names):
        raise ValueError(f"a baseline needs one distinct name per column: {len(columns)} columns, names {names}")
    rows = len(columns[0])
    statistics, constraints = [], []
    for name, column in zip(names, columns, strict=True):
        if column.dtype == object:
            feature, constraint = string_column(name, column, rows)
            statistics.append(feature)
            constraints.append(constraint)
            continue
        present = column[~np.isnan(column)]
        integral = bool(present.size) and bool(np.all(np.floor(present) == present))
        kind = "Integral" if integral else "Fractional"
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
