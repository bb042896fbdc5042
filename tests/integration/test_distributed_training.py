"""train.py's distributed path: two local hosts, one collective, one model (or one clear failure).

An integration test: two train.py processes find each other through XGBoost's tracker over
TCP on this machine, as two SageMaker training instances do over the VPC.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local.emulator import free_port
from tests.helpers.containers import CARAVAN, sm_env
from tests.helpers.paths import SCRIPTS

import inference
import preprocess
import sm_contract


@pytest.fixture(scope="module")
def sharded_splits(tmp_path_factory) -> Path:
    """The Caravan data preprocessed as for a two-instance training job (two train shards)."""
    root = tmp_path_factory.mktemp("sharded")
    raw = root / "raw"
    raw.mkdir()
    (raw / "caravan.csv").write_bytes(CARAVAN.read_bytes())
    preprocess.main(["--input-dir", str(raw), "--output-dir", str(root / "splits"), "--train-shards", "2"])
    return root / "splits"


def shard_dirs(splits: Path, tmp_path: Path) -> list[Path]:
    """One channel directory per host, as ShardedByS3Key gives each host its own file."""
    dirs = []
    for rank in range(2):
        dirs.append(tmp_path / f"shard-{rank}")
        dirs[-1].mkdir()
        (dirs[-1] / "part.csv").write_bytes((splits / "train" / f"part-0000{rank}.csv").read_bytes())
    return dirs


def wait_for_line(path: Path, text: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        assert process.poll() is None and time.monotonic() < deadline, path.read_text()
        time.sleep(0.05)


def start_hosts(tmp_path: Path, shards: list[Path], validation: Path, extra: list[str]) -> list[tuple[int, str]]:
    """train.py on two local hosts (each with its own shard), the first started first; (rc, log) each."""
    hosts = ["localhost", "127.0.0.1"]  # two names for this machine: SM_HOSTS as SageMaker lists algo-1, algo-2
    port = str(free_port())
    workers, logs = [], []
    for rank, host in enumerate(hosts):
        env = sm_env(tmp_path / f"host-{rank}", shards[rank], validation, SM_HOSTS=json.dumps(hosts), SM_CURRENT_HOST=host)
        logs.append(tmp_path / f"host-{rank}.log")
        with logs[-1].open("w") as log:
            workers.append(subprocess.Popen(
                [sys.executable, "train.py", "--tracker_port", port, "--checkpoint_dir", str(tmp_path / "none"), *extra],
                cwd=SCRIPTS, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
            ))
        if rank == 0:  # joining before the tracker listens only costs the second host retries
            wait_for_line(logs[0], "tracker listening on", workers[0])
    for worker in workers:
        worker.wait(timeout=180)
    return [(w.returncode, log.read_text()) for w, log in zip(workers, logs, strict=True)]


def test_a_host_with_bad_input_fails_both_hosts_with_one_line_each(sharded_splits, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    shard = shard_dirs(sharded_splits, tmp_path)[0]
    (rc0, out0), (rc1, out1) = start_hosts(tmp_path, [shard, empty], sharded_splits / "validation", [])
    assert (rc0, rc1) == (1, 1)
    assert "error: train channel is empty" in out1
    assert "error: the training collective failed on host localhost" in out0
    assert "Traceback" not in out0 + out1
    assert (tmp_path / "host-0" / "output" / "failure").read_text().startswith("the training collective failed")


def test_two_hosts_train_one_model_through_the_collective(sharded_splits, tmp_path):
    """Two local workers, each with its own shard (ShardedByS3Key), through train.py's cluster path."""
    shards = sharded_splits
    # Few rounds: on one machine every round's allreduce costs ~0.1 s.
    results = start_hosts(tmp_path, shard_dirs(shards, tmp_path), shards / "validation",
                          ["--num_round", "12", "--early_stopping_rounds", "0"])
    assert [rc for rc, _ in results] == [0, 0], results
    first_out = results[0][1]
    assert "train_rows:4075 hosts:2 device:cpu" in first_out  # both shards, counted across the cluster
    assert (tmp_path / "host-0" / "model" / "xgboost-model.json").is_file()
    assert not (tmp_path / "host-1" / "model").exists()  # one model, written by the first host
    meta = json.loads((tmp_path / "host-0" / "model" / "metadata.json").read_text())
    assert meta["trained_on"] == {"device": "cpu", "hosts": 2}
    booster = inference.model_fn(str(tmp_path / "host-0" / "model")).booster
    features, labels = sm_contract.read_label_first_csv(shards / "test", "test")
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(labels, booster.inplace_predict(features)) > 0.7
