"""The demo's own behaviour around its phases: what --keep-running keeps after a failure, and which
earlier executions' files stay. (The phases themselves run in tests/integration/test_deploy_dev.py.)"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from config import ConfigError, load_environment
from local import demo
from local.emulator.endpoints import MAX_SERVERLESS_BODY
from tests.helpers.configs import EXAMPLE, example, like_example, shipped, write_config
from tests.helpers.emulator import answers
from tests.helpers.paths import CONFIG_DIR


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
    # --no-tracking: about the emulator's life, not MLflow's (which `make unit` does not install)
    assert demo.main(["--keep-running", "--no-tracking", "--cdk-out", str(tmp_path / "cdk.out"), "--config-dir", str(CONFIG_DIR)]) == 130
    captured = capsys.readouterr()
    assert "demo failed: step Train (Training) failed: exit code 1: train channel is empty" in captured.err
    assert seen["up while waiting"] is True
    assert not answers(seen["port"])  # type: ignore[arg-type]  # Ctrl-C stopped it
    assert "the demo failed; the emulator is still running. Ctrl-C stops it." in captured.out
    first = next(iter(load_environment(CONFIG_DIR / "dev.yaml").models))
    assert f"python -m local.pipeline --env dev --model {first} --endpoint-url http://localhost:{seen['port']}" in captured.out
    assert f"AWS_ENDPOINT_URL=http://localhost:{seen['port']}" in captured.out
    assert "  source .venv/bin/activate   # in another shell" in captured.out  # not the system's python and node
    # The CDK commands name the demo's copy of the config, which names the versions its endpoints serve: the app
    # from config/ has no endpoints, and destroying that one left them running.
    cdk = [line.strip() for line in captured.out.splitlines() if line.strip().startswith("node_modules/.bin/cdk")]
    assert [line.split()[1] for line in cdk] == ["deploy", "destroy"]
    assert all("--context config_dir=.demo/config " in line for line in cdk), cdk


def test_without_keep_running_a_failure_ends_the_demo_and_the_emulator(monkeypatch, capsys, tmp_path):
    seen: dict[str, int] = {}

    def failing_run(emulator, **_):
        seen["port"] = emulator.port
        raise demo.DemoError("the gate rejected the model")

    monkeypatch.setattr(demo, "run_demo", failing_run)
    assert demo.main(["--no-tracking", "--cdk-out", str(tmp_path / "cdk.out"), "--config-dir", str(CONFIG_DIR)]) == 1
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


def catalog(tmp_path, **models):
    """dev's config with these models beside the example (each a change of the example's block)."""
    data = shipped("dev")
    for name, changes in models.items():
        data["models"][name] = like_example(data, **changes)
    return load_environment(write_config(tmp_path, data))


def test_each_model_trains_on_its_own_data_file_and_data_in_s3_needs_a_local_copy(tmp_path):
    from local.dataset import caravan_csv

    env = catalog(tmp_path, churn={"dataset": {**example(shipped("dev"))["dataset"], "data_file": "s3://team-data/churn.csv"}})
    assert demo.dataset_for(env.models[EXAMPLE], None, env.source_file) == caravan_csv()
    with pytest.raises(demo.DemoError, match=r"^models.churn.dataset.data_file in .*dev.yaml is s3://team-data/churn.csv, which "
                       r"the emulator cannot read: give a local copy, e.g. make demo MODEL=churn DATA=path/to/data.csv$"):
        demo.dataset_for(env.models["churn"], None, env.source_file)


def test_a_users_csv_is_what_is_uploaded_and_a_missing_one_is_refused(tmp_path):
    env = load_environment(CONFIG_DIR / "dev.yaml")
    mine = tmp_path / "customers.csv"
    mine.write_text("id,churned\n1,yes\n")
    assert demo.dataset_for(env.models[EXAMPLE], mine, env.source_file) == mine
    with pytest.raises(demo.DemoError, match="DATA=.*nope.csv: no such file"):
        demo.dataset_for(env.models[EXAMPLE], tmp_path / "nope.csv", env.source_file)


def test_the_demo_runs_every_model_or_the_one_named(tmp_path):
    env = catalog(tmp_path, churn={})
    assert [m.name for m in demo.models_to_run(env, None, None)] == [*shipped("dev")["models"], "churn"]
    assert [m.name for m in demo.models_to_run(env, "churn", None)] == ["churn"]
    names = ", ".join(env.models)
    with pytest.raises(demo.DemoError, match=rf"^MODEL=nope: no model 'nope' in .*dev.yaml \(allowed: {names}\)$"):
        demo.models_to_run(env, "nope", None)
    # A CSV of one's own is for one model: which one must be said.
    with pytest.raises(demo.DemoError, match=rf"^DATA=x.csv needs MODEL=<name>: .*dev.yaml has {len(env.models)} models \({names}\)$"):
        demo.models_to_run(env, None, Path("x.csv"))
    empty = shipped("dev")
    empty["models"] = {}
    empty.pop("studio")  # its teams name models
    with pytest.raises(demo.DemoError, match="declares no models"):
        demo.models_to_run(load_environment(write_config(tmp_path, empty)), None, None)


def test_an_unknown_model_is_refused_before_anything_starts(capsys):
    assert demo.main(["--model", "nope", "--config-dir", str(CONFIG_DIR)]) == 1
    assert capsys.readouterr().err.strip() == ("demo failed: MODEL=nope: no model 'nope' in tests/fixtures/config/dev.yaml "
                                               f"(allowed: {', '.join(load_environment(CONFIG_DIR / 'dev.yaml').models)})")


def test_without_a_dev_environment_the_demo_says_what_to_do_before_anything_starts(capsys, tmp_path):
    """A team that renamed its environments (dev.yaml gone) gets one line naming theirs, not a file error."""
    for name in ("development", "productioneu"):
        (tmp_path / f"{name}.yaml").write_text((CONFIG_DIR / "dev.yaml").read_text())
    assert demo.main(["--config-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"demo failed: {tmp_path}/dev.yaml: no such file; the demo deploys the dev environment to the emulator "
        "(environments here: development, productioneu; copy the one to try into dev.yaml)")


def test_a_real_account_in_dev_is_the_emulators_in_the_demos_copy(tmp_path):
    """docs/deploying.md has users put their own account id in dev.yaml; the emulator bootstraps its own account only,
    so the demo's copy deploys there (the user's file keeps theirs)."""
    import shutil

    from local.emulator import ACCOUNT

    source = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, source)
    real = (source / "dev.yaml").read_text().replace(f'account: "{ACCOUNT}"', 'account: "410927553310"')
    assert real != (source / "dev.yaml").read_text()
    (source / "dev.yaml").write_text(real)
    copy = demo.work_config(source, tmp_path / "work" / "config")
    assert load_environment(copy / "dev.yaml").account == ACCOUNT
    assert load_environment(source / "dev.yaml").account == "410927553310"


def test_a_missing_data_file_is_refused_before_anything_starts(capsys, tmp_path):
    first = next(iter(load_environment(CONFIG_DIR / "dev.yaml").models))
    assert demo.main(["--model", first, "--data", str(tmp_path / "nope.csv"), "--config-dir", str(CONFIG_DIR)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("demo failed: DATA=") and err.endswith("nope.csv: no such file (allowed: a CSV file with a header row)")


def test_the_demo_deploys_a_copy_of_the_config_without_the_versions_a_fresh_emulator_lacks(tmp_path):
    """A version named in dev (what `promote --env dev` writes) exists in an account that ran the pipeline, not in
    a fresh emulator: the demo's first deploy reads a copy without it, comments kept, other environments as they are;
    it then names the version its own run registered. The user's files are not touched."""
    import shutil

    source = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, source)
    dev = (source / "dev.yaml").read_text()
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/dev-{EXAMPLE}/3"
    named = dev.replace("    serving:\n", f"    serving:\n      model_package_arn: {arn}\n", 1)
    assert named != dev
    (source / "dev.yaml").write_text(named)
    assert load_environment(source / "dev.yaml").model(EXAMPLE).serving.model_package_arn == arn

    copy = demo.work_config(source, tmp_path / "work" / "config")
    assert load_environment(copy / "dev.yaml").model(EXAMPLE).serving.model_package_arn is None
    assert "model_package_arn: arn" not in (copy / "dev.yaml").read_text()
    assert "# The model catalog" in (copy / "dev.yaml").read_text()  # comments survive the round trip
    for other in ("staging.yaml", "prod.yaml"):
        assert (copy / other).read_text() == (source / other).read_text()
    assert (source / "dev.yaml").read_text() == named  # the user's file as it was


