"""SageMaker jobs run on this machine under the container contract, with S3 in the emulator.

What SageMaker does around a container is done here the same way: inputs are copied from
S3 to the paths the request names, the container's entry point runs with the request's
arguments and environment, and outputs go back to S3 when the job ends. The container's
file system is a directory per job: an absolute container path (/opt/ml/..., /tmp/...)
in a request becomes the same path under that directory, in arguments and entry points
alike, so the processing runner's shell line and train.py run unchanged. Python is this
virtualenv's (the framework image's packages are pinned to the same releases).

A job that exits non-zero raises JobFailed with the script's own one-line error.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVE = REPO_ROOT / "training_scripts" / "serve.py"
#: Absolute container paths that live in the job's directory (the rest of the image is this machine).
CONTAINER_PATH = re.compile(r"(?<![\w./-])(/opt/ml|/tmp)(?=/|$|[^\w.-])")
#: What a job directory may contain: it is pasted into shell lines (the processing runner) unquoted.
SAFE_ROOT = re.compile(r"[\w./-]+")
HOST = "algo-1"


class JobFailed(RuntimeError):
    """A job's container failed; the message is its one-line reason."""


# -- S3 ----------------------------------------------------------------------------------------
def split_uri(uri: str) -> tuple[str, str]:
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
        raise JobFailed(f"{uri!r} is not an s3://bucket/key URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def download(s3: Any, uri: str, target: Path) -> list[Path]:
    """Every object under the S3 prefix ``uri`` into ``target``, relative paths kept (S3Prefix)."""
    bucket, prefix = split_uri(uri)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            relative = obj["Key"][len(prefix):].lstrip("/") or obj["Key"].rsplit("/", 1)[-1]
            if obj["Key"].endswith("/"):
                continue
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(path))
            written.append(path)
    if not written:
        raise JobFailed(f"no objects under {uri}")
    return written


def upload_dir(s3: Any, source: Path, uri: str) -> int:
    bucket, prefix = split_uri(uri)
    count = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        s3.upload_file(str(path), bucket, f"{prefix.rstrip('/')}/{path.relative_to(source).as_posix()}")
        count += 1
    return count


def upload_tarball(s3: Any, source: Path, uri: str) -> None:
    """``source``'s contents as a gzipped tar at the archive root, as SageMaker packs /opt/ml/model."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(source.iterdir()):
            archive.add(path, arcname=path.name)
    bucket, key = split_uri(uri)
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())


def extract(archive: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(target)
    else:
        with tarfile.open(archive) as t:
            t.extractall(target, filter="data")
    return target


# -- the container -------------------------------------------------------------------------------
class Container:
    """One job's container file system, rooted at ``root``."""

    def __init__(self, root: Path) -> None:
        if not SAFE_ROOT.fullmatch(str(root.resolve())):
            raise JobFailed(f"job directory {str(root)!r} has characters a container path cannot carry into a shell line "
                            "unquoted (allowed: letters, digits, _ . / -); clone the project to a path without spaces")
        self.root = root

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def rewrite(self, text: str) -> str:
        return CONTAINER_PATH.sub(lambda m: str(self.root) + m.group(1), text)

    def run(self, command: list[str], env: dict[str, str], log: Path) -> str:
        """Run the entry point (``command`` in container paths, mapped here; ``env`` holds local paths
        already); its output goes to ``log``; JobFailed with its error line on failure."""
        venv_bin = str(Path(sys.executable).parent)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SM_", "SAGEMAKER_"))}
        full_env.update(env)
        full_env["PATH"] = os.pathsep.join([venv_bin, os.environ.get("PATH", os.defpath)])
        full_env.setdefault("PYTHONDONTWRITEBYTECODE", "1")  # no caches in the code directory
        self.path("/tmp").mkdir(parents=True, exist_ok=True)
        lines = []
        with log.open("w") as sink, subprocess.Popen(
            [self.rewrite(part) for part in command], cwd=self.root, env=full_env, text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        ) as process:
            assert process.stdout is not None
            try:
                for line in process.stdout:
                    sink.write(line)
                    lines.append(line)
                rc = process.wait()
            except BaseException:  # Ctrl-C, SIGTERM (SystemExit): the job and anything it started
                os.killpg(process.pid, 9)
                raise
        if rc != 0:
            errors = [ln.strip() for ln in lines if ln.startswith("error:")]
            tail = errors[-1] if errors else " | ".join(ln.strip() for ln in lines[-3:] if ln.strip()) or "(no output)"
            raise JobFailed(f"exit code {rc}: {tail} (log {log})")
        return "".join(lines)


