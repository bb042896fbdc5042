"""training_scripts/ under the SageMaker container contract, on the real dataset and on bad input.

The happy path runs the scripts on an /opt/ml-like tree: train.py as SageMaker starts it (a
subprocess with SM_* variables), the processing scripts' main() with their arguments; error
cases call main() in-process on tiny synthetic data.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from stacks.training.pipeline_definition import METRIC_DEFINITIONS
from tests.helpers.containers import CARAVAN, sm_env
from tests.helpers.paths import SCRIPTS

import baseline
import evaluate
import inference
import preprocess
import train

CARAVAN_ROWS = 5822


def run_script(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, script, *args], cwd=SCRIPTS, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def run_in_process(main, argv: list[str]) -> SimpleNamespace:
    """A script's main() with its printed output kept, as run_script keeps a process's."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(argv)
    return SimpleNamespace(stdout=out.getvalue())


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """preprocess -> train -> evaluate on the Caravan data, as the pipeline's steps run them."""
    root = tmp_path_factory.mktemp("opt-ml")
    raw = root / "processing" / "input" / "raw"
    raw.mkdir(parents=True)
    (raw / "caravan.csv").write_bytes(CARAVAN.read_bytes())
    splits = root / "processing" / "output"
    # Processing scripts take everything as arguments: in process (this module imports them anyway,
    # saving two interpreter starts; tests/integration/test_serving.py runs preprocess.py as a process).
    # train.py reads the SM_* contract from its environment: as SageMaker starts it, a process.
    prep = run_in_process(preprocess.main, ["--input-dir", str(raw), "--output-dir", str(splits)])
    trained = run_script("train.py", env=sm_env(root, splits / "train", splits / "validation",
                                                SM_CHANNEL_METADATA=str(splits / "metadata")))
    evaluation = root / "evaluation"
    evaluated = run_in_process(evaluate.main, [
        "--model-dir", str(root / "model"), "--validation-dir", str(splits / "validation"),
        "--test-dir", str(splits / "test"), "--output-dir", str(evaluation), "--bootstrap-samples", "30",
    ])
    return {"root": root, "raw": raw, "splits": splits, "prep": prep, "train": trained, "evaluate": evaluated,
            "evaluation": evaluation}


def read_rows(directory: Path) -> np.ndarray:
    return np.vstack([np.loadtxt(p, delimiter=",", ndmin=2) for p in sorted(directory.glob("*.csv"))])


# --- preprocess ----------------------------------------------------------------------------

def test_preprocess_writes_label_first_headerless_stratified_splits(pipeline_run):
    splits = pipeline_run["splits"]
    rows = {name: read_rows(splits / name) for name in ("train", "validation", "test")}
    assert sum(len(r) for r in rows.values()) == CARAVAN_ROWS
    assert [len(rows[n]) for n in ("train", "validation", "test")] == [4075, 873, 874]
    widths = {r.shape[1] for r in rows.values()}
    assert len(widths) == 1
    for split in rows.values():
        assert set(np.unique(split[:, 0])) == {0.0, 1.0}  # the label, first; no header row survives loadtxt
        assert not np.isnan(split).any()
        assert abs(split[:, 0].mean() - 348 / CARAVAN_ROWS) < 0.005  # stratified: ~6% responders everywhere
    meta = json.loads((splits / "metadata" / "features.json").read_text())
    assert len(meta["features"]) == widths.pop() - 1
    # Integer-coded customer types are one-hot encoded, not treated as magnitudes.
    assert "MOSTYPE=33" in meta["features"] and "MOSTYPE" not in meta["features"]
    assert meta["positives"]["train"] + meta["positives"]["validation"] + meta["positives"]["test"] == 348


def test_preprocess_writes_the_data_quality_baseline_of_the_raw_input_columns(pipeline_run):
    """Endpoints receive (and data capture records) the business's raw columns, so the baseline Model Monitor
    compares captures with is of those columns, in the dataset's order and by their own names, the names
    the record preprocessor written beside it gives captured rows (tests/unit/test_raw_rows.py)."""
    import pandas as pd

    splits = pipeline_run["splits"]
    spec = json.loads((splits / "metadata" / "features.json").read_text())
    columns = [c["name"] for c in spec["columns"]]
    raw = pd.read_csv(pipeline_run["raw"] / "caravan.csv")
    statistics = json.loads((splits / "baseline" / "statistics.json").read_text())
    constraints = json.loads((splits / "baseline" / "constraints.json").read_text())
    assert sorted(path.name for path in (splits / "baseline").iterdir()) == ["constraints.json", "record_preprocessor.py",
                                                                             "statistics.json"]
    assert [f["name"] for f in statistics["features"]] == columns and len(columns) == 85
    assert [f["name"] for f in constraints["features"]] == columns
    assert statistics["dataset"] == {"item_count": 4075}
    for index, feature in enumerate(statistics["features"]):
        numbers = feature["numerical_statistics"]
        assert numbers["common"] == {"num_present": 4075, "num_missing": 0}
        assert raw[columns[index]].min() <= numbers["min"] <= numbers["max"] <= raw[columns[index]].max()
        kll = numbers["distribution"]["kll"]
        assert sum(b["count"] for b in kll["buckets"]) == 4075
        assert baseline.sketch_weight(kll["sketch"]["data"]) == 4075
        assert all(len(level) <= baseline.SKETCH_K for level in kll["sketch"]["data"])
    mostype = statistics["features"][columns.index("MOSTYPE")]["numerical_statistics"]
    assert (mostype["min"], mostype["max"]) == (1, 41)  # the int-coded category itself, not its one-hot columns
    assert {f["inferred_type"] for f in constraints["features"]} <= {"Integral", "Fractional"}
    assert all(f["completeness"] == 1.0 and f["num_constraints"] == {"is_non_negative": True} for f in constraints["features"])
    assert constraints["monitoring_config"]["distribution_constraints"]["perform_comparison"] == "Enabled"


def test_text_columns_get_the_analyzers_string_statistics():
    levels = np.array(["yes", "no", None, "yes"], dtype=object)
    statistics, constraints = baseline.data_quality_baseline([np.array([1.0, 2.0, 3.0, np.nan]), levels], ["age", "channel"])
    text = statistics["features"][1]
    assert text["inferred_type"] == "String" and text["name"] == "channel"
    assert text["string_statistics"]["common"] == {"num_present": 3, "num_missing": 1}
    assert text["string_statistics"]["distribution"]["categorical"]["buckets"] == [{"value": "no", "count": 1.0},
                                                                                    {"value": "yes", "count": 2.0}]
    assert constraints["features"][1] == {"name": "channel", "inferred_type": "String", "completeness": 0.75,
                                          "string_constraints": {"domains": ["no", "yes"]}}


