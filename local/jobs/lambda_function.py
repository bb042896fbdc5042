"""A Python Lambda handler run as Lambda runs it: a fresh interpreter, the event in, the result out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from local.jobs.container import inherited_env, local_tracking
from local.jobs.errors import JobFailed


def lambda_invoke(code_dir: Path, handler: str, event: dict, env: dict[str, str], log: Path, timeout: float = 900) -> Any:
    """A Python Lambda handler ('module.function') in a fresh interpreter, as Lambda runs it;
    the event on stdin, the return value as JSON on the last line of stdout. The code directory is
    the working directory, so it comes first on the import path (Lambda's task root does)."""
    module, _, function = handler.rpartition(".")
    runner = (
        "import json, sys\n"
        f"from {module} import {function} as handler\n"
        "result = handler(json.load(sys.stdin), None)\n"
        "print('\\n' + json.dumps(result))\n"
    )
    base = inherited_env("AWS_")
    try:
        proc = subprocess.run([sys.executable, "-c", runner], input=json.dumps(event), text=True, capture_output=True,
                              env={**base, **local_tracking(env), "LAMBDA_TASK_ROOT": str(code_dir), "PYTHONDONTWRITEBYTECODE": "1"},
                              cwd=code_dir, timeout=timeout + 5)  # + interpreter start
    except subprocess.TimeoutExpired:
        raise JobFailed(f"handler {handler} ran longer than the function's timeout of {timeout:g} s") from None
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        last = [ln for ln in proc.stderr.splitlines() if ln.strip()][-1:] or ["(no output)"]
        raise JobFailed(f"handler {handler} failed: {last[0]} (log {log})")
    return json.loads(proc.stdout.rstrip().splitlines()[-1])

