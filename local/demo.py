"""`make demo`: the dev environment on the embedded AWS emulator, trained and served, no AWS account needed.

1. starts the emulator (moto server) on a free localhost port;
2. `cdk bootstrap` + `cdk deploy 'dev/*'` against it with the real CDK CLI;
then for every model of dev's catalog (or the one MODEL names):
3. uploads its dataset (its dataset.data_file, or the CSV given with --data) to the emulated
   raw-data bucket, where its pipeline reads it;
4. runs its deployed training pipeline locally (local/pipeline/): preprocess, train,
   evaluate, the evaluation gate, the condition, registration in the emulated Model Registry
   and a batch transform;
5. names each registered version as the model's dev endpoint (what `python -m delivery promote
   --env dev` does, in the demo's own copy of config/, .demo/config) and deploys the models'
   Serving stacks: the emulator serves each endpoint with serve.py running that version;
6. calls each endpoint through the SageMaker runtime API (InvokeEndpoint, as a user's boto3
   code does) with the raw rows of its test split, and reports AUC, latency and rows per second;
and prints a summary with one block per model. The emulator is always stopped on the way
out, Ctrl-C included.

Exit code 0 on success; 1 when a phase fails or the gate rejects the model (with its reasons).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import itertools
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

import naming
from config import ConfigError, EnvironmentConfig, environment_files, load_environment
from config.dataset import read_header
from config.environment import ModelConfig
from config.loader import mark_as_copy
from delivery.promote import PromotionRefused, promote, without_versions
from local import jobs
from local.cdk_cli import CDK_BIN, CdkError, deploy
from local.cloud_assembly import AssemblyError
from local.deployment import deploy_stage, format_inventory, inventory
from local.emulator import ACCOUNT, Emulator, EmulatorError
from local.emulator.endpoints import MAX_SERVERLESS_BODY
from local.jobs.container import LOCAL_TRACKING_URI
from local.paths import CDK_OUT, DEMO_DIR, REPO_ROOT, shown
from local.pipeline import (
    ExecutionResult,
    PipelineError,
    input_uri,
    load_deployed_pipeline,
    parse_assignments,
)
from local.tracking_server import TrackingServer, TrackingServerError, quiet_plugin_warnings

ENV_NAME = "dev"
WORK_DIR = DEMO_DIR
CDK_CLI = str(CDK_BIN.relative_to(REPO_ROOT))
#: Phases not a model's own (emulator, deploy, deploy the endpoints), and each model's (upload, pipeline, call).
SHARED_PHASES, MODEL_PHASES = 3, 3
#: Earlier executions' work files (logs, reports, plots) kept beside the new one; older ones are removed.
KEPT_EXECUTIONS = 5
#: Rows per scoring request at most (about 100 kB of the bundled models' CSV), and never more bytes than the
#: smallest InvokeEndpoint limit, a serverless endpoint's 4 MB: a team's wide rows make smaller requests.
SCORING_BATCH = 500
#: One-row requests timed for the latency figures.
LATENCY_REQUESTS = 100


class DemoError(RuntimeError):
    """A phase failed; one line."""


@dataclass
class Scoring:
    """What calling the endpoint with the raw test rows measured: rows, time, latency, and AUC beside the report's."""

    rows: int
    seconds: float
    auc: float
    report_auc: float
    endpoint: str
    requests: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    columns: list[str] = field(default_factory=list)  # the endpoint's input columns (features.json)


@dataclass
class ModelRun:
    """One model's part of the demo: its pipeline execution, report, registered version and scoring."""

    name: str
    execution: ExecutionResult | None = None
    model_package: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    report_dir: Path | None = None
    scoring: Scoring | None = None
    uploaded: str = ""  # "<local file> -> s3://..."
    source: Path | None = None  # the CSV uploaded as the pipeline's input
    tracked: str = ""  # the MLflow run of its pipeline execution, as a UI link