def test_baseline_sketch_estimates_quantiles_and_counts_missing_values():
    rng = np.random.default_rng(3)
    values = rng.normal(10, 2, size=20_000)
    levels = baseline.kll_sketch(values)
    assert baseline.sketch_weight(levels) == len(values) and all(len(level) <= baseline.SKETCH_K for level in levels)
    for q in (0.1, 0.5, 0.9):
        assert baseline.sketch_quantile(levels, q) == pytest.approx(np.quantile(values, q), abs=0.1)
    matrix = np.array([[1.0, -2.5], [np.nan, 0.5], [3.0, 1.5], [np.nan, np.nan]])
    statistics, constraints = baseline.data_quality_baseline(matrix, ["a", "b"])
    first, second = statistics["features"]
    assert first["inferred_type"] == "Integral" and second["inferred_type"] == "Fractional"
    assert first["numerical_statistics"]["common"] == {"num_present": 2, "num_missing": 2}
    assert [c["completeness"] for c in constraints["features"]] == [0.5, 0.75]
    assert [c["num_constraints"]["is_non_negative"] for c in constraints["features"]] == [True, False]
    assert baseline.data_quality_baseline(matrix, ["a", "b"]) == (statistics, constraints)  # deterministic
    with pytest.raises(ValueError, match="non-empty two-dimensional"):
        baseline.data_quality_baseline(np.empty((0, 3)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="one distinct name per column: 2 columns"):
        baseline.data_quality_baseline(matrix, ["a", "a"])


def test_preprocess_is_deterministic(pipeline_run, tmp_path):
    raw = pipeline_run["root"] / "processing" / "input" / "raw"
    preprocess.main(["--input-dir", str(raw), "--output-dir", str(tmp_path)])
    for name in ("train/train.csv", "validation/validation.csv", "test/test.csv", "metadata/features.json",
                 "baseline/statistics.json", "baseline/constraints.json", "baseline/record_preprocessor.py"):
        assert (tmp_path / name).read_bytes() == (pipeline_run["splits"] / name).read_bytes(), name


def test_preprocess_fills_missing_values_and_encodes_text_categories(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    lines = ["age,channel,income,responded"]
    for i in range(40):
        age = "" if i % 7 == 0 else str(20 + i)
        channel = "" if i % 9 == 0 else ("email", "phone", "post")[i % 3]
        lines.append(f"{age},{channel},{1000 + 10 * i},{'Yes' if i % 2 else 'No'}")
    (raw / "part.csv").write_text("\n".join(lines) + "\n")
    preprocess.main(["--input-dir", str(raw), "--output-dir", str(tmp_path / "out"), "--label-column", "responded",
                     "--categorical-columns", "", "--train-shards", "2"])
    meta = json.loads((tmp_path / "out" / "metadata" / "features.json").read_text())
    assert meta["features"][:2] == ["age", "income"]
    assert {"channel=email", "channel=phone", "channel=post", "channel=missing"} <= set(meta["features"])
    assert sorted(p.name for p in (tmp_path / "out" / "train").iterdir()) == ["part-00000.csv", "part-00001.csv"]
    train_rows = read_rows(tmp_path / "out" / "train")
    assert not np.isnan(train_rows).any()
    assert len(train_rows) == meta["rows"]["train"]


# --- train ---------------------------------------------------------------------------------

def test_train_writes_the_model_the_serving_code_loads(pipeline_run):
    model_dir = pipeline_run["root"] / "model"
    assert sorted(p.name for p in model_dir.iterdir()) == ["code", "metadata.json", "preprocessing.json", "xgboost-model.json"]
    assert (model_dir / "preprocessing.json").read_bytes() == (pipeline_run["splits"] / "metadata" / "features.json").read_bytes()
    assert (model_dir / "code" / "inference.py").read_bytes() == (SCRIPTS / "inference.py").read_bytes()
    # Every module beside it too: a team's inference.py may import one of its own folder's.
    assert sorted(p.name for p in (model_dir / "code").iterdir()) == sorted(p.name for p in SCRIPTS.glob("*.py"))
    meta = json.loads((model_dir / "metadata.json").read_text())
    assert meta["trained_on"] == {"device": "cpu", "hosts": 1}
    booster = inference.model_fn(str(model_dir)).booster
    # The saved model stops at the best round: serving never uses the rounds after it.
    assert booster.num_boosted_rounds() == meta["best_iteration"] + 1


def test_metric_definitions_capture_the_best_round(pipeline_run):
    stdout = pipeline_run["train"].stdout
    meta = json.loads((pipeline_run["root"] / "model" / "metadata.json").read_text())
    captured = {}
    for definition in METRIC_DEFINITIONS:
        values = re.findall(definition["Regex"], stdout)
        assert values, f"{definition['Name']} not printed"
        captured[definition["Name"]] = float(values[-1])  # tuning jobs use the last value
    assert captured["validation:auc"] == pytest.approx(meta["metrics"]["validation-auc"], abs=1e-6)
    per_round = re.findall(r"^\[\d+\]\t.*validation-auc:", stdout, flags=re.M)
    assert len(per_round) > meta["best_iteration"]  # every round reported, for the time series


def test_gpu_training_is_chosen_from_sm_num_gpus(monkeypatch):
    args = train.parse_args([])
    monkeypatch.setenv("SM_NUM_GPUS", "1")
    assert train.booster_params(args, train.sm_contract.num_gpus())["device"] == "cuda"
    monkeypatch.setenv("SM_NUM_GPUS", "0")
    assert train.booster_params(args, train.sm_contract.num_gpus())["device"] == "cpu"
    assert train.booster_params(args, 0)["tree_method"] == train.booster_params(args, 1)["tree_method"] == "hist"
    monkeypatch.setenv("SM_NUM_GPUS", "two")
    with pytest.raises(train.InputError, match="SM_NUM_GPUS is 'two'; expected a whole number of GPUs"):
        train.sm_contract.num_gpus()


def write_channel(directory: Path, rows: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data.csv").write_text("".join(f"{r}\n" for r in rows))
    return directory


def synthetic_rows(n: int, seed: int = 0, label=None) -> list[str]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int) if label is None else np.full(n, label)
    return [",".join([str(int(t)), *(f"{v:.5f}" for v in row)]) for t, row in zip(y, x, strict=True)]


def run_failing(main, argv, capsys, monkeypatch, tmp_path) -> str:
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))
    with pytest.raises(SystemExit) as exit_info:
        train.run_main(main, argv)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err  # one line, no traceback
    assert (tmp_path / "output" / "failure").read_text().strip() == err.removeprefix("error: ")
    assert (tmp_path / "output" / "message").read_text() == (tmp_path / "output" / "failure").read_text()
    return err


