"""autostop.py decides idleness correctly, fails safe, and really stops the notebook (in moto)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from moto import mock_aws

from notebook_lifecycle import autostop

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
HOUR = 3600
NAME = "research-dev"
REGION = "us-east-1"
LONG_AGO = "2020-01-01T00:00:00.000000Z"


def iso(moment: datetime) -> str:
    """Jupyter's own format: microseconds and a Z suffix."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def kernel(state: str, ago: timedelta, kernel_id: str = "k1") -> dict:
    return {"id": kernel_id, "execution_state": state, "last_activity": iso(NOW - ago)}


def decide(kernels, *, started=NOW - timedelta(days=1), terminals=(), idle_seconds=HOUR):
    return autostop.decide(kernels, started=iso(started), now=NOW, idle_seconds=idle_seconds, terminals=terminals)


# --- the pure decision -------------------------------------------------------------------


def test_busy_kernel_is_never_idle_however_old_its_activity():
    result = decide([kernel("idle", timedelta(days=2)), kernel("busy", timedelta(days=2), "k2")])
    assert not result.idle
    assert "k2 is busy" in result.reason


def test_recent_activity_is_not_idle():
    result = decide([kernel("idle", timedelta(minutes=10))])
    assert not result.idle
    assert "600s ago" in result.reason


def test_old_activity_is_idle():
    result = decide([kernel("idle", timedelta(hours=2))])
    assert result.idle
    assert "7200s ago" in result.reason


def test_the_newest_activity_of_all_kernels_counts():
    assert not decide([kernel("idle", timedelta(hours=5)), kernel("idle", timedelta(minutes=1), "k2")]).idle


def test_recent_terminal_activity_keeps_the_notebook_up():
    terminals = [{"name": "1", "last_activity": iso(NOW - timedelta(minutes=3))}]
    assert not decide([kernel("idle", timedelta(hours=5))], terminals=terminals).idle


def test_no_kernels_falls_back_to_server_start():
    old = decide([], started=NOW - timedelta(hours=3))
    assert old.idle and "server start" in old.reason
    assert not decide([], started=NOW - timedelta(minutes=5)).idle


def test_exactly_at_the_threshold_is_idle():
    assert decide([kernel("idle", timedelta(seconds=HOUR))]).idle
    assert not decide([kernel("idle", timedelta(seconds=HOUR - 1))]).idle


def test_offsets_and_naive_timestamps_are_utc():
    assert autostop.parse_time("2025-03-01T13:00:00+01:00") == NOW
    assert autostop.parse_time("2025-03-01T12:00:00") == NOW


@pytest.mark.parametrize(
    "kernels, started",
    [
        ([{"id": "k1", "execution_state": "idle", "last_activity": "yesterday"}], iso(NOW)),
        ([{"id": "k1", "execution_state": "idle"}], iso(NOW)),
        ([{"id": "k1", "execution_state": "idle", "last_activity": 12345}], iso(NOW)),
        (["not-a-kernel"], iso(NOW)),
        ({"message": "Forbidden"}, iso(NOW)),
        ([], None),
        ([], "not a date"),
    ],
)
def test_malformed_data_fails_safe(kernels, started):
    result = autostop.decide(kernels, started=started, now=NOW + timedelta(days=30), idle_seconds=60)
    assert not result.idle
    assert "unreadable" in result.reason


def test_unverified_tls_only_for_localhost():
    local = autostop.ssl_context_for("https://localhost:8443/api/kernels")
    assert local is not None and local.verify_mode == ssl.CERT_NONE and not local.check_hostname
    assert autostop.ssl_context_for("https://example.com/api/kernels") is None
    assert autostop.ssl_context_for("http://127.0.0.1:8888/api/kernels") is None


def test_metadata_gives_name_and_region_from_the_arn(tmp_path):
    path = tmp_path / "meta.json"
    arn = f"arn:aws:sagemaker:eu-west-1:123456789012:notebook-instance/{NAME}"
    path.write_text(json.dumps({"ResourceName": NAME, "ResourceArn": arn}))
    assert autostop.read_metadata(str(path)) == (NAME, "eu-west-1")
    path.write_text(json.dumps({"ResourceName": NAME}))
    assert autostop.read_metadata(str(path)) == (NAME, None)


# --- end to end: fake Jupyter + moto -----------------------------------------------------


