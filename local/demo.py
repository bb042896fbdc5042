"""`make demo`: the dev environment on the embedded AWS emulator, trained and served, no AWS account needed.

1. starts the emulator (moto server) on a free localhost port;
2. `cdk bootstrap` + `cdk deploy 'dev/*'` against it with the real CDK CLI;
3. uploads the example dataset to the emulated raw-data bucket;
4. runs the deployed training pipeline locally (local/pipeline/): preprocess, train,
   evaluate, the evaluation gate, the condition, registration in the emulated Model Registry
   and a batch transform;
5. serves the registered model version with the local inference server (serve.py) and scores
   the test split over HTTP;
6. prints a summary. The emulator is always stopped on the way out, Ctrl-C included.

Exit code 0 on success; 1 when a phase fails or the gate rejects the model (with its reasons).
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

import naming
from config import ConfigError, load_environment
from local import jobs
from local.cdk_cli import CDK_BIN, CdkError
from local.cloud_assembly import AssemblyError
from local.dataset import caravan_csv
from local.deployment import deploy_stage, format_inventory, inventory
from local.emulator import Emulator, EmulatorError
from local.paths import CDK_OUT, DEMO_DIR, REPO_ROOT, shown
from local.pipeline import (
    ExecutionResult,
    PipelineError,
    input_uri,
    load_deployed_pipeline,
    parse_assignments,
)

ENV_NAME = "dev"
WORK_DIR = DEMO_DIR
CDK_CLI = str(CDK_BIN.relative_to(REPO_ROOT))
PHASES = 5
#: Earlier executions' work files (logs, reports, plots) kept beside the new one; older ones are removed.
KEPT_EXECUTIONS = 5
#: Rows per scoring request: about 40 kB of CSV, far below the 6 MB a real-time request may carry.
SCORING_BATCH = 500


class DemoError(RuntimeError):
    """A phase failed; one line."""


@dataclass
class Scoring:
    """What serving the test split over HTTP measured: rows, time, and AUC beside the report's."""

    rows: int
    seconds: float
    auc: float
    report_auc: float
    endpoint: str


@dataclass
class DemoResult:
    """Everything the demo's summary prints, filled in phase by phase."""

    stacks: dict[str, int] = field(default_factory=dict)  # stack -> resources
    execution: ExecutionResult | None = None
    model_package: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    report_dir: Path | None = None
    scoring: Scoring | None = None
    phases: dict[str, float] = field(default_factory=dict)
    cdk_out: Path | None = None  # the cloud assembly the stage was deployed from


class Phases:
    """Numbers and times the demo's phases as they start and end, for the progress lines and make bench."""

    def __init__(self, result: DemoResult) -> None:
        self.result, self.number = result, 0

    def start(self, key: str, text: str) -> None:
        self.number += 1
        self.key, self.started = key, time.perf_counter()
        print(f"[{self.number}/{PHASES}] {text}", flush=True)

    def done(self, text: str = "") -> None:
        seconds = time.perf_counter() - self.started
        self.result.phases[self.key] = seconds
        print(f"      {text + ' ' if text else ''}({seconds:.1f}s)", flush=True)


def dataset_for(key: str, data: Path | None) -> Path:
    """The CSV to upload as the pipeline's input: the user's, or the example's only where the config still
    names the example's key; never the example under a key of the user's (that would train on the wrong data)."""
    if data is not None:
        if not data.is_file():
            raise DemoError(f"DATA={data}: no such file (allowed: a CSV file with a header row)")
        return data
    if key != naming.EXAMPLE_INPUT_KEY:
        raise DemoError(
            f"pipeline.input_data_key is {key!r}, not the example's {naming.EXAMPLE_INPUT_KEY!r}: give the CSV to "
            "upload there, e.g. make demo DATA=path/to/data.csv"
        )
    return caravan_csv()