@pytest.mark.parametrize(
    "train_rows, expected",
    [
        ([], "train channel is empty: no CSV rows"),
        (synthetic_rows(30, label=1), "train channel: every one of 30 labels is 1; training needs both classes"),
        (["1,0.5,abc,0.1", "0,0.2,0.3,0.4"], "data.csv line 1 column 3 (feature 2) is 'abc', which is not numeric"),
        (["2,0.5,0.2,0.1", "0,0.2,0.3,0.4"], "label 2 is not 0 or 1"),
        (["1,0.5,0.2,0.1", "0,0.2,0.3"], "line 2 has 3 columns, expected 4"),
    ],
    ids=["empty-channel", "single-class", "non-numeric", "label-not-binary", "ragged"],
)
def test_train_rejects_bad_channels_with_one_line(train_rows, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(write_channel(tmp_path / "train", train_rows)))
    monkeypatch.setenv("SM_CHANNEL_VALIDATION", str(write_channel(tmp_path / "validation", synthetic_rows(20, 1))))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    assert expected in run_failing(train.main, ["--checkpoint_dir", str(tmp_path / "none")], capsys, monkeypatch, tmp_path)
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--eta", "0"], "eta is 0.0; expected 0 < eta <= 1"),
        (["--objective", "reg:squarederror"], "objective is 'reg:squarederror'; allowed: binary:logistic"),
        (["--eval_metric", "auc,rmse"], "eval_metric is 'auc,rmse'; allowed"),
    ],
)
def test_train_rejects_bad_hyperparameters(argv, expected, tmp_path, capsys, monkeypatch):
    assert expected in run_failing(train.main, argv, capsys, monkeypatch, tmp_path)


def test_an_argument_train_does_not_declare_is_the_jobs_failure_reason(tmp_path, capsys, monkeypatch):
    """An extra hyperparameter a team's train.py lacks: argparse exits 2 with its usage and one error line; that line
    is the failure file's (SageMaker's FailureReason), not the toolkit's generic exit code."""
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))
    with pytest.raises(SystemExit) as exit_info:
        train.run_main(train.main, ["--min_split_loss", "0.5"])
    assert exit_info.value.code == 2
    error_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert error_line.endswith("error: unrecognized arguments: --min_split_loss 0.5")
    assert (tmp_path / "output" / "failure").read_text() == error_line + "\n"
    assert (tmp_path / "output" / "message").read_text() == error_line + "\n"


def test_a_crash_in_the_folders_own_code_is_the_failure_reason_with_its_file_and_line(tmp_path):
    """A bug (a KeyError in a team's derive step, raised inside pandas): the processing job's ExitMessage and the
    training job's FailureReason say what and where in the job's own code, not the library's last frame; the full
    traceback still follows on stderr, and the exit code is Python's for an uncaught exception."""
    import shutil

    code = tmp_path / "code"
    shutil.copytree(SCRIPTS, code, ignore=shutil.ignore_patterns("__pycache__"))
    (code / "crash.py").write_text(
        "import pandas as pd\n\nimport sm_contract\n\n\ndef derive(table):\n    return table['total_charge'] / table['tenure']\n\n\n"
        "def main(_argv):\n    derive(pd.DataFrame({'total_charges': [1.0], 'tenure': [2]}))\n\n\n"
        "if __name__ == '__main__':\n    sm_contract.run_main(main)\n")
    done = subprocess.run([sys.executable, "crash.py"], cwd=code, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SM_OUTPUT_DIR": str(tmp_path / "output")})
    expected = "KeyError: 'total_charge' (crash.py line 7, in derive)"
    assert done.returncode == 1
    assert f"error: {expected}" in done.stderr and "Traceback (most recent call last)" in done.stderr
    assert (tmp_path / "output" / "failure").read_text() == expected + "\n"
    assert (tmp_path / "output" / "message").read_text() == expected + "\n"


@pytest.mark.parametrize("kind, expected", [
    # Run with the code folder as the working directory, as the training toolkit runs it: eval'd code is '<string>'.
    ("eval", "KeyError: 'total_charge' (crash.py line 4, in derive)"),
    ("blank-first-line", "ValueError: shapes (3,4) not aligned (crash.py line 6, in derive)"),
    ("outside", "TypeError: load() takes 1 positional argument but 2 were given"),  # not run_main's own line
])
def test_a_crash_summary_points_at_the_teams_code_only(tmp_path, kind, expected):
    import shutil

    code = tmp_path / "code"
    shutil.copytree(SCRIPTS, code, ignore=shutil.ignore_patterns("__pycache__"))
    (code / "crash.py").write_text(
        "import functools, json, sys\nimport sm_contract\ndef derive():\n    eval(\"{}['total_charge']\") if sys.argv[1] == 'eval' else None\n"
        "    if sys.argv[1] == 'blank-first-line':\n        raise ValueError('\\nshapes (3,4) not aligned')\n"
        "def main(_argv):\n    derive()\n"
        "if sys.argv[1] == 'outside':\n    sm_contract.run_main(functools.partial(json.load, open('/dev/null')))\n"
        "else:\n    sm_contract.run_main(main)\n")
    done = subprocess.run([sys.executable, "crash.py", kind], cwd=code, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SM_OUTPUT_DIR": str(tmp_path / "output")})
    assert done.returncode == 1, done.stderr
    assert (tmp_path / "output" / "failure").read_text() == expected + "\n"


def test_a_long_exception_text_is_cut_so_the_location_fits_what_sagemaker_keeps():
    from sm_contract import FAILURE_TEXT_CHARS, crash_summary

    try:
        raise KeyError("x" * 5000)
    except KeyError as error:
        summary = crash_summary(error)
    assert summary == f"KeyError: '{'x' * (FAILURE_TEXT_CHARS - 1)}..." and len(summary) < 1024


def test_a_clean_exit_writes_no_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))

    def main(_argv):
        print("working", file=sys.stderr)
        raise SystemExit(0)

    with pytest.raises(SystemExit):
        train.run_main(main, [])
    assert not (tmp_path / "output" / "failure").exists()


def test_train_resumes_from_a_spot_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(write_channel(tmp_path / "train", synthetic_rows(200))))
    monkeypatch.setenv("SM_CHANNEL_VALIDATION", str(write_channel(tmp_path / "validation", synthetic_rows(60, 1))))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    common = ["--early_stopping_rounds", "0", "--checkpoint_dir", str(checkpoints), "--checkpoint_interval", "5"]
    train.main(["--num_round", "12", *common])
    latest = train.latest_checkpoint(checkpoints)
    assert latest is not None and latest.stem == "xgboost-checkpoint_10"
    capsys.readouterr()
    # The job restarts (spot interruption) and asks for 12 rounds in all: it does only what is left.
    train.main(["--num_round", "12", *common])
    out = capsys.readouterr().out
    assert f"resuming from checkpoint {latest.name} after 11 rounds" in out
    assert len(re.findall(r"^\[\d+\]\t", out, flags=re.M)) == 1
    assert inference.model_fn(str(tmp_path / "model")).booster.num_boosted_rounds() == 12