@dataclass
class DemoResult:
    """Everything the demo's summary prints, filled in phase by phase."""

    stacks: dict[str, int] = field(default_factory=dict)  # stack -> resources
    models: dict[str, ModelRun] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    cdk_out: Path | None = None  # the cloud assembly the stage was deployed from
    tracking_url: str | None = None  # the local MLflow server every run logged to
    studio: str | None = None  # the deployed Studio domain, its profiles and spaces, in one line

    def model(self, name: str | None = None) -> ModelRun:
        """A model's run; without a name, the only one."""
        if name is None:
            if len(self.models) != 1:
                raise DemoError(f"the demo ran {len(self.models)} models; name one")
            return next(iter(self.models.values()))
        return self.models[name]


class Phases:
    """Numbers and times the demo's phases as they start and end, for the progress lines and make bench."""

    def __init__(self, result: DemoResult, total: int = SHARED_PHASES + MODEL_PHASES) -> None:
        self.result, self.number, self.total = result, 0, total

    def start(self, key: str, text: str) -> None:
        self.number += 1
        self.key, self.started = key, time.perf_counter()
        print(f"[{self.number}/{self.total}] {text}", flush=True)

    def done(self, text: str = "") -> None:
        seconds = time.perf_counter() - self.started
        self.result.phases[self.key] = seconds
        print(f"      {text + ' ' if text else ''}({seconds:.1f}s)", flush=True)


def models_to_run(env: EnvironmentConfig, model: str | None, data: Path | None) -> list[ModelConfig]:
    """The models the demo runs: every model of the catalog, or the one named; --data needs one model."""
    if model is not None:
        try:
            return [env.model(model)]
        except ValueError as exc:
            raise DemoError(f"MODEL={model}: {exc}") from None
    if not env.models:
        raise DemoError(f"{env.source_file} declares no models (allowed: a models block with at least one model)")
    if data is not None and len(env.models) > 1:
        raise DemoError(f"DATA={data} needs MODEL=<name>: {env.source_file} has {len(env.models)} models "
                        f"({', '.join(env.models)})")
    return list(env.models.values())


def dataset_for(model: ModelConfig, data: Path | None, source_file: str) -> Path:
    """The CSV to upload as the model's input: the user's (--data), else the model's own data_file;
    a data_file in S3 is out of the emulator's reach, so it needs --data."""
    if data is not None:
        if not data.is_file():
            raise DemoError(f"DATA={data}: no such file (allowed: a CSV file with a header row)")
        return data
    source = model.dataset.source
    if source.path is None:
        raise DemoError(
            f"models.{model.name}.dataset.data_file in {source_file} is {source.value}, which the emulator cannot read: "
            f"give a local copy, e.g. make demo MODEL={model.name} DATA=path/to/data.csv"
        )
    return source.path


def run_demo(emulator: Emulator, *, parameters: dict[str, str] | None = None, work_dir: Path = WORK_DIR,
             phases: Phases | None = None, result: DemoResult | None = None, show_cdk: bool = False,
             inventory_listing: bool = False, cdk_out: Path = CDK_OUT, data: Path | None = None,
             model: str | None = None, env: EnvironmentConfig | None = None, config_dir: Path | None = None,
             tracking: TrackingServer | None = None) -> DemoResult:
    """Deploy, run each model's pipeline, serve each registered version and call it, against a running emulator
    (the integration test runs exactly this). ``show_cdk`` streams the CDK CLI's own progress (else it is kept
    for the error message); ``data`` is the CSV to train ``model`` on (default: each model's dataset.data_file);
    ``config_dir`` holds the environment files to deploy (default config/; the integration test deploys the
    fixture config). The deploys read a copy of it (work_dir/config) in which the demo names the versions it
    serves; the user's files are never edited. With ``tracking`` (a started local MLflow server, waited for
    before the first pipeline) every step that logs to the environment's tracking server logs there instead."""
    previous = os.environ.get(LOCAL_TRACKING_URI)
    if tracking:
        os.environ[LOCAL_TRACKING_URI] = tracking.url
    else:
        os.environ.pop(LOCAL_TRACKING_URI, None)
    try:
        return _run_demo(emulator, parameters=parameters, work_dir=work_dir, phases=phases, result=result, show_cdk=show_cdk,
                         inventory_listing=inventory_listing, cdk_out=cdk_out, data=data, model=model, env=env,
                         config_dir=config_dir, tracking=tracking)
    finally:
        if previous is None:
            os.environ.pop(LOCAL_TRACKING_URI, None)
        else:
            os.environ[LOCAL_TRACKING_URI] = previous