def job_env(environment: dict[str, str] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (environment or {}).items()}


# -- jobs ----------------------------------------------------------------------------------------
def processing_job(s3: Any, request: dict, root: Path) -> None:
    """CreateProcessingJob, locally: inputs in, the entry point run, outputs out."""
    container = Container(root)
    for item in request.get("ProcessingInputs", []):
        s3_input = item.get("S3Input")
        if s3_input is None:
            raise JobFailed(f"input {item.get('InputName')!r}: only S3Input is supported locally")
        download(s3, s3_input["S3Uri"], container.path(s3_input["LocalPath"]))
    outputs = request.get("ProcessingOutputConfig", {}).get("Outputs", [])
    for item in outputs:
        container.path(item["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
    app = request["AppSpecification"]
    command = [*app.get("ContainerEntrypoint", []), *app.get("ContainerArguments", [])]
    if not command:
        raise JobFailed("AppSpecification has no ContainerEntrypoint; the image's own entry point cannot run locally")
    # SM_OUTPUT_DIR: where sm_contract writes the failure message (the container's /opt/ml/output).
    env = {**job_env(request.get("Environment")), "SM_OUTPUT_DIR": str(container.path("/opt/ml/output"))}
    try:
        container.run(command, env, root / "job.log")
    except JobFailed:
        message = container.path("/opt/ml/output/message")  # what SageMaker shows as ExitMessage
        if message.is_file():
            raise JobFailed(f"{message.read_text().strip()} (log {root / 'job.log'})") from None
        raise
    for item in outputs:
        upload_dir(s3, container.path(item["S3Output"]["LocalPath"]), item["S3Output"]["S3Uri"])


def training_job(s3: Any, request: dict, root: Path, job_name: str) -> dict:
    """CreateTrainingJob, locally, as the SageMaker training toolkit runs script mode on one host.
    Returns the DescribeTrainingJob fields a pipeline may reference."""
    count = request["ResourceConfig"]["InstanceCount"]
    if count != 1:
        raise JobFailed(
            f"InstanceCount {count}: the local runner trains on one host; set pipeline.training.instance_count: 1 "
            "for local runs (tests/integration/test_distributed_training.py runs train.py on two hosts)"
        )
    container = Container(root)
    channels = {}
    for channel in request.get("InputDataConfig", []):
        name = channel["ChannelName"]
        target = container.path(f"/opt/ml/input/data/{name}")
        download(s3, channel["DataSource"]["S3DataSource"]["S3Uri"], target)
        channels[name] = {k: v for k, v in channel.items() if k in ("ContentType", "TrainingInputMode")}
    hyper = dict(request.get("HyperParameters", {}))
    program = hyper.get("sagemaker_program")
    submit = hyper.get("sagemaker_submit_directory")
    if not program or not submit:
        raise JobFailed("HyperParameters need sagemaker_program and sagemaker_submit_directory (script mode)")
    code = container.path("/opt/ml/code")
    source = container.path(submit) if submit.startswith("/") else None
    if source is None or not source.is_file():
        raise JobFailed(f"sagemaker_submit_directory {submit!r} is not a file of an input channel")
    extract(source, code)
    config = container.path("/opt/ml/input/config")
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyper))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": HOST, "hosts": [HOST]}))
    (config / "inputdataconfig.json").write_text(json.dumps(channels))
    model_dir, output_dir = container.path("/opt/ml/model"), container.path("/opt/ml/output")
    model_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "data").mkdir(parents=True, exist_ok=True)
    user = {k: v for k, v in sorted(hyper.items()) if not k.startswith("sagemaker_")}
    env = {
        **job_env(request.get("Environment")),
        **{f"SM_CHANNEL_{name.upper()}": str(container.path(f"/opt/ml/input/data/{name}")) for name in channels},
        "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_HPS": json.dumps(user),
        "SM_MODEL_DIR": str(model_dir),
        "SM_OUTPUT_DIR": str(output_dir),
        "SM_OUTPUT_DATA_DIR": str(output_dir / "data"),
        "SM_INPUT_DIR": str(container.path("/opt/ml/input")),
        "SM_INPUT_CONFIG_DIR": str(config),
        "SM_HOSTS": json.dumps([HOST]),
        "SM_CURRENT_HOST": HOST,
        "SM_NUM_GPUS": "0",
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "SM_MODULE_NAME": program.removesuffix(".py"),
        "SM_TRAINING_ENV": json.dumps({"job_name": job_name, "hosts": [HOST], "current_host": HOST}),
    }
    # As the toolkit's to_cmd_args writes them: --name value (-n value for one-letter names).
    args = [part for name, value in user.items() for part in (f"{'-' if len(name) == 1 else '--'}{name}", str(value))]
    # CheckpointConfig: SageMaker syncs /opt/ml/checkpoints with S3. Locally that path does not exist,
    # so the script sees no checkpoint directory; the command line stays exactly the toolkit's.
    try:
        # Container paths in the command (run() maps them), as the toolkit runs /opt/ml/code/<program>.
        output = container.run(["python3", f"/opt/ml/code/{program}", *args], env, root / "job.log")
    except JobFailed:
        failure = output_dir / "failure"
        if failure.is_file():
            raise JobFailed(f"{failure.read_text().strip()} (log {root / 'job.log'})") from None
        raise
    prefix = f"{request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job_name}/output"
    upload_tarball(s3, model_dir, f"{prefix}/model.tar.gz")
    if any((output_dir / "data").iterdir()):
        upload_tarball(s3, output_dir / "data", f"{prefix}/output.tar.gz")
    metrics = {}
    for definition in request.get("AlgorithmSpecification", {}).get("MetricDefinitions", []):
        values = re.findall(definition["Regex"], output)
        if values:
            metrics[definition["Name"]] = float(values[-1])
    return {
        "TrainingJobName": job_name,
        "TrainingJobStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": f"{prefix}/model.tar.gz"},
        "FinalMetricDataList": [{"MetricName": k, "Value": v} for k, v in metrics.items()],
        "HyperParameters": hyper,
    }


