#!/usr/bin/env python3
"""`make bench-catalog`: what a model costs. Full-app synth with one model per environment against two, and
the demo per model and for all of dev's models.

    synth, 1 model     `cdk synth` of every stage (cdk-nag and CloudFormation validation included) with config/
                       cut down to its first model in every environment; median of BENCH_RUNS, alternating
    synth, 2 models    the same with config/ as it is (the two bundled models)           target ratio <= 1.3
    demo, per model    `python -m local.demo --model NAME` for each model of dev, after installation
    demo, all models   `python -m local.demo` (every model of dev)                          target <= 120 s

Synth never reaches AWS: endpoints point at a closed port and credentials are fake.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

from benchmarks import print_table
from benchmarks.speed import VENV_BIN, timed
from config import environment_files, load_environment
from local.paths import REPO_ROOT as ROOT


def one_model_config(target: Path) -> Path:
    """config/ with only the first model of each environment's catalog."""
    target.mkdir(parents=True)
    for path in environment_files(ROOT / "config"):
        data = yaml.safe_load(path.read_text())
        models = data.get("models") or {}
        data["models"] = dict(list(models.items())[:1])
        (target / path.name).write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def synth(config_dir: Path, out: Path) -> float:
    cdk = ROOT / "node_modules" / ".bin" / "cdk"
    return timed([str(cdk), "synth", "--quiet", "--no-notices", "-o", str(out), "--context", f"config_dir={config_dir}"],
                 ROOT, path_first=VENV_BIN)


def demo_seconds(args: list[str], work: Path) -> float:
    timings = work / "demo.json"
    timed([sys.executable, "-m", "local.demo", "--timings", str(timings), *args], ROOT)
    return float(json.loads(timings.read_text())["total"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    parser.add_argument("--no-demo", action="store_true", help="synth figures only")
    args = parser.parse_args()
    models = list(load_environment(ROOT / "config" / "dev.yaml").models)
    rows: list[tuple[str, float, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        single = one_model_config(Path(tmp) / "config")
        one, two = [], []
        for run in range(args.runs):  # alternating, so both see the same machine
            one.append(synth(single, Path(tmp) / f"one-{run}"))
            two.append(synth(ROOT / "config", Path(tmp) / f"two-{run}"))
        rows.append((f"full-app synth, 1 model per environment (median of {args.runs})", statistics.median(one), "s", ""))
        rows.append((f"full-app synth, {len(models)} models per environment (median of {args.runs})",
                     statistics.median(two), "s", ""))
        rows.append(("  ratio", statistics.median(two) / statistics.median(one), "x", "<= 1.3"))
        if not args.no_demo:
            for model in models:
                rows.append((f"demo, MODEL={model} (after installation)", demo_seconds(["--model", model], Path(tmp)), "s", ""))
            rows.append((f"demo, all {len(models)} models of dev (after installation)", demo_seconds([], Path(tmp)), "s", "<= 120"))
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