def _run_demo(emulator: Emulator, *, parameters: dict[str, str] | None, work_dir: Path, phases: Phases | None,
              result: DemoResult | None, show_cdk: bool, inventory_listing: bool, cdk_out: Path, data: Path | None,
              model: str | None, env: EnvironmentConfig | None, config_dir: Path | None,
              tracking: TrackingServer | None) -> DemoResult:
    source_dir = config_dir or REPO_ROOT / "config"
    env = env or load_environment(source_dir / f"{ENV_NAME}.yaml", display_root=REPO_ROOT)
    models = models_to_run(env, model, data)
    result = result or DemoResult()
    result.cdk_out = cdk_out
    result.tracking_url = tracking.url if tracking and env.tracking.enabled else None
    phases = phases or Phases(result, SHARED_PHASES + MODEL_PHASES * len(models))
    # and this run's executions, one per model, make KEPT_EXECUTIONS
    keep_latest_executions(work_dir / "executions", max(KEPT_EXECUTIONS - len(models), 0))
    # A version the config names exists in an account that has run the pipeline, not in a fresh emulator:
    # the first deploy declares no endpoint, and each model serves the version this run registers.
    working = work_config(source_dir, work_dir / "config")

    phases.start("deploy", f"cdk bootstrap + cdk deploy '{naming.stage_selector(ENV_NAME)}' (synth runs cdk-nag on every stage)")
    deploy_stage(emulator, ENV_NAME, capture=not show_cdk, cdk_out=cdk_out, config_dir=working)
    deployed = inventory(emulator, ENV_NAME)
    result.stacks = {stack.name: sum(len(v) for v in stack.resources.values()) for stack in deployed}
    phases.done("stacks (resources): " + ", ".join(f"{name} ({count})" for name, count in result.stacks.items()))
    if inventory_listing:
        print(format_inventory(deployed))
    if env.studio.enabled:
        result.studio = studio_line(emulator)
    if tracking and result.tracking_url:
        tracking.ready()
    for each in models:
        run = result.models[each.name] = ModelRun(each.name)
        run_model(emulator, each, run, phases, parameters=parameters, work_dir=work_dir, cdk_out=cdk_out,
                  data=data, source_file=env.source_file)
        if result.tracking_url and run.execution:
            run.tracked = tracked_run(result.tracking_url, naming.mlflow_experiment_name(ENV_NAME, each.name),
                                      run.execution.execution_id)

    phases.start("endpoints", "name each registered version in dev's config (as `python -m delivery promote --env dev` does) "
                 "and deploy the Serving stacks")
    sagemaker = emulator.client("sagemaker")
    for run in result.models.values():
        assert run.model_package is not None
        check_servable(run.name, run.model_package, source_dir / f"{ENV_NAME}.yaml")
        try:
            promote(working, ENV_NAME, run.name, run.model_package["ModelPackageArn"], sagemaker)
        except PromotionRefused as error:
            raise DemoError(f"{run.name}: cannot serve the registered version: {error}") from None
    stacks = [f"{ENV_NAME}/{naming.model_stack_id(name, naming.SERVING_STACK)}" for name in result.models]
    # With their dependencies: the shared stacks gain the exports an endpoint imports (its role's ARN, the key).
    deploy(emulator.env(), stacks, capture=not show_cdk, output=cdk_out, config_dir=working)
    for stack in inventory(emulator, ENV_NAME):
        result.stacks[stack.name] = sum(len(v) for v in stack.resources.values())
    phases.done(", ".join(naming.endpoint_name(ENV_NAME, name) for name in result.models) + " InService")

    for run in result.models.values():
        assert run.execution is not None and run.report is not None
        endpoint = naming.endpoint_name(ENV_NAME, run.name)
        phases.start(f"{run.name}/endpoint", f"{run.name}: call {endpoint} through the SageMaker runtime API with the "
                     "test split's raw rows")
        run.scoring = call_endpoint(emulator, endpoint, run.execution, run.report["binary_classification_metrics"]["auc"]["value"])
        s = run.scoring
        phases.done(f"{s.rows} rows in {s.requests} request{'s' if s.requests != 1 else ''}: AUC {s.auc:.4f}, {s.rows / s.seconds:,.0f} rows/s; "
                    f"one row a request: p50 {s.p50_ms:.1f} ms, p99 {s.p99_ms:.1f} ms")
        derived = columns_not_in_data(s.columns, run.source)
        if derived and run.source is not None:
            # The test rows carry what the model's own preprocess.py derived; the business's rows do not. Whether its
            # inference.py derives it too shows only in the endpoint's answer to rows as the data file holds them.
            them = "them" if len(derived) > 1 else "it"
            refused = refusal_of_the_data_files_rows(emulator, endpoint, run.execution, run.source)
            if refused:
                print(f"      warning: {endpoint} takes column{'s' if len(derived) > 1 else ''} that {shown(run.source)} lacks: "
                      f"{', '.join(map(repr, derived))} (made by the model's own preprocess.py), and refuses the file's own rows "
                      f"({refused}): where the endpoint names {them}, every client must send {them}; to take the business's rows "
                      f"as they are, compute {them} in its inference.py too (training_scripts/README.md)", flush=True)
            else:
                print(f"      {endpoint} derives {', '.join(map(repr, derived))} itself: rows as {shown(run.source)} holds them "
                      "score too", flush=True)
    return result