@contextmanager
def serving(model_dir: Path) -> Iterator[str]:
    """serve.py (the hosting contract) on a free port for ``model_dir``; yields its base URL."""
    sys.path.insert(0, str(SERVE.parent))
    try:
        import serve
    finally:
        sys.path.remove(str(SERVE.parent))
    from local.emulator import free_port

    port = free_port()
    try:
        process = serve.start_process(str(model_dir), port)
    except RuntimeError as error:
        raise JobFailed(str(error)) from None
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()


def invoke(connection: http.client.HTTPConnection, body: bytes, content_type: str, accept: str) -> bytes:
    connection.request("POST", "/invocations", body=body, headers={"Content-Type": content_type, "Accept": accept})
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200:
        raise JobFailed(f"POST /invocations answered {response.status}: {payload.decode(errors='replace')[:300]}")
    return payload


def csv_filter(expression: str | None, what: str) -> Callable[[list[str]], list[str]]:
    """Batch transform's JSONPath filters on CSV records: $, $[a:b], $[i,j,...]."""
    if expression in (None, "$"):
        return lambda fields: fields
    match = re.fullmatch(r"\$\[(-?\d*):(-?\d*)\]", expression)
    if match:
        lo, hi = (int(v) if v else None for v in match.groups())
        return lambda fields: fields[lo:hi]
    match = re.fullmatch(r"\$\[(-?\d+(?:\s*,\s*-?\d+)*)\]", expression)
    if match:
        indexes = [int(v) for v in match.group(1).split(",")]
        return lambda fields: [fields[i] for i in indexes]
    raise JobFailed(f"{what} {expression!r} is not supported locally (allowed: $, $[a:b], $[i,j,...])")


