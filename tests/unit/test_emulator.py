"""The embedded emulator really starts moto, isolates AWS settings and always stops the server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from local.emulator import ACCOUNT, Emulator, EmulatorError
from tests.helpers.emulator import answers

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def emu():
    with Emulator() as e:
        yield e


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_s3_bucket_round_trip(emu):
    s3 = emu.client("s3")
    s3.create_bucket(Bucket="emulator-test-bucket")
    assert "emulator-test-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket="emulator-test-bucket")


def test_reset_wipes_state(emu):
    s3 = emu.client("s3")
    s3.create_bucket(Bucket="emulator-reset-bucket")
    emu.reset()
    assert s3.list_buckets()["Buckets"] == []


def test_env_points_only_at_emulator(emu):
    base = {"PATH": "/bin", "AWS_PROFILE": "prod", "AWS_SESSION_TOKEN": "t", "AWS_ENDPOINT_URL_S3": "https://x"}
    env = emu.env(base)
    assert env["AWS_ENDPOINT_URL"] == f"http://localhost:{emu.port}" == emu.endpoint_url
    assert env["CDK_DEFAULT_ACCOUNT"] == ACCOUNT
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == env["CDK_DEFAULT_REGION"] == emu.region
    assert env["AWS_EC2_METADATA_DISABLED"] == "true" and env["PATH"] == "/bin"
    assert not {"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"} & env.keys()


def test_client_ignores_stray_profile(emu, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "does-not-exist")
    assert emu.client("sts").get_caller_identity()["Account"] == ACCOUNT


def process(emulator: Emulator) -> subprocess.Popen[bytes]:
    assert emulator.process is not None, "the emulator was never started"
    return emulator.process


def test_second_emulator_gets_its_own_port_and_exit_stops_it(emu):
    with Emulator() as other:
        assert other.port != emu.port
        pid, port = process(other).pid, other.port
        assert answers(port)
    assert process(other).returncode is not None and _gone(pid)
    assert not answers(port)
    assert answers(emu.port)  # the shared one is untouched


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_exception_in_body_still_stops_server(exc):
    with pytest.raises(exc):
        with Emulator() as e:
            pid, port = process(e).pid, e.port
            raise exc("boom")
    assert _gone(pid) and not answers(port)


def test_taken_port_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(EmulatorError, match=rf"port {port}\b.*already in use"):
            Emulator(port).start()


def test_no_answer_in_time_is_an_error_and_cleans_up(tmp_path):
    e = Emulator(timeout=0, log_path=tmp_path / "moto.log")
    with pytest.raises(EmulatorError, match="did not answer within 0s"):
        e.start()
    assert process(e).returncode is not None and _gone(process(e).pid)


@pytest.fixture
def spawn():
    procs: list[subprocess.Popen[str]] = []

    def _spawn(args: list[str]) -> subprocess.Popen[str]:
        # Own session so the signal we send mimics a terminal hitting only that program's group.
        p = subprocess.Popen(
            [sys.executable, *args], cwd=REPO_ROOT, text=True, stdout=subprocess.PIPE,
            start_new_session=True,
        )
        procs.append(p)
        return p

    yield _spawn
    for p in procs:  # a failed assertion must not leave servers behind
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        if p.stdout:
            p.stdout.close()


def test_sigterm_to_host_process_stops_server(spawn):
    code = "import time\nfrom local.emulator import Emulator\nwith Emulator() as e:\n" \
           "    print(e.process.pid, e.port, flush=True)\n    time.sleep(60)\n"
    p = spawn(["-c", code])
    pid, port = map(int, p.stdout.readline().split())
    p.send_signal(signal.SIGTERM)
    assert p.wait(15) == 128 + signal.SIGTERM
    assert _gone(pid) and not answers(port)


def test_cli_prints_exports_and_stops_on_ctrl_c(spawn):
    p = spawn(["-m", "local.emulator"])
    out = ""
    while "Ctrl-C to stop." not in out and p.poll() is None:  # wait until it is ready and idle
        out += p.stdout.readline()
    port = int(out.split("http://localhost:")[1].split()[0])
    assert answers(port)
    os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C does to the foreground process group
    rest, _ = p.communicate(timeout=15)  # bounded: a process that ignores Ctrl-C fails, not hangs
    out += rest
    assert p.returncode == 0
    assert f"export AWS_ENDPOINT_URL=http://localhost:{port}" in out and "emulator stopped" in out
    assert not answers(port)