class FakeJupyter(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FakeJupyterHandler)
        # A server that just started, with no kernels: not idle until routes say otherwise.
        self.routes: dict[str, object] = {
            "/api/status": {"started": iso(datetime.now(UTC))},
            "/api/kernels": [],
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class FakeJupyterHandler(BaseHTTPRequestHandler):
    server: FakeJupyter

    def do_GET(self) -> None:
        if self.path not in self.server.routes:
            self.send_error(404)
            return
        body = json.dumps(self.server.routes[self.path]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def jupyter():
    server = FakeJupyter()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def metadata(tmp_path):
    path = tmp_path / "resource-metadata.json"
    arn = f"arn:aws:sagemaker:{REGION}:123456789012:notebook-instance/{NAME}"
    path.write_text(json.dumps({"ResourceArn": arn, "ResourceName": NAME}))
    return str(path)


@pytest.fixture
def sagemaker(monkeypatch, tmp_path):
    for key in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    with mock_aws():
        client = boto3.client("sagemaker", region_name=REGION)
        client.create_notebook_instance(
            NotebookInstanceName=NAME, InstanceType="ml.t3.medium", RoleArn="arn:aws:iam::123456789012:role/notebook"
        )
        yield client


def status(client) -> str:
    return client.describe_notebook_instance(NotebookInstanceName=NAME)["NotebookInstanceStatus"]


def run(jupyter, metadata, *extra: str) -> int:
    return autostop.main(["--idle-seconds", "60", "--jupyter-url", jupyter.url, "--metadata", metadata, *extra])


def events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_idle_notebook_is_stopped(jupyter, metadata, sagemaker, capsys):
    jupyter.routes["/api/kernels"] = [{"id": "k1", "execution_state": "idle", "last_activity": LONG_AGO}]
    assert status(sagemaker) == "InService"
    assert run(jupyter, metadata) == 0
    assert status(sagemaker) in ("Stopping", "Stopped")
    assert [e["event"] for e in events(capsys.readouterr().out)] == ["idle", "stopping"]


def test_region_falls_back_to_the_metadata_arn(jupyter, metadata, sagemaker, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    jupyter.routes["/api/status"] = {"started": LONG_AGO}
    assert run(jupyter, metadata) == 0
    assert status(sagemaker) in ("Stopping", "Stopped")


def test_active_notebook_stays_up(jupyter, metadata, sagemaker, capsys):
    jupyter.routes["/api/kernels"] = [{"id": "k1", "execution_state": "busy", "last_activity": LONG_AGO}]
    assert run(jupyter, metadata) == 0
    assert status(sagemaker) == "InService"
    (event,) = events(capsys.readouterr().out)
    assert event["event"] == "active" and "busy" in event["reason"] and event["notebook"] == NAME


def test_dry_run_decides_but_does_not_stop(jupyter, metadata, sagemaker, capsys):
    jupyter.routes["/api/status"] = {"started": LONG_AGO}
    assert run(jupyter, metadata, "--dry-run") == 0
    assert status(sagemaker) == "InService"
    assert [e["event"] for e in events(capsys.readouterr().out)] == ["idle", "dry-run"]


# --- error paths: one line, non-zero exit ------------------------------------------------


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    (event,) = events(captured.err)
    assert event["event"] == "error"
    return event["message"]


def test_missing_metadata_file(jupyter, tmp_path, capsys):
    missing = str(tmp_path / "nope.json")
    assert run(jupyter, missing) == 1
    message = one_error_line(capsys)
    assert "cannot read notebook metadata" in message and missing in message


def test_metadata_without_a_name(jupyter, tmp_path, capsys):
    path = tmp_path / "meta.json"
    path.write_text("{}")
    assert run(jupyter, str(path)) == 1
    assert "has no ResourceName" in one_error_line(capsys)


def test_jupyter_not_reachable(metadata, capsys):
    with socket.socket() as sock:  # a port that was just free, so nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = autostop.main(["--idle-seconds", "60", "--jupyter-url", f"http://127.0.0.1:{port}", "--metadata", metadata])
    assert code == 1
    assert f"cannot reach Jupyter at http://127.0.0.1:{port}/api/status" in one_error_line(capsys)


def test_jupyter_http_error(jupyter, metadata, capsys):
    del jupyter.routes["/api/kernels"]
    assert run(jupyter, metadata) == 1
    assert "HTTP 404" in one_error_line(capsys)


@pytest.mark.parametrize("argv", [["--idle-seconds", "0"], ["--idle-seconds", "-5"], ["--idle-seconds", "soon"], []])
def test_bad_idle_seconds(argv, capsys):
    assert autostop.main(argv) == 2
    message = one_error_line(capsys)
    assert message.startswith("usage:") and "--idle-seconds" in message