def run_demo(emulator: Emulator, *, parameters: dict[str, str] | None = None, work_dir: Path = WORK_DIR,
             phases: Phases | None = None, result: DemoResult | None = None, show_cdk: bool = False,
             inventory_listing: bool = False, cdk_out: Path = CDK_OUT, data: Path | None = None) -> DemoResult:
    """Phases 2-5 against a running emulator (the integration test runs exactly this).
    ``show_cdk`` streams the CDK CLI's own progress (else it is kept for the error message);
    ``data`` is the CSV to train on (default: the example dataset, where the config names its key)."""
    result = result or DemoResult()
    result.cdk_out = cdk_out
    phases = phases or Phases(result)
    keep_latest_executions(work_dir / "executions", KEPT_EXECUTIONS - 1)  # and this run makes KEPT_EXECUTIONS

    phases.start("deploy", f"cdk bootstrap + cdk deploy '{naming.stage_selector(ENV_NAME)}' (synth runs cdk-nag on every stage)")
    deploy_stage(emulator, ENV_NAME, capture=not show_cdk, cdk_out=cdk_out)
    deployed = inventory(emulator, ENV_NAME)
    result.stacks = {stack.name: sum(len(v) for v in stack.resources.values()) for stack in deployed}
    phases.done("stacks (resources): " + ", ".join(f"{name} ({count})" for name, count in result.stacks.items()))
    if inventory_listing:
        print(format_inventory(deployed))

    pipeline = load_deployed_pipeline(emulator, ENV_NAME, cdk_out)
    uri = input_uri(pipeline.definition)
    bucket, key = jobs.split_uri(uri)
    source = dataset_for(key, data)
    phases.start("upload", f"upload {'the example dataset' if data is None else shown(source)} to the emulated raw-data bucket")
    emulator.client("s3").upload_file(str(source), bucket, key)
    phases.done(f"{shown(source)} -> {uri}")

    phases.start("pipeline", f"run the deployed pipeline {pipeline.name} locally, step by step")
    execution = pipeline.execution(emulator, work_root=work_dir / "executions", parameters=parameters)
    print(f"      execution {execution.result.execution_id}; work files in {shown(execution.result.work_dir)}")
    result.execution = execution.run()
    phases.done()
    if not result.execution.succeeded:
        raise DemoError(f"pipeline execution {result.execution.execution_id} failed: {result.execution.failure}")
    evaluate = result.execution.step_dir("Evaluate")
    report_dir = next(evaluate.rglob("evaluation.json")).parent
    result.report_dir, result.report = report_dir, json.loads((report_dir / "evaluation.json").read_text())

    phases.start("serve", "serve the registered model with serve.py and score the test split over HTTP")
    arn = result.execution.properties["RegisterModel"]["ModelPackageArn"]
    result.model_package = emulator.client("sagemaker").describe_model_package(ModelPackageName=arn)
    test_uri = result.execution.output_uri("Preprocess", "test")
    result.scoring = score(emulator, result.model_package, test_uri, work_dir / "serve",
                           result.report["binary_classification_metrics"]["auc"]["value"])
    s = result.scoring
    phases.done(f"{s.rows} rows in {s.seconds:.2f}s ({s.rows / s.seconds:,.0f} rows/s) at {s.endpoint}")
    return result