# --- evaluate ------------------------------------------------------------------------------

def test_evaluation_report_has_the_model_quality_shape(pipeline_run):
    report = json.loads((pipeline_run["evaluation"] / "evaluation.json").read_text())
    metrics = report["binary_classification_metrics"]
    for name in ("auc", "accuracy", "precision", "recall", "f1", "log_loss"):
        assert 0 <= metrics[name]["value"] <= (1 if name != "log_loss" else 10), name
        assert metrics[name]["standard_deviation"] > 0, name
    assert metrics["auc"]["value"] > 0.7  # the real data: a useful, not a perfect, model
    matrix = metrics["confusion_matrix"]
    assert sum(matrix[a][b] for a in "01" for b in "01") == 874
    tp, fp, fn = matrix["1"]["1"], matrix["0"]["1"], matrix["1"]["0"]
    assert metrics["precision"]["value"] == pytest.approx(tp / (tp + fp))
    assert metrics["recall"]["value"] == pytest.approx(tp / (tp + fn))
    assert metrics["cutoff"]["rule"] == "max-f1" and 0 < metrics["cutoff"]["value"] < 1
    curve = metrics["receiver_operating_characteristic_curve"]
    assert len(curve["false_positive_rates"]) == len(curve["true_positive_rates"]) <= 101
    assert f"at cutoff {metrics['cutoff']['value']:.2f}" in pipeline_run["evaluate"].stdout


def test_evaluation_plots_are_pngs(pipeline_run):
    for name in ("roc.png", "precision_recall.png", "log_loss_vs_cutoff.png"):
        data = (pipeline_run["evaluation"] / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name


def test_min_log_loss_cutoff_is_the_tutorials_rule():
    """The log loss of 0/1 predictions is proportional to the error count: the rule picks the
    cutoff with the fewest misclassified rows (the first such cutoff), counted here by hand."""
    labels = np.array([0] * 90 + [1] * 10)
    scores = np.concatenate([np.linspace(0.0, 0.5, 90), np.linspace(0.3, 0.9, 10)])
    errors = [int(((scores > c) != labels).sum()) for c in evaluate.CUTOFFS]
    expected = float(evaluate.CUTOFFS[errors.index(min(errors))])
    assert evaluate.choose_cutoff("min-log-loss", labels, scores) == expected
    f1 = {float(c): 2 * ((scores > c) & (labels == 1)).sum() / ((scores > c).sum() + 10) for c in evaluate.CUTOFFS}
    assert evaluate.choose_cutoff("max-f1", labels, scores) == max(f1, key=lambda c: (f1[c], -c))


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--cutoff-rule", "youden"], "--cutoff-rule is 'youden'; allowed: max-f1, min-log-loss"),
        (["--model-dir", "/nonexistent"], "no model in /nonexistent: expected xgboost-model.json or model.tar.gz"),
    ],
)
def test_evaluate_rejects_bad_input(argv, expected, tmp_path, capsys, monkeypatch):
    assert expected in run_failing(evaluate.main, argv, capsys, monkeypatch, tmp_path)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--label-column", "Bought"], "--label-column: 'Bought' is not a column of the data (columns: MOSTYPE, "),
        (["--label-column", "Purchse"], "--label-column: 'Purchse' is not a column of the data; did you mean 'Purchase'?"),
        (["--label-column", "MOSTYPE"], "--label-column: column 'MOSTYPE' has 40 distinct values ('1', '10', "),
        (["--positive-label", "MM"], "--positive-label: 'MM' is not a value of column 'Purchase' (allowed: one of 'No', 'Yes')"),
        (["--categorical-columns", "NOPE"], "--categorical-columns: 'NOPE' is not a column of the data"),
        (["--categorical-columns", "Purchase"], "--categorical-columns: names the label column 'Purchase'"),
        (["--drop-columns", "Purchase"], "--drop-columns: names the label column 'Purchase'"),
        (["--drop-columns", "MOSTYPF", "--config-source", "team.yaml: pipeline.dataset"],
         "team.yaml: pipeline.dataset.drop_columns: 'MOSTYPF' is not a column of the data; did you mean 'MOSTYPE'?"),
        (["--train-shards", "5000"], "--train-shards is 5000 but the train split has 4075 rows"),
        (["--validation-fraction", "0.001", "--test-fraction", "0.001"], "cannot split 5822 rows stratified"),
        (["--validation-fraction", "0.5", "--test-fraction", "0.45"], "must each be between 0 and 1 and leave at least 10%"),
    ],
)
def test_preprocess_rejects_bad_input(argv, expected, pipeline_run, tmp_path, capsys, monkeypatch):
    raw = pipeline_run["root"] / "processing" / "input" / "raw"
    argv = ["--input-dir", str(raw), "--output-dir", str(tmp_path / "out"), *argv]
    assert expected in run_failing(preprocess.main, argv, capsys, monkeypatch, tmp_path)
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_evaluate_reads_the_training_jobs_model_archive(pipeline_run, tmp_path):
    """In the pipeline the model arrives as the training job's model.tar.gz."""
    model = tmp_path / "model"
    model.mkdir()
    with tarfile.open(model / "model.tar.gz", "w:gz") as archive:
        for path in (pipeline_run["root"] / "model").rglob("*"):
            archive.add(path, arcname=str(path.relative_to(pipeline_run["root"] / "model")))
    evaluate.main(["--model-dir", str(model), "--validation-dir", str(pipeline_run["splits"] / "validation"),
                   "--test-dir", str(pipeline_run["splits"] / "test"), "--output-dir", str(tmp_path / "out"),
                   "--bootstrap-samples", "0", "--hyperparameters-chosen-by", "5-fold CV: AUC 0.757 ± 0.016"])
    report = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    written = report["binary_classification_metrics"]
    expected = json.loads((pipeline_run["evaluation"] / "evaluation.json").read_text())["binary_classification_metrics"]
    assert written["auc"]["value"] == expected["auc"]["value"]
    assert "standard_deviation" not in written["auc"]  # no bootstrap asked for, none invented
    # The report says how the hyperparameters were chosen (the config's training.hyperparameters_chosen_by).
    assert report["hyperparameters"] == {"chosen_by": "5-fold CV: AUC 0.757 ± 0.016"}
    assert json.loads((pipeline_run["evaluation"] / "evaluation.json").read_text())["hyperparameters"] == {
        "chosen_by": "not stated in the model's config"}


