"""`make demo` as a user runs it: one clear line when the emulator cannot start, and Ctrl-C
stops everything (the emulator and the MLflow server included) at any point. The demo's full path is asserted in
test_deploy_dev.py."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.helpers.emulator import answers
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.integration
DEMO = [sys.executable, "-m", "local.demo"]


def test_a_taken_port_is_one_clear_line_and_exit_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([*DEMO, "--port", str(port)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"demo failed: port {port} on 127.0.0.1 is already in use; choose another with --port N / Emulator(port=N), "
        "or omit it to pick a free port"
    ]


def test_a_bad_parameter_is_refused_before_anything_starts():
    run = subprocess.run([*DEMO, "-p", "MinAuc"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip() == "demo failed: -p 'MinAuc': expected NAME=VALUE, e.g. -p MinAuc=0.8"
    assert "[1/" not in run.stdout



def test_ctrl_c_during_the_deploy_stops_the_demo_and_its_emulator(tmp_path):
    # Its own process group, so the SIGINT reaches the demo and its children as a terminal's Ctrl-C does;
    # its own cloud assembly, so a deploy in another test cannot make `cdk bootstrap` wait or fail first.
    demo = subprocess.Popen([*DEMO, "--cdk-out", str(tmp_path / "cdk.out")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert demo.stdout is not None
        lines = [demo.stdout.readline() for _ in range(3)]
        assert re.match(r"\[2/\d+\] cdk bootstrap \+ cdk deploy", lines[2]), lines
        match = re.search(r"localhost:(\d+)", lines[1])
        assert match, lines
        port = int(match.group(1))
        assert answers(port)
        tracking = re.search(r"MLflow http://127\.0\.0\.1:(\d+)", lines[1])  # dev's tracking is on
        assert tracking, lines
        time.sleep(2)  # inside `cdk bootstrap`
        os.killpg(demo.pid, signal.SIGINT)
        _, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    assert demo.returncode == 130, err
    assert err.strip().splitlines()[-1] == "stopped; the emulator is shut down"
    assert not answers(port)
    with pytest.raises(OSError):  # the MLflow server went with it
        socket.create_connection(("127.0.0.1", int(tracking.group(1))), timeout=2).close()
