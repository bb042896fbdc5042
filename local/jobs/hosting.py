"""The hosting contract on this machine: training_scripts/serve.py on a free port, and requests to it."""

from __future__ import annotations

import http.client
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from local.jobs.errors import JobFailed


@contextmanager
def serving(model_dir: Path) -> Iterator[str]:
    """serve.py (the hosting contract) on a free port for ``model_dir``; yields its base URL."""
    from local.emulator import free_port

    import serve  # training_scripts/serve.py: imports XGBoost, so only when a model is served

    port = free_port()
    try:
        process = serve.start_process(str(model_dir), port)
    except RuntimeError as error:
        raise JobFailed(str(error)) from None
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()


def invoke(connection: http.client.HTTPConnection, body: bytes, content_type: str, accept: str) -> bytes:
    connection.request("POST", "/invocations", body=body, headers={"Content-Type": content_type, "Accept": accept})
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200:
        raise JobFailed(f"POST /invocations answered {response.status}: {payload.decode(errors='replace')[:300]}")
    return payload