def test_evaluate_rejects_an_archive_without_the_model_and_bad_labels(pipeline_run, tmp_path, capsys, monkeypatch):
    model = tmp_path / "model"
    model.mkdir()
    with tarfile.open(model / "model.tar.gz", "w:gz") as archive:
        archive.add(pipeline_run["root"] / "model" / "metadata.json", arcname="metadata.json")
    argv = ["--model-dir", str(model), "--validation-dir", str(pipeline_run["splits"] / "validation"),
            "--test-dir", str(pipeline_run["splits"] / "test")]
    assert "model.tar.gz in" in run_failing(evaluate.main, argv, capsys, monkeypatch, tmp_path)
    bad = write_channel(tmp_path / "bad-test", ["3," + ",".join(["0"] * 133)] * 3)
    argv = ["--model-dir", str(pipeline_run["root"] / "model"), "--validation-dir", str(pipeline_run["splits"] / "validation"),
            "--test-dir", str(bad)]
    assert "test split: label 3 is not 0 or 1" in run_failing(evaluate.main, argv, capsys, monkeypatch, tmp_path)


# --- inference -----------------------------------------------------------------------------

def test_inference_answers_csv_and_json(pipeline_run):
    booster = inference.model_fn(str(pipeline_run["root"] / "model"))
    features, _ = train.sm_contract.read_label_first_csv(pipeline_run["splits"] / "test", "test")
    body = "\n".join(",".join(f"{v:g}" for v in row) for row in features[:3])
    csv_out, csv_type = inference.output_fn(inference.predict_fn(inference.input_fn(body, "text/csv"), booster), "text/csv")
    json_body = json.dumps({"instances": features[:3].tolist()})
    json_out, json_type = inference.output_fn(
        inference.predict_fn(inference.input_fn(json_body, "application/json"), booster), "application/json"
    )
    assert (csv_type, json_type) == ("text/csv", "application/json")
    assert [float(v) for v in csv_out.split()] == pytest.approx(json.loads(json_out)["predictions"], abs=1e-6)


@pytest.mark.parametrize(
    "body, content_type, expected",
    [
        ("1,2,3", "text/csv", "rows have 3 values; this model takes the 85 input columns (MOSTYPE, MAANTHUI, "),
        ("a,b", "text/csv", "rows have 2 values; this model takes"),
        ("{not json", "application/json", "request body is not valid JSON"),
        ('{"rows": []}', "application/json", 'JSON body must be {"instances"'),
        ("", "text/csv", "request body is empty"),
        ("1,2", "application/x-parquet", "content type 'application/x-parquet' is not supported"),
    ],
)
def test_inference_rejects_malformed_requests(pipeline_run, body, content_type, expected):
    booster = inference.model_fn(str(pipeline_run["root"] / "model"))
    with pytest.raises(ValueError, match=re.escape(expected)):
        inference.predict_fn(inference.input_fn(body, content_type), booster)


def test_a_resumed_job_keeps_the_best_round_from_before_its_checkpoint(tmp_path, monkeypatch, capsys):
    """Spot training resumes from a checkpoint; early stopping then sees only the rounds after it. With
    noisy labels and a large step, validation log loss is best within the first rounds: the resumed job
    must save that round's model, not one past it."""
    rng = np.random.default_rng(3)

    def noisy(n: int) -> list[str]:
        x = rng.normal(size=(n, 3))
        y = ((x[:, 0] + rng.normal(scale=2.0, size=n)) > 0).astype(int)
        return [",".join([str(t), *(f"{v:.5f}" for v in row)]) for t, row in zip(y, x, strict=True)]

    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(write_channel(tmp_path / "train", noisy(300))))
    monkeypatch.setenv("SM_CHANNEL_VALIDATION", str(write_channel(tmp_path / "validation", noisy(300))))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    steep = ["--eta", "1", "--max_depth", "8", "--gamma", "0", "--min_child_weight", "0", "--subsample", "1",
             "--eval_metric", "logloss", "--checkpoint_dir", str(checkpoints), "--checkpoint_interval", "1"]
    # The first attempt trains 8 rounds without early stopping, then is interrupted.
    train.main(["--num_round", "8", "--early_stopping_rounds", "0", *steep])
    interrupted = xgb.Booster(model_file=str(train.latest_checkpoint(checkpoints)))
    dval = xgb.DMatrix(str(tmp_path / "validation" / "data.csv") + "?format=csv&label_column=0")
    losses = [float(interrupted[: i + 1].eval_set([(dval, "validation")]).split(":")[-1]) for i in range(8)]
    assert min(losses) < losses[-1], "the data must make the early rounds the best ones"
    capsys.readouterr()
    # The restarted job resumes after round 8 with early stopping on.
    train.main(["--num_round", "40", "--early_stopping_rounds", "3", *steep])
    assert "resuming from checkpoint" in capsys.readouterr().out
    saved = json.loads((tmp_path / "model" / "metadata.json").read_text())
    assert saved["best_iteration"] == losses.index(min(losses))
    assert inference.model_fn(str(tmp_path / "model")).booster.num_boosted_rounds() == saved["best_iteration"] + 1


def test_dropped_columns_are_not_features_and_imputed_values_are_counted(pipeline_run, tmp_path, capsys):
    """Identifiers and leakage are dropped before encoding; each column's imputed values are reported per split."""
    raw = pipeline_run["raw"]
    table = preprocess.pd.read_csv(next(raw.glob("*.csv")))
    table.loc[table.index[:30], "MAANTHUI"] = None  # 30 missing values in one numeric column
    source = tmp_path / "raw"
    source.mkdir()
    table.to_csv(source / "data.csv", index=False)
    out = tmp_path / "out"
    preprocess.main(["--input-dir", str(source), "--output-dir", str(out), "--drop-columns", "MGEMOMV,MGEMLEEF"])
    metadata = json.loads((out / "metadata" / "features.json").read_text())
    assert metadata["dropped_columns"] == ["MGEMOMV", "MGEMLEEF"]
    assert not any(name.split("=")[0] in ("MGEMOMV", "MGEMLEEF") for name in metadata["features"])
    counts = metadata["imputed"]["MAANTHUI"]
    assert sum(counts.values()) == 30 and set(counts) == {"train", "validation", "test"}
    assert f"imputed MAANTHUI: {counts['train']} train, {counts['validation']} validation, {counts['test']} test rows" \
        in capsys.readouterr().out


def team_csv(header: str = "churn,plan,tenure,notes", notes=lambda i: f"call {i % 3}") -> str:
    """A team's churn file: 200 rows, a yes/no label, a text level, a number and a free-text column."""
    rows = [f"{'yes' if i % 4 == 0 else 'no'},{'basic' if i % 3 else 'premium'},{i % 48},{notes(i)}" for i in range(200)]
    return header + "\n" + "\n".join(rows) + "\n"


