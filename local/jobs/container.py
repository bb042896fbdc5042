"""A job's container on this machine: a directory that stands for the container's file system.

An absolute container path (/opt/ml/..., /tmp/...) in a request becomes the same path under
that directory, in arguments and entry points alike, so the processing runner's shell line
and train.py run unchanged. Python is this virtualenv's (the framework image's packages are
pinned to the same releases).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from local.jobs.errors import JobFailed

#: Absolute container paths that live in the job's directory (the rest of the image is this machine).
CONTAINER_PATH = re.compile(r"(?<![\w./-])(/opt/ml|/tmp)(?=/|$|[^\w.-])")
#: What a job directory may contain: it is pasted into shell lines (the processing runner) unquoted.
SAFE_ROOT = re.compile(r"[\w./-]+")
HOST = "algo-1"
#: Names the local MLflow server (local/tracking_server.py) that local jobs log to in place of the
#: environment's SageMaker tracking server, whose ARN the pipeline gives them.
LOCAL_TRACKING_URI = "LOCAL_MLFLOW_TRACKING_URI"


def local_tracking(env: dict[str, str]) -> dict[str, str]:
    """A job's environment with MLFLOW_TRACKING_URI as a local job must see it: the pipeline names the
    environment's tracking server (an ARN, which the sagemaker-mlflow plugin would resolve to AWS); here it is
    the local MLflow server when one runs, and no tracking at all when none does. Nothing local calls AWS."""
    result = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
    if env.get("MLFLOW_TRACKING_URI") and os.environ.get(LOCAL_TRACKING_URI):
        result["MLFLOW_TRACKING_URI"] = os.environ[LOCAL_TRACKING_URI]
    return result


def inherited_env(*dropped_prefixes: str) -> dict[str, str]:
    """This process's environment as a job inherits it: no credentials or job variables of our own, and never
    a tracking server of the user's (a job logs where its pipeline says, see local_tracking)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped_prefixes) and k != "MLFLOW_TRACKING_URI"}


def extract(archive: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(target)
    else:
        with tarfile.open(archive) as t:
            t.extractall(target, filter="data")
    return target


# -- the container -------------------------------------------------------------------------------
class Container:
    """One job's container file system, rooted at ``root``."""

    def __init__(self, root: Path) -> None:
        if not SAFE_ROOT.fullmatch(str(root.resolve())):
            raise JobFailed(f"job directory {str(root)!r} has characters a container path cannot carry into a shell line "
                            "unquoted (allowed: letters, digits, _ . / -); clone the project to a path without spaces")
        self.root = root

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def rewrite(self, text: str) -> str:
        return CONTAINER_PATH.sub(lambda m: str(self.root) + m.group(1), text)

    def run(self, command: list[str], env: dict[str, str], log: Path) -> str:
        """Run the entry point (``command`` in container paths, mapped here; ``env`` holds local paths
        already); its output goes to ``log``; JobFailed with its error line on failure."""
        venv_bin = str(Path(sys.executable).parent)
        full_env = inherited_env("AWS_", "SM_", "SAGEMAKER_")
        full_env.update(local_tracking(env))
        full_env["PATH"] = os.pathsep.join([venv_bin, os.environ.get("PATH", os.defpath)])
        full_env.setdefault("PYTHONDONTWRITEBYTECODE", "1")  # no caches in the code directory
        self.path("/tmp").mkdir(parents=True, exist_ok=True)
        lines = []
        with log.open("w") as sink, subprocess.Popen(
            [self.rewrite(part) for part in command], cwd=self.root, env=full_env, text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        ) as process:
            assert process.stdout is not None
            try:
                for line in process.stdout:
                    sink.write(line)
                    lines.append(line)
                rc = process.wait()
            except BaseException:  # Ctrl-C, SIGTERM (SystemExit): the job and anything it started
                os.killpg(process.pid, 9)
                raise
        if rc != 0:
            errors = [ln.strip() for ln in lines if ln.startswith("error:")]
            tail = errors[-1] if errors else " | ".join(ln.strip() for ln in lines[-3:] if ln.strip()) or "(no output)"
            raise JobFailed(f"exit code {rc}: {tail} (log {log})")
        return "".join(lines)


def job_env(environment: dict[str, str] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (environment or {}).items()}