def tracked_run(url: str, experiment: str, execution_id: str) -> str:
    """The UI link of the MLflow run a pipeline execution logged to, or why there is none."""
    from mlflow import MlflowClient

    quiet_plugin_warnings()
    client = MlflowClient(tracking_uri=url)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], max_results=1, filter_string=(
        f"tags.`sagemaker.pipeline_execution_id` = '{execution_id}' and tags.`sagemaker.run_kind` = 'pipeline execution'"
    )) if found else []
    if found is None or not runs:  # tracking never fails a run: say so, and go on
        return f"none: execution {execution_id} logged no run to experiment {experiment} (its step logs' tracking: lines say why)"
    return f"{url}/#/experiments/{found.experiment_id}/runs/{runs[0].info.run_id}"


def work_config(source: Path, target: Path) -> Path:
    """A copy of the environment files with no model version named in dev, and dev in the emulator's account (the
    only one it bootstraps; docs/deploying.md has users put their real account in dev.yaml): what the demo deploys
    first."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for path in sorted(source.glob("*.yaml")):
        text = path.read_text()
        (target / path.name).write_text(without_versions(text, account=ACCOUNT) if path.stem == ENV_NAME else text)
    mark_as_copy(target, source)  # a data or config error names the user's file, not this copy
    return target


def run_model(emulator: Emulator, model: ModelConfig, run: ModelRun, phases: Phases, *, parameters: dict[str, str] | None,
              work_dir: Path, cdk_out: Path, data: Path | None, source_file: str) -> None:
    """One model: upload its data, run its pipeline, read the version it registered."""
    pipeline = load_deployed_pipeline(emulator, ENV_NAME, model.name, cdk_out)
    source = dataset_for(model, data, source_file)
    if model.input_uri_key:  # the pipeline reads the raw-data bucket: upload where it reads
        uri = input_uri(pipeline.definition)
    else:  # its data_file is in S3: the local copy goes where a local file of the model would, for this run
        raw = pipeline.resolver.resolve({"Fn::ImportValue": naming.raw_data_bucket_export(ENV_NAME)})
        uri = f"s3://{raw.rsplit(':', 1)[-1]}/{naming.input_data_key(model.name, source.name)}"
        parameters = {**(parameters or {}), "InputDataUri": uri}
    bucket, key = jobs.split_uri(uri)
    # What the user named: their --data path, else the config's data_file (a package: form as written there).
    named = shown(source) if data is not None or not model.dataset.data_file.startswith("package:") else model.dataset.data_file
    phases.start(f"{model.name}/upload", f"{model.name}: upload {named} to the emulated raw-data bucket")
    emulator.client("s3").upload_file(str(source), bucket, key)
    run.uploaded, run.source = f"{named} -> {uri}", source
    phases.done(run.uploaded)

    phases.start(f"{model.name}/pipeline", f"{model.name}: run the deployed pipeline {pipeline.name} locally, step by step")
    execution = pipeline.execution(emulator, work_root=work_dir / "executions", parameters=parameters)
    print(f"      execution {execution.result.execution_id}; work files in {shown(execution.result.work_dir)}")
    run.execution = execution.run()
    phases.done()
    if not run.execution.succeeded:
        raise DemoError(f"{model.name}: pipeline execution {run.execution.execution_id} failed: {run.execution.failure}")
    evaluate = run.execution.step_dir("Evaluate")
    report_dir = next(evaluate.rglob("evaluation.json")).parent
    run.report_dir, run.report = report_dir, json.loads((report_dir / "evaluation.json").read_text())
    arn = run.execution.properties["RegisterModel"]["ModelPackageArn"]
    run.model_package = emulator.client("sagemaker").describe_model_package(ModelPackageName=arn)


def check_servable(model: str, package: dict, config_file: Path) -> None:
    """A DemoError saying what to change when the registered version waits for a person: the default of
    evaluation.approval_status, which a team's new model in dev has unless it sets Approved."""
    if package.get("ModelApprovalStatus") == "PendingManualApproval":
        raise DemoError(
            f"{model}: the registered version waits for manual approval (models.{model}.evaluation.approval_status in "
            f"{shown(config_file)} is PendingManualApproval by default), so the demo has nothing to serve: set "
            f"approval_status: Approved there for dev (an execution may not approve what the config sends to review)")


