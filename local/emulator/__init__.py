"""Embedded AWS emulator: a moto server child process that is always stopped on the way out.

    with Emulator() as emu:
        emu.client("s3").create_bucket(Bucket="b")
        subprocess.run([...], env=emu.env())

CLI: ``python -m local.emulator [--port N]`` runs it in the foreground and prints the env exports.
"""

from __future__ import annotations

import atexit
import errno
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"  # moto's default account; CDK env and bootstrap must match it
DEFAULT_REGION = "us-east-1"
FAKE_SECRET = "testing"
HOST = "127.0.0.1"
# Proxies must never see emulator traffic (and urllib would otherwise honour HTTP_PROXY).
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorError(RuntimeError):
    """Why the emulator could not start or answer, in one line."""


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Same option werkzeug sets, so a port in TIME_WAIT does not count as taken.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Emulator:
    """Handle on one moto server: start and stop it, and get clients and environments that reach only it.

    Built with a port and not started, it is a handle on an emulator that already runs there."""

    def __init__(
        self,
        port: int | None = None,
        *,
        region: str = DEFAULT_REGION,
        log_path: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        grace: float = 5.0,
    ) -> None:
        self.requested_port = port
        self.port: int | None = port
        self.region = region
        self.timeout = timeout
        self.grace = grace
        self._log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._prev_sigterm: Any = None

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def log_path(self) -> Path:
        if self._log_path is None:
            return Path(tempfile.gettempdir()) / f"moto-emulator-{self.port}.log"
        return self._log_path

    def start(self) -> Emulator:
        if self.running:
            return self
        for mod in ("moto", "flask", "werkzeug"):
            if importlib.util.find_spec(mod) is None:
                raise EmulatorError(
                    f"moto server is not installed in {sys.executable} (missing '{mod}'); run `make install`"
                )
        if self.requested_port is not None:
            if _port_in_use(self.requested_port):
                raise EmulatorError(
                    f"port {self.requested_port} on {HOST} is already in use; choose another with "
                    "--port N / Emulator(port=N), or omit it to pick a free port"
                )
            self._launch(self.requested_port)
            return self
        # A free port can be grabbed between probing and binding; retry rather than fail.
        for attempt in range(3):
            try:
                self._launch(free_port())
                return self
            except EmulatorError:
                if attempt == 2 or "Address already in use" not in self._tail():
                    raise
        return self

    def _launch(self, port: int) -> None:
        self.port = port
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        child_env = dict(os.environ, MOTO_PORT=str(port))  # moto builds some URLs from MOTO_PORT
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local.emulator.server", "-H", HOST, "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=child_env,
            # Own process group: the terminal's Ctrl-C reaches only us, and we decide how to stop it.
            start_new_session=True,
        )
        atexit.register(self.stop)  # backstop if the interpreter exits without unwinding
        self._trap_sigterm()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.timeout
        while True:
            rc = self.process.poll()
            if rc is not None:
                raise EmulatorError(
                    f"moto server exited early with code {rc} (log {self.log_path}): {self._tail()}"
                )
            try:
                with _NO_PROXY.open(f"http://{HOST}:{self.port}/moto-api/", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise EmulatorError(
                    f"moto server on port {self.port} did not answer within {self.timeout:g}s "
                    f"(log {self.log_path}): {self._tail()}"
                )
            time.sleep(0.1)

    def _trap_sigterm(self) -> None:
        # SIGTERM's default action skips finally/__exit__; turn it into SystemExit so cleanup runs.
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._prev_sigterm = signal.signal(signal.SIGTERM, _raise_exit)

    def stop(self) -> None:
        proc = self.process
        try:
            if proc is not None and proc.poll() is None:
                _killpg(proc, signal.SIGTERM)
                try:
                    proc.wait(self.grace)
                except subprocess.TimeoutExpired:
                    _killpg(proc, signal.SIGKILL)
                    proc.wait(5)
        finally:
            if proc is not None and proc.poll() is None:  # interrupted mid-stop: don't leak it
                _killpg(proc, signal.SIGKILL)
            if self._log is not None:
                self._log.close()
                self._log = None
            if self._prev_sigterm is not None:
                if threading.current_thread() is threading.main_thread():
                    signal.signal(signal.SIGTERM, self._prev_sigterm)
                self._prev_sigterm = None
            atexit.unregister(self.stop)

    def _tail(self, n: int = 5) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        lines = [ln.strip() for ln in lines if ln.strip()][-n:]
        return " | ".join(lines) or "(empty log)"

    # -- using it --------------------------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        # localhost, not 127.0.0.1: moto resolves path-style S3 URLs (e.g. CFN TemplateURL) only for it.
        return f"http://localhost:{self.port}"

    def aws_env(self) -> dict[str, str]:
        """Only the variables the emulator sets (see env() for the full child environment)."""
        no_proxy = ",".join(
            filter(None, [os.environ.get("NO_PROXY") or os.environ.get("no_proxy"), "localhost,127.0.0.1"])
        )
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": FAKE_SECRET,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            # No IMDS probing, and no real profiles/SSO/credential_process from ~/.aws leaking in.
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "CDK_DEFAULT_ACCOUNT": ACCOUNT,
            "CDK_DEFAULT_REGION": self.region,
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
        }

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for child processes: ``base`` (default os.environ) with every inherited AWS_*
        variable dropped (profiles, session tokens, per-service endpoint overrides) and ours added."""
        base = os.environ if base is None else base
        out = {k: v for k, v in base.items() if not k.startswith("AWS_")}
        out.update(self.aws_env())
        return out

    def client(self, service: str, **kwargs: Any) -> Any:
        import boto3
        import botocore.config
        import botocore.session

        # Ignore AWS_PROFILE and ~/.aws so a stray profile can neither break nor redirect us.
        bs = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        bs.set_config_variable("config_file", os.devnull)
        bs.set_config_variable("credentials_file", os.devnull)
        session = boto3.session.Session(
            botocore_session=bs,
            aws_access_key_id=FAKE_SECRET,
            aws_secret_access_key=FAKE_SECRET,
            region_name=self.region,
        )
        kwargs.setdefault("config", botocore.config.Config(s3={"addressing_style": "path"}))
        return session.client(service, endpoint_url=self.endpoint_url, **kwargs)

    def reset(self) -> None:
        """Wipe all emulated state (moto's reset API)."""
        req = urllib.request.Request(f"http://{HOST}:{self.port}/moto-api/reset", method="POST")
        try:
            with _NO_PROXY.open(req, timeout=10):
                pass
        except (urllib.error.URLError, OSError) as e:
            raise EmulatorError(f"moto reset on port {self.port} failed: {e}") from e


def _killpg(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