def keep_latest_executions(root: Path, keep: int) -> list[Path]:
    """Remove all but the ``keep`` newest execution directories under root; returns those removed.
    (Their S3 objects went with the emulator that ran them; the local files are what is left.)"""
    if not root.is_dir():
        return []
    executions = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in executions[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return executions[keep:]


def retry_commands(emulator: Emulator, cdk_out: Path) -> list[str]:
    """What to run, with the emulator still up, to look around and to run the pipeline again."""
    env = f"AWS_ENDPOINT_URL={emulator.endpoint_url} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
    return [
        f"export {env} AWS_DEFAULT_REGION={emulator.region}",
        f"python -m local.pipeline --env {ENV_NAME} --endpoint-url {emulator.endpoint_url} --cdk-out {shown(cdk_out)}"
        " [-p NAME=VALUE]   # runs the deployed pipeline again, every step",
        f"{CDK_CLI} deploy '{naming.stage_selector(ENV_NAME)}' --require-approval never --output {shown(cdk_out)}"
        "   # after a change, with the exports above",
    ]


def wait_for_ctrl_c(emulator: Emulator, cdk_out: Path, failed: bool) -> None:
    state = "the demo failed; the emulator is still running" if failed else "emulator still running"
    print(f"\n{state}. Ctrl-C stops it. To look around or retry:")
    for command in retry_commands(emulator, cdk_out):
        print(f"  {command}")
    sys.stdout.flush()
    while True:
        time.sleep(3600)


def score(emulator: Emulator, package: dict, test_uri: str, root: Path, report_auc: float) -> Scoring:
    """The registered version's model behind serve.py; the test split's features POSTed as CSV."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    shutil.rmtree(root, ignore_errors=True)
    s3 = emulator.client("s3")
    archive = root / "model.tar.gz"
    root.mkdir(parents=True)
    url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    s3.download_file(*jobs.split_uri(url), str(archive))
    model_dir = jobs.extract(archive, root / "model")
    rows = [line for path in jobs.download(s3, test_uri, root / "test") for line in path.read_text().splitlines() if line]
    labels = np.array([float(r.split(",", 1)[0]) for r in rows])
    features = [r.split(",", 1)[1] for r in rows]
    scores: list[float] = []
    with jobs.serving(model_dir) as address:
        connection = http.client.HTTPConnection(address, timeout=30)
        started = time.perf_counter()
        for i in range(0, len(features), SCORING_BATCH):
            body = "\n".join(features[i:i + SCORING_BATCH]).encode()
            scores += [float(v) for v in jobs.invoke(connection, body, "text/csv", "text/csv").decode().split()]
        seconds = time.perf_counter() - started
        connection.close()
    if len(scores) != len(rows):
        raise DemoError(f"{len(rows)} test rows sent, {len(scores)} predictions back")
    return Scoring(len(rows), seconds, float(roc_auc_score(labels, scores)), float(report_auc), f"http://{address}/invocations")


def summary(result: DemoResult) -> str:
    execution, report, package, scoring = result.execution, result.report, result.model_package, result.scoring
    assert execution and report and package and scoring and result.report_dir
    metrics = report["binary_classification_metrics"]
    gate = execution.properties["EvaluationGate"]["OutputParameters"]
    lines = [
        "",
        "Summary",
        f"  deployed      {len(result.stacks)} stacks of '{ENV_NAME}' to the emulator: {', '.join(result.stacks)}",
        f"  pipeline      {execution.pipeline_name} execution {execution.execution_id}: {execution.status}, "
        + " -> ".join(f"{s.name}" for s in execution.steps),
        "  test metrics  " + "  ".join(f"{m} {metrics[m]['value']:.3f}" for m in ("auc", "precision", "recall", "f1", "accuracy") if m in metrics),
        f"  gate          {gate['decision']}: {gate['reasons']}",
        f"  registered    {package['ModelPackageArn']} ({package['ModelApprovalStatus']})",
        f"  served        {scoring.rows} test rows over HTTP: AUC {scoring.auc:.4f} "
        f"(the report says {scoring.report_auc:.4f}), {scoring.rows / scoring.seconds:,.0f} rows/s",
        f"  report        {shown(result.report_dir)}/evaluation.json (also in the emulated S3 at "
        f"{execution.output_uri('Evaluate', 'evaluation')})",
        "  plots         " + ", ".join(p.name for p in sorted(result.report_dir.glob("*.png"))) + " beside it",
        f"  step logs     {shown(execution.work_dir)}/<step>/job.log",
    ]
    return "\n".join(lines)


#: What ends the demo with one line (the emulator's answers and missing files included), not a traceback.
FAILURES = (EmulatorError, CdkError, PipelineError, AssemblyError, DemoError, jobs.JobFailed, BotoCoreError, ClientError, OSError)


def one_line(prefix: str, error: BaseException) -> str:
    own = (EmulatorError, CdkError, PipelineError, AssemblyError, DemoError, jobs.JobFailed)
    text = str(error) if isinstance(error, own) else f"{type(error).__name__}: {error}"
    return " ".join(f"{prefix}: {text}".split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="emulator port (default: a free one)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="a pipeline parameter, e.g. -p MinAuc=0.9 (the gate then rejects the model)")
    parser.add_argument("--keep-running", action="store_true",
                        help="leave the emulator up until Ctrl-C, after a failure too, and print how to retry")
    parser.add_argument("--inventory", action="store_true", help="list every deployed resource after the deploy")
    parser.add_argument("--show-cdk", action="store_true", help="stream the CDK CLI's deploy events")
    parser.add_argument("--cdk-out", type=Path, default=CDK_OUT, help="the cloud assembly directory (default cdk.out)")
    parser.add_argument("--timings", type=Path, help="write the phase and step times here as JSON (make bench)")
    parser.add_argument("--data", type=Path, help="a CSV of your own to train on, uploaded where the config's "
                        "pipeline.input_data_key says (make demo DATA=path/to.csv)")
    args = parser.parse_args(argv)
    # Ctrl-C must always stop the demo and its emulator, even if SIGINT was inherited as ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.perf_counter()
    result = DemoResult()
    phases = Phases(result)
    try:
        parameters = parse_assignments(args.parameter)
        # Before anything starts: the data to train on, for the key the dev config names.
        dev = load_environment(REPO_ROOT / "config" / f"{ENV_NAME}.yaml", display_root=REPO_ROOT)
        dataset_for(dev.pipeline.input_data_key, args.data)
        phases.start("emulator", "start the embedded AWS emulator (moto server) on localhost")
        with Emulator(port=args.port) as emulator:
            phases.done(emulator.endpoint_url)
            try:
                run_demo(emulator, parameters=parameters, phases=phases, result=result, show_cdk=args.show_cdk,
                         inventory_listing=args.inventory, cdk_out=args.cdk_out, data=args.data)
            except FAILURES as error:
                if not args.keep_running:
                    raise
                # What a user wants after a failure is to look around: the emulator stays up.
                print(one_line("demo failed", error), file=sys.stderr)
                wait_for_ctrl_c(emulator, args.cdk_out, failed=True)
            print(summary(result))
            print(f"\ndemo finished in {time.perf_counter() - started:.1f}s")
            if args.keep_running:
                wait_for_ctrl_c(emulator, args.cdk_out, failed=False)
    except ConfigError as error:
        for problem in error.problems:
            print(f"demo failed: config error: {problem}", file=sys.stderr)
        return 1
    except FAILURES as error:
        print(one_line("demo failed", error), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopped; the emulator is shut down", file=sys.stderr)
        return 130
    finally:
        if args.timings:
            steps = {s.name: s.seconds for s in result.execution.steps} if result.execution else {}
            args.timings.write_text(json.dumps({"phases": result.phases, "steps": steps,
                                                "total": time.perf_counter() - started}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
