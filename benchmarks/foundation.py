#!/usr/bin/env python3
"""Print the foundation's figures: full-app synth time and unit-test time.

Targets on a 2-core machine: full synth (all stages, cdk-nag and CloudFormation validation
included) at most 15 s; unit tests, as `make unit` runs them, at most 60 s (the one-process
figure is printed beside it, without a target). Run with `make bench`.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
OFFLINE = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_ACCESS_KEY_ID": "none",
    "AWS_SECRET_ACCESS_KEY": "none",
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
}


def timed(command: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, **OFFLINE, **(env or {})}, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(command)}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return elapsed


def main() -> int:
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    rows = []
    with tempfile.TemporaryDirectory() as out:
        cli = [str(ROOT / "node_modules/.bin/cdk"), "synth", "--quiet", "--no-notices", "-o", out]
        synth = [timed(cli) for _ in range(runs)]
    rows.append(("full-app synth, `cdk synth` (3 stages, 14 stacks, nag + validation)", synth, 15.0))
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    parallel = [timed([*pytest, "-n", "auto", "--dist", "loadfile", "tests/unit"]) for _ in range(max(1, runs - 2))]
    rows.append(("unit tests as `make unit` runs them (one worker per core)", parallel, 60.0))
    serial = [timed([*pytest, "tests/unit"]) for _ in range(max(1, runs - 2))]
    rows.append(("unit tests in one process, `pytest tests/unit`", serial, None))

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'measure':<72} {'median s':>9} {'min s':>7} {'target s':>9}  ok")
    for name, values, target in rows:
        median = statistics.median(values)
        verdict = "-" if target is None else ("yes" if median <= target else "NO")
        print(f"{name:<72} {median:>9.1f} {min(values):>7.1f} {'-' if target is None else f'{target:.0f}':>9}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