def keep_latest_executions(root: Path, keep: int) -> list[Path]:
    """Remove all but the ``keep`` newest execution directories under root; returns those removed.
    (Their S3 objects went with the emulator that ran them; the local files are what is left.)"""
    if not root.is_dir():
        return []
    executions = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in executions[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return executions[keep:]


def retry_commands(emulator: Emulator, cdk_out: Path, models: list[str], config_dir: Path = WORK_DIR / "config") -> list[str]:
    """What to run, with the emulator still up, to look around and to run a model's pipeline again. The CDK commands
    name the demo's own copy of the config (``config_dir``), where the demo named the versions its endpoints serve:
    the app read from config/ would be another one (no endpoints), and a destroy of it would leave them running."""
    env = f"AWS_ENDPOINT_URL={emulator.endpoint_url} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
    app = f"--context config_dir={shown(config_dir)} --output {shown(cdk_out)}"
    return [
        "source .venv/bin/activate   # in another shell: the project's Python and Node (the CDK CLI's) first on PATH",
        f"export {env} AWS_DEFAULT_REGION={emulator.region}",
        *(f"python -m local.pipeline --env {ENV_NAME} --model {model} --endpoint-url {emulator.endpoint_url} "
          f"--cdk-out {shown(cdk_out)} [-p NAME=VALUE]   # runs {model}'s deployed pipeline again, every step"
          for model in models),
        f"{CDK_CLI} deploy '{naming.stage_selector(ENV_NAME)}' --require-approval never {app}"
        f"   # after a change to {shown(config_dir)}/{ENV_NAME}.yaml (the demo's copy), with the exports above",
        f"{CDK_CLI} destroy '{naming.stage_selector(ENV_NAME)}' --force {app}   # tear it all down, endpoints first",
    ]


def wait_for_ctrl_c(emulator: Emulator, cdk_out: Path, models: list[str], failed: bool) -> None:
    state = "the demo failed; the emulator is still running" if failed else "emulator still running"
    print(f"\n{state}. Ctrl-C stops it. To look around or retry:")
    for command in retry_commands(emulator, cdk_out, models):
        print(f"  {command}")
    sys.stdout.flush()
    while True:
        time.sleep(3600)


def scoring_batches(lines: list[str], header: str, most_rows: int = SCORING_BATCH,
                    most_bytes: int = MAX_SERVERLESS_BODY) -> list[list[str]]:
    """The rows cut into requests of at most ``most_rows`` rows and ``most_bytes`` bytes with the header line; a
    row that alone does not fit is a DemoError naming it (dev's serverless endpoint would not take it)."""
    header_size = len(header.encode())
    batches: list[list[str]] = []
    size = header_size
    for number, line in enumerate(lines, start=1):
        length = len(line.encode()) + 1
        if header_size + length > most_bytes:
            raise DemoError(f"test row {number} is {length - 1} bytes, more than a request may carry with the header "
                            f"({most_bytes} bytes, a serverless endpoint's limit)")
        if not batches or len(batches[-1]) == most_rows or size + length > most_bytes:
            batches.append([])
            size = header_size
        batches[-1].append(line)
        size += length
    return batches


def call_endpoint(emulator: Emulator, endpoint: str, execution: ExecutionResult, report_auc: float) -> Scoring:
    """The test split's raw rows (preprocess.py's raw-test: label, then the input columns) sent to the endpoint
    through InvokeEndpoint as CSV with a header line, in requests of SCORING_BATCH rows and 4 MB at most."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    s3 = emulator.client("s3")
    spec = features_spec(emulator, execution)
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([c["name"] for c in spec["columns"]])
    bucket, prefix = jobs.split_uri(execution.output_uri("Preprocess", "raw-test"))
    rows: list[str] = []
    labels: list[float] = []
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix.rstrip("/") + "/").get("Contents", []):
        for line in s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode().splitlines():
            if line:
                label, _, values = line.partition(",")
                labels.append(float(label))
                rows.append(values)
    runtime = emulator.client("sagemaker-runtime")

    def invoke(lines: list[str]) -> list[float]:
        body = (header.getvalue() + "\n".join(lines)).encode()
        answer = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv", Accept="text/csv")
        return [float(v) for v in answer["Body"].read().decode().split()]

    invoke(rows[:1])  # the first call waits for the emulator to start the endpoint's model server
    scores: list[float] = []
    started = time.perf_counter()
    batches = scoring_batches(rows, header.getvalue())
    for batch in batches:
        scores += invoke(batch)
    seconds = time.perf_counter() - started
    if len(scores) != len(rows):
        raise DemoError(f"{endpoint}: {len(rows)} test rows sent, {len(scores)} predictions back")
    latencies = []  # one row a request: what a caller of a real-time endpoint waits
    for line in rows[:LATENCY_REQUESTS]:
        before = time.perf_counter()
        invoke([line])
        latencies.append(time.perf_counter() - before)
    return Scoring(len(rows), seconds, float(roc_auc_score(labels, scores)), float(report_auc), endpoint,
                   requests=len(batches), p50_ms=float(np.percentile(latencies, 50) * 1000),
                   p99_ms=float(np.percentile(latencies, 99) * 1000), columns=[c["name"] for c in spec["columns"]])


def refusal_of_the_data_files_rows(emulator: Emulator, endpoint: str, execution: ExecutionResult, source: Path,
                                   rows: int = 5) -> str | None:
    """What the endpoint answers to the data file's first rows as the business holds them (its own columns, less the
    label and the dropped ones, under a header line), where it refuses them; None where it scores them."""
    spec = features_spec(emulator, execution)
    skipped = {(spec.get("label") or {}).get("column"), *spec.get("dropped_columns", [])}
    with source.open(newline="", encoding="utf-8-sig") as handle:
        lines = [row for row in itertools.islice((r for r in csv.reader(handle, skipinitialspace=True) if r), rows + 1)]
    kept = [i for i, name in enumerate(lines[0]) if name.strip() not in skipped]
    body = io.StringIO()
    csv.writer(body, lineterminator="\n").writerows([[row[i] if i < len(row) else "" for i in kept] for row in lines])
    try:
        emulator.client("sagemaker-runtime").invoke_endpoint(EndpointName=endpoint, Body=body.getvalue().encode(),
                                                            ContentType="text/csv", Accept="text/csv")
    except ClientError as error:
        return str(error.response.get("Error", {}).get("Message") or error)
    return None


def features_spec(emulator: Emulator, execution: ExecutionResult) -> dict:
    """The execution's Preprocess metadata/features.json: the input columns, label and dropped columns."""
    uri = execution.output_uri("Preprocess", "metadata").rstrip("/") + "/features.json"
    return json.loads(emulator.client("s3").get_object(**dict(zip(("Bucket", "Key"), jobs.split_uri(uri), strict=True)))["Body"].read())