def run_preprocess(tmp_path, text: str, *argv: str, encoding: str = "utf-8") -> Path:
    raw = tmp_path / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "customers.csv").write_text(text, encoding=encoding)
    preprocess.main(["--input-dir", str(raw), "--output-dir", str(tmp_path / "out"), "--label-column", "churn",
                     "--positive-label", "yes", "--categorical-columns", "", *argv])
    return tmp_path / "out"


def test_preprocess_reads_a_header_as_the_config_loader_does(tmp_path):
    """Excel's "CSV UTF-8" starts with a byte-order mark, and exports may pad names with spaces: the config loader
    (config/dataset.py's read_header) and preprocess.py must read the same names, or a label_column that passes
    synth fails in the pipeline (pandas' skipinitialspace strips only spaces before a name)."""
    from config.dataset import read_header

    text = "\n" + team_csv('churn , "plan",tenure ,notes')  # a blank line first, a quoted name after a space
    out = run_preprocess(tmp_path, text, encoding="utf-8-sig")
    assert (tmp_path / "raw" / "customers.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert read_header(tmp_path / "raw" / "customers.csv") == ["churn", "plan", "tenure", "notes"]
    spec = json.loads((out / "metadata" / "features.json").read_text())
    assert [c["name"] for c in spec["columns"]] == ["plan", "tenure", "notes"]


@pytest.mark.parametrize(("header", "expected"), [
    ("churn,plan,tenure,plan", "raw input: customers.csv: column 'plan' is named twice (allowed: each column named once"),
    ("churn;plan;tenure;notes", "raw input: customers.csv: its columns are separated by ';', not commas"),
    ("churn,plan,,notes", "raw input: customers.csv: column 3 has no name (allowed: a name for every column"),
])
def test_preprocess_refuses_a_header_pandas_would_misread(tmp_path, capsys, monkeypatch, header, expected):
    """pandas reads a repeated name as '<name>.1' without a word, which neither drop_columns nor the endpoint's
    requests can name; a ';' file reads as one column. Both are the config loader's refusals too."""
    from config.dataset import read_header

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "customers.csv").write_text(team_csv(header).replace(",", ";") if ";" in header else team_csv(header))
    argv = ["--input-dir", str(raw), "--output-dir", str(tmp_path / "out"), "--label-column", "churn", "--positive-label", "yes",
            "--categorical-columns", ""]
    assert expected in run_failing(preprocess.main, argv, capsys, monkeypatch, tmp_path)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError) as refused:
        read_header(raw / "customers.csv")
    assert str(refused.value).startswith(expected.removeprefix("raw input: "))  # synth says it first, in the same words


def test_preprocess_refuses_a_value_with_a_line_break_before_anything_is_trained(tmp_path, capsys, monkeypatch):
    """Batch transform splits its input on line breaks (SplitType Line, API_TransformInput: "on a newline character
    boundary"), and raw-test carries the input columns: a quoted value with a line break trained and registered,
    then broke the BatchTransform step. Refused first, naming the column and row; quoted commas stay fine."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "customers.csv").write_text(team_csv(notes=lambda i: '"line one\nline two"' if i == 7 else f'"called, {i % 3}"'))
    argv = ["--input-dir", str(raw), "--output-dir", str(tmp_path / "out"), "--label-column", "churn", "--positive-label", "yes",
            "--categorical-columns", ""]
    assert ("column 'notes' has a value with a line break (data row 8): batch transform reads one record a line"
            in run_failing(preprocess.main, argv, capsys, monkeypatch, tmp_path))
    assert not (tmp_path / "out").exists()
    out = run_preprocess(tmp_path / "fine", team_csv(notes=lambda i: f'"called, {i % 3}"'))
    assert "called, 1" in json.loads((out / "metadata" / "features.json").read_text())["categories"]["notes"]


def test_preprocess_refuses_two_features_of_the_same_name(tmp_path, capsys, monkeypatch):
    """Features are named '<column>=<level>'; a column 'plan' with level 'a=b' and a column 'plan=a' with level 'b'
    would both be 'plan=a=b', and the server finds features by name."""
    raw = tmp_path / "raw"
    raw.mkdir()
    rows = [f"{'yes' if i % 4 == 0 else 'no'},{'a=b' if i % 2 else 'c'},{'b' if i % 3 else 'd'}" for i in range(200)]
    (raw / "customers.csv").write_text("churn,plan,plan=a\n" + "\n".join(rows) + "\n")
    argv = ["--input-dir", str(raw), "--output-dir", str(tmp_path / "out"), "--label-column", "churn", "--positive-label", "yes",
            "--categorical-columns", ""]
    assert ("feature 'plan=a=b' would come from both level 'a=b' of column 'plan' and level 'b' of column 'plan=a'"
            in run_failing(preprocess.main, argv, capsys, monkeypatch, tmp_path))
    assert not (tmp_path / "out").exists()


def test_preprocess_refuses_to_drop_every_input_column_in_one_line(tmp_path, capsys, monkeypatch):
    """Synth checks this against a local data file; a data_file in S3 is first read here."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "customers.csv").write_text("id,plan,churn\n" + "".join(f"{i},{'a' if i % 2 else 'b'},{'yes' if i % 4 == 0 else 'no'}\n"
                                                                   for i in range(200)))
    argv = ["--input-dir", str(raw), "--output-dir", str(tmp_path / "out"), "--label-column", "churn", "--positive-label", "yes",
            "--categorical-columns", "", "--drop-columns", "id,plan"]
    assert run_failing(preprocess.main, argv, capsys, monkeypatch, tmp_path) == (
        "error: --drop-columns: drops every column but the label 'churn' (allowed: at least one input column left to train on)")
    assert not (tmp_path / "out").exists()


LABEL_CASES = {  # label cells (200 rows, cycled), positive_label
    "yes/no": (["yes", "no", "no", "no"], "yes"),
    "yes/no, spaces": ([" yes", "no ", "no", "no"], "yes"),
    "1/0": (["1", "0", "0", "0"], "1"),
    "1.0/0.0, positive 1.0": (["1.0", "0.0", "0.0", "0.0"], "1.0"),
    "1.0/0.0, positive 1": (["1.0", "0.0", "0.0", "0.0"], "1"),
    "1/0.0 mixed": (["1", "0.0", "0", "0"], "1.0"),
    "True/False": (["True", "False", "False", "False"], "True"),
    "true/FALSE, positive true": (["true", "FALSE", "false", "False"], "true"),
    "true/false, positive TRUE": (["true", "false", "false", "false"], "TRUE"),
    "1/0, positive 1.0": (["1", "0", "0", "0"], "1.0"),
    "three classes": (["a", "b", "c", "c"], "a"),
    "Yes/yes/no": (["Yes", "yes", "no", "no"], "yes"),
    "missing empty": (["yes", "no", "", "no"], "yes"),
    "missing NA": (["yes", "no", "NA", "no"], "yes"),
    "NAN in numbers": (["1", "0", "NAN", "0"], "1"),
    "positive absent": (["yes", "no", "no", "no"], "Y"),
    "one value": (["no", "no", "no", "no"], "no"),
}


