"""Run the deployed training pipeline on this machine, against the emulator.

    python -m local.pipeline --env dev --model NAME --endpoint-url http://localhost:PORT [-p MinAuc=0.8]

The definition is the one in cdk.out (the template's Fn::Join resolved with what the
emulator deployed), so a wiring mistake in it fails here as it would in SageMaker. Any
step type the local runner cannot run fails before anything runs, naming the step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlparse

from local.cloud_assembly import AssemblyError
from local.emulator import Emulator
from local.paths import CDK_OUT, DEMO_DIR
from local.pipeline.definition import parse_assignments
from local.pipeline.deployed import run_pipeline
from local.pipeline.expressions import PipelineError


def local_endpoint(url: str) -> str:
    """Only an emulator on this machine: never a real AWS endpoint."""
    parsed = urlparse(url)
    if parsed.scheme != "http" or parsed.hostname not in ("localhost", "127.0.0.1") or not parsed.port:
        raise PipelineError(f"--endpoint-url {url!r} is not a local emulator; expected http://localhost:PORT")
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev", help="the deployed stage whose pipeline runs (default dev)")
    parser.add_argument("--model", required=True, help="the model of the environment's catalog whose pipeline runs")
    parser.add_argument("--endpoint-url", required=True, help="the emulator, e.g. http://localhost:PORT (python -m local.emulator)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE", help="a pipeline parameter")
    parser.add_argument("--cdk-out", type=Path, default=CDK_OUT)
    parser.add_argument("--work-dir", type=Path, default=DEMO_DIR / "executions")
    args = parser.parse_args(argv)
    try:
        port = urlparse(local_endpoint(args.endpoint_url)).port
        result = run_pipeline(Emulator(port=port), args.env, args.model, work_root=args.work_dir,
                              parameters=parse_assignments(args.parameter), cdk_out=args.cdk_out)
    except (PipelineError, AssemblyError) as error:
        print(f"local.pipeline: {error}", file=sys.stderr)
        return 2
    if not result.succeeded:
        print(f"execution {result.execution_id} failed: {result.failure}", file=sys.stderr)
        return 1
    print(f"execution {result.execution_id} succeeded")
    return 0

