"""The demo's own behaviour around its phases: what --keep-running keeps after a failure, and which
earlier executions' files stay. (The phases themselves run in tests/integration/test_deploy_dev.py.)"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from local import demo
from tests.helpers.emulator import answers


def test_keep_running_keeps_the_emulator_up_after_a_failure_and_says_how_to_retry(monkeypatch, capsys, tmp_path):
    seen: dict[str, object] = {}

    def failing_run(emulator, **_):
        seen["port"] = emulator.port
        raise demo.DemoError("step Train (Training) failed: exit code 1: train channel is empty")

    real_sleep = time.sleep

    def sleep(seconds):
        if "port" not in seen or "up while waiting" in seen:  # the emulator's own start-up and shut-down waits
            return real_sleep(seconds)
        seen["up while waiting"] = answers(seen["port"])  # type: ignore[arg-type]
        raise KeyboardInterrupt  # the user's Ctrl-C, while the demo waits for it

    monkeypatch.setattr(demo, "run_demo", failing_run)
    monkeypatch.setattr(demo.time, "sleep", sleep)
    assert demo.main(["--keep-running", "--cdk-out", str(tmp_path / "cdk.out")]) == 130
    captured = capsys.readouterr()
    assert "demo failed: step Train (Training) failed: exit code 1: train channel is empty" in captured.err
    assert seen["up while waiting"] is True
    assert not answers(seen["port"])  # type: ignore[arg-type]  # Ctrl-C stopped it
    assert "the demo failed; the emulator is still running. Ctrl-C stops it." in captured.out
    assert f"python -m local.pipeline --env dev --endpoint-url http://localhost:{seen['port']}" in captured.out
    assert f"AWS_ENDPOINT_URL=http://localhost:{seen['port']}" in captured.out


def test_without_keep_running_a_failure_ends_the_demo_and_the_emulator(monkeypatch, capsys, tmp_path):
    seen: dict[str, int] = {}

    def failing_run(emulator, **_):
        seen["port"] = emulator.port
        raise demo.DemoError("the gate rejected the model")

    monkeypatch.setattr(demo, "run_demo", failing_run)
    assert demo.main(["--cdk-out", str(tmp_path / "cdk.out")]) == 1
    assert capsys.readouterr().err.strip() == "demo failed: the gate rejected the model"
    assert not answers(seen["port"])


def test_the_latest_executions_are_kept_and_older_ones_removed(tmp_path):
    root = tmp_path / "executions"
    for index in range(7):
        run = root / f"run{index}"
        (run / "Evaluate").mkdir(parents=True)
        (run / "Evaluate" / "evaluation.json").write_text("{}")
        os.utime(run, (time.time() - 100 + index, time.time() - 100 + index))
    removed = demo.keep_latest_executions(root, demo.KEPT_EXECUTIONS - 1)
    assert sorted(p.name for p in removed) == ["run0", "run1", "run2"]
    assert sorted(p.name for p in root.iterdir()) == ["run3", "run4", "run5", "run6"]
    assert demo.keep_latest_executions(tmp_path / "none", 4) == []


@pytest.mark.parametrize("keep", [0, 1])
def test_keeping_fewer_never_removes_files_outside_the_executions(tmp_path, keep):
    root = tmp_path / "executions"
    (root / "a").mkdir(parents=True)
    (root / "note.txt").write_text("not an execution")
    demo.keep_latest_executions(root, keep)
    assert (root / "note.txt").exists()
    assert Path(root / "a").exists() == (keep == 1)


def test_the_example_dataset_is_uploaded_only_under_the_examples_own_key(tmp_path):
    import naming
    from local.dataset import caravan_csv

    assert demo.dataset_for(naming.EXAMPLE_INPUT_KEY, None) == caravan_csv()
    with pytest.raises(demo.DemoError, match=r"^pipeline.input_data_key is 'churn/customers.csv', not the example's "
                       r"'direct-marketing/caravan.csv': give the CSV to upload there, e.g. make demo DATA=path/to/data.csv$"):
        demo.dataset_for("churn/customers.csv", None)


def test_a_users_csv_is_what_is_uploaded_and_a_missing_one_is_refused(tmp_path):
    mine = tmp_path / "customers.csv"
    mine.write_text("id,churned\n1,yes\n")
    assert demo.dataset_for("churn/customers.csv", mine) == mine
    with pytest.raises(demo.DemoError, match="DATA=.*nope.csv: no such file"):
        demo.dataset_for("churn/customers.csv", tmp_path / "nope.csv")


def test_a_missing_data_file_is_refused_before_anything_starts(capsys, tmp_path):
    assert demo.main(["--data", str(tmp_path / "nope.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("demo failed: DATA=") and err.endswith("nope.csv: no such file (allowed: a CSV file with a header row)")
