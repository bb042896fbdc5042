"""A real MLflow tracking server on localhost, for local mode: the stand-in for an environment's SageMaker
managed MLflow tracking server. A child process that is always stopped on the way out, like the emulator.

    with TrackingServer(DEMO_DIR / "mlflow") as server:
        os.environ[LOCAL_TRACKING_URI] = server.url   # local jobs log here (local/jobs/container.py)

The server is MLflow itself, pinned in requirements-tracking.txt to the release SageMaker runs for
tracking servers of MlflowVersion 3.0, installed in its own virtualenv (.venv-mlflow: its pandas and
SQLAlchemy pins differ from the project's) by `make demo` and `make test`. Its runs live in a SQLite
file and its artifacts in a folder under the given directory, so they outlast the demo; the server
proxies artifact uploads (mlflow-artifacts:), so clients need no access to that folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from local.emulator import HOST, free_port
from local.paths import REPO_ROOT

MLFLOW_VENV = REPO_ROOT / ".venv-mlflow"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
#: Seconds ready() waits at least, however long ago start() was (the demo's deploy runs in between).
READY_GRACE = 30.0


def quiet_plugin_warnings() -> None:
    """sagemaker-mlflow's request-header provider assumes an ARN and warns on every call to any other server."""
    logging.getLogger("mlflow.tracking.request_header.registry").setLevel(logging.ERROR)


class TrackingServerError(RuntimeError):
    """Why the local MLflow server could not start, in one line."""


class TrackingServer:
    """One local MLflow server: start it, give its URL to local jobs, and always stop it."""

    def __init__(self, root: Path, port: int | None = None, *, timeout: float = 90.0, venv: Path = MLFLOW_VENV,
                 artifact_root: str | None = None) -> None:
        """``artifact_root`` (s3://bucket/prefix) makes it store artifacts as SageMaker's managed server does: it
        only records where they go, and clients write them to S3 themselves. Without it the server keeps them
        under ``root`` and proxies uploads (mlflow-artifacts:), which outlasts the emulator's S3."""
        self.root, self.port, self.timeout, self.venv, self.artifact_root = root, port, timeout, venv, artifact_root
        self.process: subprocess.Popen[bytes] | None = None
        self._deadline = 0.0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def __enter__(self) -> TrackingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, wait: bool = True) -> TrackingServer:
        """Start the server; with ``wait`` (the default) return once it answers, else at once (see ready)."""
        executable = self.venv / "bin" / "mlflow"
        if not executable.is_file():
            raise TrackingServerError(f"the local MLflow server is not installed ({executable} is missing); "
                                      "run `make install-tracking` (make demo and make test do)")
        self.root.mkdir(parents=True, exist_ok=True)
        self.initialize_store()
        self.port = self.port or free_port()
        artifacts = (["--default-artifact-root", self.artifact_root, "--no-serve-artifacts"] if self.artifact_root
                     else ["--artifacts-destination", str((self.root / "artifacts").resolve())])
        command = [str(executable), "server", "--host", HOST, "--port", str(self.port), "--workers", "1",
                   "--backend-store-uri", f"sqlite:///{(self.root / 'mlflow.db').resolve()}", *artifacts]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=env, start_new_session=True)
        self._deadline = time.monotonic() + self.timeout
        return self.ready() if wait else self

    def initialize_store(self) -> None:
        """Create mlflow.db whole or not at all. The server creates a new store's tables at start, in steps;
        stopped in the middle (Ctrl-C during the first demo), it leaves a store that no server starts on
        again. So a new store is built beside it, by MLflow's own store class, and renamed into place."""
        store = self.root / "mlflow.db"
        if store.exists():
            return
        building = self.root / "mlflow.db.new"
        building.unlink(missing_ok=True)
        code = ("import sys; from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore; "
                "SqlAlchemyStore('sqlite:///' + sys.argv[1], sys.argv[2])")
        done = subprocess.run([str(self.venv / "bin" / "python"), "-c", code, str(building.resolve()),
                               str((self.root / "artifacts").resolve())], capture_output=True, text=True, timeout=self.timeout,
                              env={k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))})
        if done.returncode != 0:
            building.unlink(missing_ok=True)
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise TrackingServerError(f"could not create the MLflow store {store}: {last}")
        building.rename(store)

    def ready(self) -> TrackingServer:
        """Wait until the started server answers; TrackingServerError (server stopped) when it exits or stays silent.
        The wait runs from start() (the demo deploys meanwhile), but never ends before READY_GRACE from here: a
        server that came up during a slow deploy is still asked, and one that is still starting gets a little longer."""
        deadline = max(self._deadline, time.monotonic() + READY_GRACE)
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
                self.process = None
                raise TrackingServerError(f"the local MLflow server exited at start: {tail[0]} (log {self.log_path}; a store "
                                          f"it cannot open can be moved away: {self.root / 'mlflow.db'})")
            if self.healthy():
                return self
            time.sleep(0.25)
        self.stop()
        raise TrackingServerError(f"the local MLflow server did not answer on {self.url} within {self.timeout:g}s "
                                  f"(log {self.log_path}; a busy machine may need longer: run again, or with --no-tracking)")

    def healthy(self) -> bool:
        try:
            with _NO_PROXY.open(f"{self.url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, grace: float = 10.0) -> None:
        """Stop the server and everything of its process group: MLflow's CLI starts gunicorn and its workers
        there, and one may be starting just as the stop comes (a Ctrl-C early in the demo)."""
        process, self.process = self.process, None
        if process is None:
            return
        group = process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:  # whatever is left of the group, until none is
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=1.0)