def columns_not_in_data(columns: list[str], source: Path | None) -> list[str]:
    """The endpoint's input columns that the uploaded data file does not have: features a team's preprocess.py
    derives, which the demo's test rows carry but a client sending the business's own rows does not."""
    if source is None:
        return []
    try:
        present = set(read_header(source))
    except ValueError:
        return []
    return [name for name in columns if name not in present]


def studio_line(emulator: Emulator) -> str:
    """The Studio domain as SageMaker's API describes it, its profiles and spaces: what a team would open."""
    sagemaker = emulator.client("sagemaker")
    (domain,) = [d for d in sagemaker.list_domains()["Domains"] if d["DomainName"] == naming.studio_domain_name(ENV_NAME)]
    domain_id = domain["DomainId"]
    described = sagemaker.describe_domain(DomainId=domain_id)
    profiles = [p["UserProfileName"] for p in sagemaker.list_user_profiles(DomainIdEquals=domain_id)["UserProfiles"]]
    spaces = [s["SpaceName"] for s in sagemaker.list_spaces(DomainIdEquals=domain_id)["Spaces"]]
    return (f"domain {domain_id} ({described['AppNetworkAccessType']}), profiles {', '.join(profiles)}; private JupyterLab spaces "
            f"{', '.join(spaces)} (in AWS: aws sagemaker create-presigned-domain-url --domain-id <id> --user-profile-name "
            f"{profiles[0] if profiles else '<member>'}; no JupyterLab runs in the emulator)")


