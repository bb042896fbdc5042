#!/usr/bin/env python3
"""`make bench-studio`: what SageMaker Studio costs at synth. Full-app `cdk synth` with Studio enabled in every
environment against Studio disabled in every environment.

    synth, Studio everywhere   config/ with a studio block in every environment: the shipped one where there is one,
                               else dev's teams (one team per model of the environment's catalog)
    synth, no Studio           config/ with studio.enabled false everywhere
    ratio                      the two medians of BENCH_RUNS runs, taken alternately

Synth never reaches AWS: endpoints point at a closed port and credentials are fake (benchmarks/speed.py's timed()).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import yaml

from benchmarks import print_table
from benchmarks.model_catalog import synth
from config import environment_files
from local.paths import REPO_ROOT as ROOT


def studio_config(target: Path, *, enabled: bool) -> Path:
    """config/ with Studio on (teams for every model) or off in every environment."""
    target.mkdir(parents=True)
    for path in environment_files(ROOT / "config"):
        data = yaml.safe_load(path.read_text())
        studio = data.get("studio") or {}
        if enabled and not studio.get("teams"):
            studio = {"enabled": True, "teams": {
                f"team{index}": {"members": [f"person{index}"], "models": [model]}
                for index, model in enumerate(data.get("models") or {})}}
        studio["enabled"] = enabled and bool(studio.get("teams"))
        data["studio"] = studio
        (target / path.name).write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        on, off = studio_config(Path(tmp) / "on", enabled=True), studio_config(Path(tmp) / "off", enabled=False)
        with_studio, without = [], []
        for run in range(args.runs):  # alternating, so both see the same machine
            with_studio.append(synth(on, Path(tmp) / f"on-{run}"))
            without.append(synth(off, Path(tmp) / f"off-{run}"))
    rows = [
        (f"full-app synth, Studio in every environment (median of {args.runs}: "
         f"{', '.join(f'{t:.1f}' for t in with_studio)})", statistics.median(with_studio), "s", ""),
        (f"full-app synth, no Studio (median of {args.runs}: {', '.join(f'{t:.1f}' for t in without)})",
         statistics.median(without), "s", ""),
        ("  ratio", statistics.median(with_studio) / statistics.median(without), "x", ""),
    ]
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