@pytest.mark.parametrize("case", LABEL_CASES)
def test_the_synth_label_check_refuses_only_what_preprocess_refuses(case, tmp_path):
    """config/dataset.py reads the label at synth without pandas, so that a 3-class or unlabelled file is refused
    before a deploy, not in Preprocess after it. Held to preprocess.py's own reading (pandas): the two agree, so a
    config synth accepts never fails Preprocess on its label (a file's true/false read as booleans, 1 as 1.0)."""
    from config.dataset import label_problems

    cells, positive = LABEL_CASES[case]
    path = tmp_path / "data.csv"
    path.write_text("x,label\n" + "".join(f"{i},{cells[i % len(cells)]}\n" for i in range(200)))
    synth = label_problems(path, "label", positive)
    try:
        labels = preprocess.binary_labels(pd.read_csv(path, skipinitialspace=True), "label", positive)
        refused_by_preprocess = False
    except preprocess.InputError:
        refused_by_preprocess = True
    assert bool(synth) == refused_by_preprocess, synth
    if not refused_by_preprocess:  # the rows whose cell is the positive label's value, as the file spells it
        assert labels.tolist() == [int(cells[i % len(cells)].strip() == cells[0].strip()) for i in range(200)]
    if case in ("three classes", "Yes/yes/no", "missing empty", "missing NA", "positive absent"):
        assert synth and all("\n" not in line for line in synth), case  # these are caught at synth, one line each


def test_the_synth_label_check_knows_pandas_na_spellings():
    from pandas._libs.parsers import STR_NA_VALUES

    from config.dataset import PANDAS_NA

    assert PANDAS_NA == STR_NA_VALUES


def test_preprocess_warns_of_an_identifier_like_column_and_of_numbers_made_text_by_a_few_cells(tmp_path, capsys):
    """Legal but likely a mistake, so trained and said: a column with about a level a row (an ID, a date: a helper's
    team got 5,320 one-hot features from 2,100 rows), and a numeric column pandas read as text because of a few '?'
    cells. Each is a 'warning: ' line in the job's log, which the local runner shows under the step, and is kept in
    features.json; a clean file has none."""
    rows = [f"{'yes' if i % 4 == 0 else 'no'},C{i:05d},{'?' if i % 50 == 0 else i % 48},{'basic' if i % 3 else 'premium'}"
            for i in range(400)]
    out = run_preprocess(tmp_path, "churn,customer_id,tenure,plan\n" + "\n".join(rows) + "\n")
    printed = [line.removeprefix("warning: ") for line in capsys.readouterr().out.splitlines() if line.startswith("warning: ")]
    spec = json.loads((out / "metadata" / "features.json").read_text())
    assert spec["warnings"] == printed and len(printed) == 2
    assert printed[0].startswith("column 'customer_id' has 280 levels in 280 training rows, one feature each: an identifier")
    assert printed[1].startswith("column 'tenure' is numbers but for ") and "('?')" in printed[1]
    clean = run_preprocess(tmp_path / "clean", team_csv())
    assert json.loads((clean / "metadata" / "features.json").read_text())["warnings"] == []


def test_preprocess_warns_of_a_dot_in_a_column_name_which_model_monitors_analyzer_may_misread(tmp_path, capsys):
    """Model Monitor's analyzer is built on Deequ, whose open issue awslabs/deequ#274 is a column name with a dot read
    as a nested field ("syntax error in attribute name"); Model Monitor is not emulated here, so it is a warning."""
    rows = [f"{'yes' if i % 4 == 0 else 'no'},{i % 48},{'basic' if i % 3 else 'premium'}" for i in range(400)]
    out = run_preprocess(tmp_path, "churn,monthly.charge,plan\n" + "\n".join(rows) + "\n")
    printed = [line.removeprefix("warning: ") for line in capsys.readouterr().out.splitlines() if line.startswith("warning: ")]
    assert printed == ["column 'monthly.charge' has a dot in its name, which Model Monitor's analyzer (Deequ, on Spark) may "
                       "read as a nested field (awslabs/deequ#274): rename it in the CSV if this model's endpoint is monitored"]
    assert json.loads((out / "metadata" / "features.json").read_text())["warnings"] == printed


def test_the_local_runner_shows_a_processing_steps_warnings(tmp_path):
    """local/jobs/processing.py returns the script's 'warning: ' lines; the pipeline runner prints them under the
    step's ok line (its detail)."""
    from local.jobs import processing_job

    # sh, not sys.executable: the container maps absolute paths under /tmp (a clone there) into its own root.
    script = "echo preprocessed; echo 'warning: column x looks like an identifier'; echo 'warnings: not one'"
    request = {"AppSpecification": {"ContainerEntrypoint": ["sh", "-c", script]}}
    assert processing_job(None, request, tmp_path) == ["column x looks like an identifier"]