def test_a_problem_in_the_demos_copy_of_the_config_names_the_users_file(tmp_path):
    """The pipeline's Preprocess step quotes the config source in its data errors, and the app's config errors name
    the file: from the demo's copy (.demo/config) both must name the file the user edits, not a copy the next run
    overwrites (a team adding a model was told to fix .demo/config/dev.yaml)."""
    import shutil

    source = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, source)
    copy = demo.work_config(source, tmp_path / ".demo" / "config")
    assert load_environment(copy / "dev.yaml", display_root=tmp_path).source_file == "config/dev.yaml"
    assert load_environment(copy / "dev.yaml").source_file == str(source.resolve() / "dev.yaml")
    data = (copy / "dev.yaml").read_text().replace("region:", "regoin:", 1)
    (copy / "dev.yaml").write_text(data)
    with pytest.raises(ConfigError) as refused:
        load_environment(copy / "dev.yaml", display_root=tmp_path)
    assert refused.value.problems[0].startswith("config/dev.yaml: regoin: unknown key")
    assert load_environment(source / "dev.yaml", display_root=tmp_path).source_file == "config/dev.yaml"  # no marker there


def test_scoring_requests_stay_within_a_serverless_endpoints_4_mb_whatever_the_row_width():
    """500 rows of the bundled models' CSV are about 100 kB, but a team's rows may be wide: the demo's requests
    to dev's serverless endpoint keep under the 4 MB SageMaker takes there (local/emulator/endpoints.py)."""
    header = "a,b\n"
    narrow = [f"{i},x" for i in range(1201)]
    assert [len(b) for b in demo.scoring_batches(narrow, header)] == [500, 500, 201]
    wide = ["9" * 100_000] * 130  # 100 kB a row: 41 rows fill 4 MB with the header
    batches = demo.scoring_batches(wide, header)
    assert sum(batches, []) == wide and [len(b) for b in batches] == [41, 41, 41, 7]
    for batch in batches:
        assert len((header + "\n".join(batch)).encode()) <= MAX_SERVERLESS_BODY
    with pytest.raises(demo.DemoError, match=r"^test row 2 is 4194304 bytes, more than a request may carry"):
        demo.scoring_batches(["1", "9" * MAX_SERVERLESS_BODY], header)


