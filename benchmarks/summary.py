#!/usr/bin/env python3
"""`make bench`: the project's figures in one table.

    full-app synth        `cdk synth` of every stage (cdk-nag and CloudFormation validation included), median of BENCH_RUNS
    unit tests            `pytest tests/unit` as `make unit` runs it (one worker per core)
    demo, per phase       `python -m local.demo`: emulator start, deploy, dataset upload, pipeline run, serving
    training              the demo pipeline's Train step (train.py under the container contract)
    inference ratio       benchmarks/serving.py on the model the demo registered: HTTP (serve.py) over in-process
                          throughput for 1000-row requests

Targets (2-core machine): synth <= 15 s, unit tests <= 60 s, demo after installation < 180 s,
inference ratio >= 0.5. Record results in BENCHMARKS.md with the machine and the date.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import OFFLINE as BASE_OFFLINE
from benchmarks import print_table

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
#: The venv's bin first: jsii and the CDK CLI run on the venv's Node.
OFFLINE = {**BASE_OFFLINE, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}


def timed(command: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, **OFFLINE, **(env or {})}, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(command)}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return elapsed


def found(pattern: str, text: str) -> str:
    """The first group of pattern in a command's output; exits naming the pattern when it is not there."""
    match = re.search(pattern, text)
    if match is None:
        sys.exit(f"benchmark output has no {pattern!r}:\n{text[-2000:]}")
    return match.group(1)


def run(command: list[str]) -> str:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(command)}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


def main() -> int:
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    rows: list[tuple[str, float, str, str]] = []  # measure, value, unit, target (">= x" / "<= x" / "")

    with tempfile.TemporaryDirectory() as out:
        cli = [str(ROOT / "node_modules/.bin/cdk"), "synth", "--quiet", "--no-notices", "-o", out]
        synth = [timed(cli) for _ in range(runs)]
    rows.append((f"full-app synth, `cdk synth` (median of {runs})", statistics.median(synth), "s", "<= 15"))
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "auto", "--dist", "loadfile", "tests/unit"]
    rows.append(("unit tests, as `make unit` runs them", timed(pytest), "s", "<= 60"))

    with tempfile.TemporaryDirectory() as tmp:
        timings = Path(tmp) / "demo.json"
        run([sys.executable, "-m", "local.demo", "--timings", str(timings)])
        demo = json.loads(timings.read_text())
    for phase, seconds in demo["phases"].items():
        rows.append((f"demo phase: {phase}", seconds, "s", ""))
    rows.append(("demo total, `python -m local.demo` (after installation)", demo["total"], "s", "< 180"))
    for model, steps in demo["steps"].items():
        rows.append((f"{model}: training, the pipeline's Train step", steps["Train"], "s", ""))
        for step, seconds in steps.items():
            if step != "Train":
                rows.append((f"  {model}: pipeline step {step}", seconds, "s", ""))

    # The example model trained as the pipeline trains it, raw rows and vectors, HTTP and in process.
    serving = run([sys.executable, "benchmarks/serving.py"])
    rows.append(("inference throughput, HTTP / in-process (1000 raw rows a request)",
                 float(found(r"HTTP / in-process >= 0.5: ([0-9.]+)", serving)), "x", ">= 0.5"))
    rows.append(("inference throughput, in-process / booster alone (1000 raw rows)",
                 float(found(r"in-process / booster alone >= 0.25: ([0-9.]+)", serving)), "x", ">= 0.25"))
    p99 = re.search(r"1-row text/csv requests, raw rows, no header.*?\n  HTTP.*?p99 +([0-9.]+) ms", serving, re.S)
    if p99:
        rows.append(("inference latency p99, 1 raw row a request over HTTP", float(p99.group(1)), "ms", "< 10"))

    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