def summary(result: DemoResult) -> str:
    """One block for the deploy, then one per model."""
    lines = [
        "",
        "Summary",
        f"  deployed      {len(result.stacks)} stacks of '{ENV_NAME}' to the emulator: {', '.join(result.stacks)}",
    ]
    if result.tracking_url:
        lines.append(f"  MLflow UI     {result.tracking_url} (every run of every model; runs kept in {shown(DEMO_DIR / 'mlflow')}; "
                     "stops with the demo, --keep-running keeps it up)")
    if result.studio:
        lines.append(f"  Studio        {result.studio}")
    for run in result.models.values():
        lines += ["", *model_summary(run)]
    return "\n".join(lines)


def model_summary(run: ModelRun) -> list[str]:
    execution, report, package, scoring = run.execution, run.report, run.model_package, run.scoring
    assert execution and report and package and scoring and run.report_dir
    metrics = report["binary_classification_metrics"]
    gate = execution.properties["EvaluationGate"]["OutputParameters"]
    return [
        f"  model {run.name}",
        f"  data          {run.uploaded}",
        f"  pipeline      {execution.pipeline_name} execution {execution.execution_id}: {execution.status}, "
        + " -> ".join(f"{s.name}" for s in execution.steps),
        "  test metrics  " + "  ".join(f"{m} {metrics[m]['value']:.3f}" for m in ("auc", "precision", "recall", "f1", "accuracy") if m in metrics),
        f"  gate          {gate['decision']}: {gate['reasons']}",
        f"  registered    {package['ModelPackageArn']} ({package['ModelApprovalStatus']})",
        f"  endpoint      {scoring.endpoint} via InvokeEndpoint (the SageMaker runtime API): {scoring.rows} raw test rows in "
        f"{scoring.requests} request{'s' if scoring.requests != 1 else ''}, AUC {scoring.auc:.4f} (the report says {scoring.report_auc:.4f}), "
        f"{scoring.rows / scoring.seconds:,.0f} rows/s; one row a request p50 {scoring.p50_ms:.1f} ms, p99 {scoring.p99_ms:.1f} ms",
        f"  report        {shown(run.report_dir)}/evaluation.json (also in the emulated S3 at "
        f"{execution.output_uri('Evaluate', 'evaluation')})",
        "  plots         " + ", ".join(p.name for p in sorted(run.report_dir.glob("*.png"))) + " beside it",
        f"  step logs     {shown(execution.work_dir)}/<step>/job.log",
        *([f"  tracking      {run.tracked}"] if run.tracked else []),
    ]


#: What ends the demo with one line (the emulator's answers and missing files included), not a traceback.
FAILURES = (EmulatorError, TrackingServerError, CdkError, PipelineError, AssemblyError, DemoError, jobs.JobFailed, BotoCoreError,
            ClientError, OSError)


def one_line(prefix: str, error: BaseException) -> str:
    own = (EmulatorError, CdkError, PipelineError, AssemblyError, DemoError, jobs.JobFailed)
    text = str(error) if isinstance(error, own) else f"{type(error).__name__}: {error}"
    return " ".join(f"{prefix}: {text}".split())


