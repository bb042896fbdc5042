"""Stop this SageMaker notebook instance once Jupyter has been idle for --idle-seconds.

on_start.sh installs this file and a systemd timer runs it every 5 minutes with the
JupyterSystemEnv python. Standard library only, apart from boto3 for the stop call.
Every output line is one JSON object, so the log stays greppable.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NoReturn
from urllib.parse import urlsplit

DEFAULT_JUPYTER_URL = "https://localhost:8443"
DEFAULT_METADATA_PATH = "/opt/ml/metadata/resource-metadata.json"
# A kernel that is starting or restarting is about to work, so it counts as busy.
ACTIVE_STATES = frozenset({"busy", "starting", "restarting"})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class AutostopError(Exception):
    """A failure worth one log line and a non-zero exit, not a traceback."""


@dataclass(frozen=True)
class Decision:
    idle: bool
    reason: str


def log(event: str, *, error: bool = False, **fields: object) -> None:
    record = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "event": event, **fields}
    print(json.dumps(record), file=sys.stderr if error else sys.stdout, flush=True)


def parse_time(value: object) -> datetime:
    """Jupyter's ISO-8601 timestamps (e.g. 2024-05-01T12:00:00.000000Z) as aware datetimes."""
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    # Python before 3.11 rejects the "Z" suffix that Jupyter writes.
    parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def decide(kernels: object, *, started: object, now: datetime, idle_seconds: int, terminals: object = ()) -> Decision:
    """Idle when no kernel is working and the newest activity is at least idle_seconds old.

    With no kernels or terminals the server start stands in for activity, so a fresh
    start gets a full idle period. Unreadable data keeps the notebook running: a wrong
    stop loses a user's session, a wrong keep-alive only costs money.
    """
    try:
        if not isinstance(kernels, list) or not isinstance(terminals, (list, tuple)):
            raise TypeError("kernels and terminals must be lists")
        for kernel in kernels:
            if kernel.get("execution_state") in ACTIVE_STATES:
                return Decision(False, f"kernel {kernel.get('id', '?')} is {kernel['execution_state']}")
        # Terminals have no execution state; a job running in one still updates last_activity.
        sources = [*kernels, *terminals]
        if sources:
            last, what = max(parse_time(item["last_activity"]) for item in sources), "last activity"
        else:
            last, what = parse_time(started), "server start (no kernels)"
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        return Decision(False, f"unreadable Jupyter data ({type(exc).__name__}: {exc}); staying up to be safe")
    age = int((now - last).total_seconds())
    if age >= idle_seconds:
        return Decision(True, f"{what} {age}s ago, threshold {idle_seconds}s")
    return Decision(False, f"{what} {age}s ago, under threshold {idle_seconds}s")


def ssl_context_for(url: str) -> ssl.SSLContext | None:
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.hostname not in LOCAL_HOSTS:
        return None
    # SageMaker's Jupyter has a self-signed certificate; not verifying it is safe only
    # because the connection never leaves this machine.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def fetch_json(base_url: str, path: str, *, missing_ok: bool = False, timeout: float = 10.0) -> object:
    url = base_url.rstrip("/") + path
    if urlsplit(url).scheme not in ("http", "https"):
        raise AutostopError(f"Jupyter URL must be http(s), got {base_url!r}")
    # No proxies: Jupyter is local, and a proxy from the environment must not see its API.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ssl_context_for(url))
    )
    try:
        with opener.open(url, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and missing_ok:
            return None
        raise AutostopError(f"Jupyter answered HTTP {exc.code} for {url}") from exc
    except urllib.error.URLError as exc:
        raise AutostopError(f"cannot reach Jupyter at {url}: {exc.reason}") from exc
    except (OSError, ValueError) as exc:
        raise AutostopError(f"cannot read Jupyter at {url}: {exc}") from exc


def read_metadata(path: str) -> tuple[str, str | None]:
    """The notebook's name and, from its ARN, its region (the timer's service has no AWS_DEFAULT_REGION)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise AutostopError(f"cannot read notebook metadata {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise AutostopError(f"notebook metadata {path} is not valid JSON") from exc
    name = data.get("ResourceName") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name:
        raise AutostopError(f"notebook metadata {path} has no ResourceName")
    arn = data.get("ResourceArn")
    parts = arn.split(":") if isinstance(arn, str) else []
    return name, (parts[3] or None) if len(parts) >= 6 else None


def stop_notebook(name: str, fallback_region: str | None) -> None:
    import boto3  # Lazy: the decision logic and its tests must not need boto3.
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.Session()
    region = session.region_name or fallback_region
    if not region:
        raise AutostopError("no AWS region: set AWS_DEFAULT_REGION or add ResourceArn to the metadata")
    try:
        session.client("sagemaker", region_name=region).stop_notebook_instance(NotebookInstanceName=name)
    except (BotoCoreError, ClientError) as exc:
        raise AutostopError(f"StopNotebookInstance {name} failed: {exc}") from exc


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's usage block would split a log entry
        log("error", error=True, message=f"usage: {message}")
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="autostop", description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=positive_int, required=True)
    parser.add_argument("--jupyter-url", default=DEFAULT_JUPYTER_URL)
    parser.add_argument("--metadata", default=DEFAULT_METADATA_PATH)
    parser.add_argument("--dry-run", action="store_true", help="decide and log, but do not stop")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        name, region = read_metadata(args.metadata)
        status = fetch_json(args.jupyter_url, "/api/status")
        decision = decide(
            fetch_json(args.jupyter_url, "/api/kernels"),
            # Terminals can be switched off (404); kernels alone then decide.
            terminals=fetch_json(args.jupyter_url, "/api/terminals", missing_ok=True) or [],
            started=status.get("started") if isinstance(status, dict) else None,
            now=datetime.now(timezone.utc),
            idle_seconds=args.idle_seconds,
        )
        log("idle" if decision.idle else "active", notebook=name, reason=decision.reason)
        if decision.idle:
            if args.dry_run:
                log("dry-run", notebook=name, action="would stop")
            else:
                stop_notebook(name, region)
                log("stopping", notebook=name)
    except AutostopError as exc:
        log("error", error=True, message=str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