def test_a_version_waiting_for_approval_is_refused_with_what_to_change():
    """A team's new model in dev registers PendingManualApproval (evaluation.approval_status's default); the demo
    says which setting, or which run option, lets it serve, instead of promote's "approve it in Studio" (the
    emulator is gone by the time the user reads it)."""
    demo.check_servable("churn", {"ModelApprovalStatus": "Approved"}, CONFIG_DIR / "dev.yaml")
    with pytest.raises(demo.DemoError) as refused:
        demo.check_servable("churn", {"ModelApprovalStatus": "PendingManualApproval"}, CONFIG_DIR / "dev.yaml")
    assert str(refused.value) == (
        "churn: the registered version waits for manual approval (models.churn.evaluation.approval_status in "
        "tests/fixtures/config/dev.yaml is PendingManualApproval by default), so the demo has nothing to serve: set "
        "approval_status: Approved there for dev (an execution may not approve what the config sends to review)")


def test_columns_the_teams_preprocess_derives_are_named_as_what_every_client_must_send(tmp_path):
    """A team's preprocess.py may add a feature computed from the data: the endpoint then takes it as an input
    column, which the business's own rows lack. The demo scores the test split (which has it), so says so."""
    data = tmp_path / "customers.csv"
    data.write_text("Customer ID,Tenure (months),Total-Charges,Churn Status\n1,3,30.5,stayed\n")
    columns = ["Tenure (months)", "Total-Charges", "Avg Charge per Month"]
    assert demo.columns_not_in_data(columns, data) == ["Avg Charge per Month"]
    assert demo.columns_not_in_data(columns[:2], data) == []
    assert demo.columns_not_in_data(columns, None) == []  # nothing uploaded from here: nothing to compare with