def dev_file(config_dir: Path) -> Path:
    """The environment the demo deploys: <config_dir>/dev.yaml, or a DemoError saying what to do without one."""
    path = Path(config_dir) / f"{ENV_NAME}.yaml"
    if not path.is_file():
        others = ", ".join(sorted(f.stem for f in environment_files(config_dir))) or "none"
        raise DemoError(f"{shown(path)}: no such file; the demo deploys the {ENV_NAME} environment to the emulator "
                        f"(environments here: {others}; copy the one to try into {ENV_NAME}.yaml)")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="emulator port (default: a free one)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="a pipeline parameter, e.g. -p MinAuc=0.9 (the gate then rejects the model)")
    parser.add_argument("--keep-running", action="store_true",
                        help="leave the emulator up until Ctrl-C, after a failure too, and print how to retry")
    parser.add_argument("--no-tracking", action="store_true", help="start no MLflow server: the steps log nothing "
                        "(dev's tracking.enabled: false does the same)")
    parser.add_argument("--inventory", action="store_true", help="list every deployed resource after the deploy")
    parser.add_argument("--show-cdk", action="store_true", help="stream the CDK CLI's deploy events")
    parser.add_argument("--cdk-out", type=Path, default=CDK_OUT, help="the cloud assembly directory (default cdk.out)")
    parser.add_argument("--timings", type=Path, help="write the phase and step times here as JSON (make bench)")
    parser.add_argument("--model", help="run only this model of dev's catalog (make demo MODEL=name)")
    parser.add_argument("--data", type=Path, help="a CSV of your own to train the model on, uploaded where its pipeline "
                        "reads (make demo MODEL=name DATA=path/to.csv)")
    parser.add_argument("--config-dir", type=Path, default=REPO_ROOT / "config",
                        help=f"the environment files, of which the demo deploys {ENV_NAME}.yaml (default config/)")
    args = parser.parse_args(argv)
    # Ctrl-C must always stop the demo and its emulator, even if SIGINT was inherited as ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.perf_counter()
    result = DemoResult()
    models: list[str] = []
    try:
        parameters = parse_assignments(args.parameter)
        # Before anything starts: the models to run and the data each trains on.
        dev = load_environment(dev_file(args.config_dir), display_root=REPO_ROOT)
        chosen = models_to_run(dev, args.model, args.data)
        for model in chosen:
            dataset_for(model, args.data, dev.source_file)
        models = [model.name for model in chosen]
        phases = Phases(result, SHARED_PHASES + MODEL_PHASES * len(chosen))
        tracked = dev.tracking.enabled and not args.no_tracking
        phases.start("emulator", "start the embedded AWS emulator (moto server)"
                     + (" and an MLflow tracking server" if tracked else "") + " on localhost")
        with contextlib.ExitStack() as servers:
            # MLflow starts first and comes up while the emulator starts and the stage deploys (run_demo waits).
            mlflow = TrackingServer(DEMO_DIR / "mlflow") if tracked else None
            if mlflow:
                servers.callback(mlflow.stop)
                mlflow.start(wait=False)
            emulator = servers.enter_context(Emulator(port=args.port))
            phases.done(emulator.endpoint_url + (f"; MLflow {mlflow.url}" if mlflow else ""))
            try:
                run_demo(emulator, parameters=parameters, phases=phases, result=result, show_cdk=args.show_cdk,
                         inventory_listing=args.inventory, cdk_out=args.cdk_out, data=args.data, model=args.model, env=dev,
                         tracking=mlflow, config_dir=args.config_dir)
            except FAILURES as error:
                if not args.keep_running:
                    raise
                # What a user wants after a failure is to look around: the emulator stays up.
                print(one_line("demo failed", error), file=sys.stderr)
                wait_for_ctrl_c(emulator, args.cdk_out, models, failed=True)
            print(summary(result))
            print(f"\ndemo finished in {time.perf_counter() - started:.1f}s")
            if args.keep_running:
                wait_for_ctrl_c(emulator, args.cdk_out, models, failed=False)
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
            steps = {run.name: {s.name: s.seconds for s in run.execution.steps}
                     for run in result.models.values() if run.execution}
            args.timings.write_text(json.dumps({"phases": result.phases, "steps": steps,
                                                "total": time.perf_counter() - started}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