def test_a_datasets_own_missing_spelling_is_missing_in_training_at_the_endpoint_and_in_the_monitor(tmp_path, capsys):
    """dataset.missing_values (UCI files spell missing '?'): pandas reads those cells as missing in training
    (read_csv na_values, besides its own spellings), so a numeric column with them stays numeric and takes its
    median; the endpoint reads them so too, in CSV and JSON, numeric and categorical; the monitor's record
    preprocessor as well. Each cell's encoding is held to preprocess.py's own encoder on the same rows."""
    rows = [f"{'yes' if i % 4 == 0 else 'no'},{'?' if i % 9 == 0 else ('basic' if i % 3 else 'premium')},"
            f"{'?' if i % 13 == 0 else i % 48}" for i in range(300)]
    text = "churn,plan,tenure\n" + "\n".join(rows) + "\n"
    out = run_preprocess(tmp_path, text, "--missing-values", '["?"]')
    spec = json.loads((out / "metadata" / "features.json").read_text())
    assert spec["missing_values"] == ["?"] and spec["warnings"] == []
    assert {c["name"]: c["kind"] for c in spec["columns"]} == {"plan": "categorical", "tenure": "numeric"}
    assert "plan=?" not in spec["features"] and "plan=missing" in spec["features"]
    # Without the setting the same file keeps '?' as text: tenure becomes categories, with a warning that says so.
    plain = run_preprocess(tmp_path / "plain", text)
    warned = json.loads((plain / "metadata" / "features.json").read_text())["warnings"]
    assert any("column 'tenure' is numbers but for" in w and "dataset.missing_values" in w for w in warned)

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / inference.PREPROCESSING_FILE).write_text(json.dumps(spec))
    x = np.random.default_rng(0).random((50, len(spec["features"])))
    xgb.train({"objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(x, label=x[:, 0] > 0.5), 3).save_model(
        str(model_dir / inference.MODEL_FILE))
    model = inference.model_fn(str(model_dir))
    requests = "plan,tenure\n?,?\n basic, ?\npremium,12\n"
    frame = pd.read_csv(io.StringIO(requests), skipinitialspace=True, na_values=["?"])
    train = pd.read_csv(io.StringIO(text), skipinitialspace=True, na_values=["?"]).drop(columns=["churn"])
    encoder = preprocess.FeatureEncoder(train, [])  # kinds as preprocess found them; its fitted values below
    encoder.medians, encoder.categories = spec["medians"], spec["categories"]
    expected = encoder.transform(frame)[spec["features"]].to_numpy(dtype=np.float32)
    served = inference.features(inference.parse(requests.encode(), "text/csv"), model)
    np.testing.assert_array_equal(served, expected)
    records = [{"plan": "?", "tenure": "?"}, {"plan": " basic", "tenure": " ?"}, {"plan": "premium", "tenure": 12}]
    np.testing.assert_array_equal(inference.features(inference.parse(json.dumps(records).encode(), "application/json"), model),
                                  expected)
    # The monitor's copy reads them as missing too.
    spec_module = importlib.util.spec_from_file_location("rp_missing", out / "baseline" / "record_preprocessor.py")
    assert spec_module and spec_module.loader
    module = importlib.util.module_from_spec(spec_module)
    spec_module.loader.exec_module(module)
    record = SimpleNamespace(endpoint_input=SimpleNamespace(data=requests, encoding="CSV", observedContentType="text/csv"))
    assert module.preprocess_handler(record)[:2] == [{"plan": None, "tenure": None}, {"plan": "basic", "tenure": None}]


def test_the_synth_label_check_reads_the_datasets_own_missing_spelling_as_missing(tmp_path):
    from config.dataset import label_problems

    path = tmp_path / "data.csv"
    path.write_text("x,label\n" + "".join(f"{i},{['yes', 'no', '?', 'no'][i % 4]}\n" for i in range(200)))
    assert label_problems(path, "label", "yes")[0].startswith("label_column: 'label' has 3 distinct values")
    assert label_problems(path, "label", "yes", ["?"]) == [
        "label_column: 'label' is missing in 50 rows of data.csv (allowed: a label in every row; drop the unlabelled rows)"]
    with pytest.raises(preprocess.InputError, match="is missing in 50 rows"):  # as Preprocess reads it
        preprocess.binary_labels(pd.read_csv(path, skipinitialspace=True, na_values=["?"]), "label", "yes")


def test_too_few_rows_of_a_label_value_fail_at_synth_as_preprocess_would_fail(tmp_path):
    """The Preprocess job's stratified split needs MIN_ROWS_PER_CLASS of each value: synth says so first, naming the value."""
    from config.dataset import MIN_ROWS_PER_CLASS, label_problems

    assert MIN_ROWS_PER_CLASS == preprocess.MIN_ROWS_PER_CLASS  # the container's script cannot import config/
    path = tmp_path / "churn.csv"
    for positives, refused in [(MIN_ROWS_PER_CLASS - 1, True), (MIN_ROWS_PER_CLASS, False)]:
        path.write_text("x,churned\n" + "".join(f"{i},{'yes' if i < positives else 'no'}\n" for i in range(200)))
        problems = label_problems(path, "churned", "yes")
        assert problems == ([f"label_column: 'churned' is 'yes' in only {positives} rows of churn.csv (allowed: at least "
                             f"{MIN_ROWS_PER_CLASS} rows of each value, which the Preprocess job's stratified split needs)"]
                            if refused else [])
        table = pd.read_csv(path, skipinitialspace=True)
        if refused:
            with pytest.raises(preprocess.InputError, match=f"models.churn.dataset.label_column: column 'churned' has only {positives} rows"):
                preprocess.binary_labels(table, "churned", "yes", "models.churn.dataset")
        else:
            assert preprocess.binary_labels(table, "churned", "yes").sum() == positives


def test_a_data_file_that_is_not_utf8_past_its_header_is_one_line_naming_the_file(tmp_path):
    from config.dataset import label_problems

    path = tmp_path / "latin1.csv"
    path.write_bytes(b"x,churned\n" + b"".join(f"{i},{'yes' if i % 2 else 'no'}\n".encode() for i in range(3000))
                     + "9,s\u00e3o\n".encode("latin-1"))
    (problem,) = label_problems(path, "churned", "yes")
    assert problem.startswith("data_file: cannot read latin1.csv as a UTF-8 CSV (") and "\n" not in problem
    assert problem.endswith("allowed: a UTF-8 file, so export it again as UTF-8 CSV)")


def vermin_minimum(path: Path) -> str:
    """The lowest Python 3 that ``path`` runs on, as vermin (PyPI, pinned in requirements-dev.txt) finds from the syntax,
    modules, functions and arguments it uses."""
    done = subprocess.run([str(Path(sys.executable).with_name("vermin")), "--no-tips", "--no-parse-comments", "-t=3.0-", "--violations", str(path)],
                          capture_output=True, text=True, timeout=120)
    found = re.search(r"Minimum required versions: (?:[~!]?2(?:\.\d+)?, )?~?(3(?:\.\d+)?)", done.stdout)
    assert found, done.stdout + done.stderr
    return found[1]


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.py")))
def test_every_container_script_runs_on_the_python_of_its_container(script):
    """Every script runs in the XGBoost 3.0-5 image, Python 3.10 (aws/sagemaker-xgboost-container,
    docker/3.0-5/base/Dockerfile.cpu: PYTHON_VERSION=3.10); the record preprocessor in Model Monitor's analyzer, whose
    Python AWS does not document ("Amazon SageMaker Model Monitor prebuilt container": Spark 3.3.0, Deequ 2.0.2), so it
    keeps to 3.7. vermin reports the lowest version each needs; str.removeprefix on a variable escapes it, so the
    preprocessor is also held to not calling it."""
    needed = tuple(int(part) for part in vermin_minimum(SCRIPTS / script).split("."))
    assert needed <= ((3, 7) if script == "record_preprocessor.py" else (3, 10)), (script, needed)
    if script == "record_preprocessor.py":
        assert ".removeprefix(" not in (SCRIPTS / script).read_text() and ".removesuffix(" not in (SCRIPTS / script).read_text()
