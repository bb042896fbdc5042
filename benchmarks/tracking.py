#!/usr/bin/env python3
"""`make bench-tracking`: what experiment tracking costs. The demo with and without its MLflow server, and the
installs tracking adds to a fresh clone.

    demo, tracking        `python -m local.demo` (dev's tracking on: a local MLflow server, every step logs)
    demo, no tracking     `python -m local.demo --no-tracking` (no server; the steps log nothing)
    install, server       a fresh .venv-mlflow as `make install-tracking` builds it (venv + requirements-tracking.txt)
    install, client       mlflow-skinny, sagemaker-mlflow and the packages only they need (their dependency
                          closure in .venv less every other requirement's), as make install adds them to .venv

Each demo runs BENCH_RUNS times, alternating; medians are printed. Everything stays on localhost.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import print_table
from local.paths import REPO_ROOT as ROOT


def demo_seconds(args: list[str], work: Path) -> float:
    timings = work / "demo.json"
    subprocess.run([sys.executable, "-m", "local.demo", "--timings", str(timings), *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return float(json.loads(timings.read_text())["total"])


def seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def scratch_venv(root: Path) -> Path:
    """A venv that sees the project's .venv behind it, as .venv-mlflow does."""
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    site = next(root.glob("lib/python3*/site-packages"))
    (site / "zz_project_venv.pth").write_text(next(Path(sys.prefix).glob("lib/python3*/site-packages")).as_posix() + "\n")
    return root / "bin" / "pip"


CLIENT = ("mlflow-skinny", "sagemaker-mlflow")


def closure(names: list[str]) -> set[str]:
    """Every installed distribution the named ones need, themselves included (normalized names)."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        todo += [canonicalize_name(Requirement(r).name) for r in requires if "extra ==" not in r]
    return seen


def client_added() -> list[str]:
    """mlflow-skinny, sagemaker-mlflow and what only they need, at the versions constraints.txt pins."""
    top = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==", "".join(
        (ROOT / f).read_text() for f in ("requirements.txt", "requirements-dev.txt", "training_scripts/requirements.txt")),
        re.MULTILINE)
    others = closure([t.split("[")[0] for t in top if t not in CLIENT])
    only_client = closure(list(CLIENT)) - others
    pins = dict(line.split("==", 1) for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    normalized = {re.sub(r"[-_.]+", "-", k).lower(): f"{k}=={v}" for k, v in pins.items()}
    return sorted(normalized[name] for name in only_client if name in normalized)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "2")))
    parser.add_argument("--no-demo", action="store_true", help="install figures only")
    args = parser.parse_args()
    rows: list[tuple[str, float, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pip = scratch_venv(work / "server")
        started = time.perf_counter()
        subprocess.run([str(pip), "install", "--quiet", "--disable-pip-version-check", "--no-deps", "-r",
                        str(ROOT / "requirements-tracking.txt")], check=True, stderr=subprocess.DEVNULL)
        server = time.perf_counter() - started
        rows.append(("install, server (.venv-mlflow, requirements-tracking.txt)", server, "s", ""))
        pip = scratch_venv(work / "client-check")
        added = client_added()
        client = seconds([str(pip), "install", "--quiet", "--disable-pip-version-check", "--ignore-installed", "--no-deps", *added])
        rows.append((f"install, client ({len(added)} packages only mlflow-skinny, sagemaker-mlflow need)", client, "s", ""))
        if not args.no_demo:
            runs: dict[str, list[float]] = {"tracking": [], "no tracking": []}
            for _ in range(args.runs):
                runs["tracking"].append(demo_seconds([], work))
                runs["no tracking"].append(demo_seconds(["--no-tracking"], work))
            for name, values in runs.items():
                rows.append((f"demo, {name} (median of {len(values)})", statistics.median(values), "s", ""))
            extra = statistics.median(runs["tracking"]) - statistics.median(runs["no tracking"])
            rows.append(("demo, added by tracking", extra, "s", ""))
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