def transform_job(s3: Any, request: dict, model_data_url: str, root: Path) -> int:
    """CreateTransformJob, locally: serve.py answers MultiRecord batches of the input's lines.
    Returns the number of records written."""
    source = request["TransformInput"]
    if request.get("BatchStrategy", "MultiRecord") != "MultiRecord" or request["TransformOutput"].get("AssembleWith", "Line") != "Line":
        raise JobFailed("only BatchStrategy MultiRecord with AssembleWith Line is supported locally")
    if source.get("ContentType", "text/csv") != "text/csv" or source.get("SplitType") != "Line":
        raise JobFailed("only text/csv input split by Line is supported locally")
    output = request["TransformOutput"]
    accept = output.get("Accept", "text/csv")
    processing = request.get("DataProcessing", {})
    input_filter = csv_filter(processing.get("InputFilter"), "InputFilter")
    output_filter = csv_filter(processing.get("OutputFilter"), "OutputFilter")
    join = processing.get("JoinSource", "None") == "Input"
    limit = int(request.get("MaxPayloadInMB", 6)) * 1024 * 1024
    container = Container(root)
    archive = container.path("/opt/ml/model.tar.gz")
    archive.parent.mkdir(parents=True, exist_ok=True)
    s3.download_file(*split_uri(model_data_url), str(archive))
    model_dir = extract(archive, container.path("/opt/ml/model"))
    input_dir = container.path("/opt/ml/input/transform")
    inputs = download(s3, source["DataSource"]["S3DataSource"]["S3Uri"], input_dir)
    written = 0
    with serving(model_dir) as address:
        connection = http.client.HTTPConnection(address, timeout=60)
        for path in inputs:
            records = [line.split(",") for line in path.read_text().splitlines() if line.strip()]
            results: list[str] = []
            batch: list[list[str]] = []
            size = 0

            def flush() -> None:
                nonlocal batch, size
                if batch:
                    body = "\n".join(",".join(input_filter(r)) for r in batch).encode()
                    predictions = invoke(connection, body, "text/csv", accept).decode().splitlines()
                    if len(predictions) != len(batch):
                        raise JobFailed(f"{path.name}: {len(batch)} records sent, {len(predictions)} predictions back")
                    for record, prediction in zip(batch, predictions):
                        fields = (record if join else []) + prediction.split(",")
                        results.append(",".join(output_filter(fields)))
                batch, size = [], 0

            for record in records:
                line_size = sum(len(f) + 1 for f in record)
                if size + line_size > limit:
                    flush()
                batch.append(record)
                size += line_size
            flush()
            # <output path>/<the input's key below the input prefix>.out, sub-folders kept (as SageMaker names them)
            bucket, key = split_uri(f"{output['S3OutputPath'].rstrip('/')}/{path.relative_to(input_dir).as_posix()}.out")
            s3.put_object(Bucket=bucket, Key=key, Body=("\n".join(results) + "\n").encode())
            written += len(results)
        connection.close()
    return written


def lambda_invoke(code_dir: Path, handler: str, event: dict, env: dict[str, str], log: Path, timeout: float = 900) -> Any:
    """A Python Lambda handler ('module.function') in a fresh interpreter, as Lambda runs it;
    the event on stdin, the return value as JSON on the last line of stdout."""
    module, _, function = handler.rpartition(".")
    runner = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(code_dir)!r})\n"
        f"from {module} import {function} as handler\n"
        "result = handler(json.load(sys.stdin), None)\n"
        "print('\\n' + json.dumps(result))\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    try:
        proc = subprocess.run([sys.executable, "-c", runner], input=json.dumps(event), text=True, capture_output=True,
                              env={**base, **env, "PYTHONDONTWRITEBYTECODE": "1"}, timeout=timeout + 5)  # + interpreter start
    except subprocess.TimeoutExpired:
        raise JobFailed(f"handler {handler} ran longer than the function's timeout of {timeout:g} s") from None
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        last = [ln for ln in proc.stderr.splitlines() if ln.strip()][-1:] or ["(no output)"]
        raise JobFailed(f"handler {handler} failed: {last[0]} (log {log})")
    return json.loads(proc.stdout.rstrip().splitlines()[-1])

