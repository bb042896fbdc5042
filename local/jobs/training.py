"""CreateTrainingJob, locally, as the SageMaker training toolkit runs script mode on one host."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from local.jobs.container import HOST, Container, extract, job_env
from local.jobs.errors import JobFailed
from local.jobs.s3 import download, upload_tarball


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
    args = command_args(user)
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


def command_args(hyperparameters: dict[str, str]) -> list[str]:
    """The program's command line, as the training toolkit of SageMaker's XGBoost image builds it (sagemaker-containers
    2.8.6: _env.read_hyperparameters reads each value as JSON where it parses, then _mapping.to_cmd_args writes
    --name value, -n for a one-letter name, in name order; a mapping as k=v,...). A test compares it with the toolkit."""
    def decoded(text: str) -> str:
        try:
            value = json.loads(text)
        except (ValueError, TypeError):
            return text
        if isinstance(value, dict):
            return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
        return "" if value is None else str(value)

    return [part for name, text in sorted(hyperparameters.items())
            for part in (f"{'-' if len(name) == 1 else '--'}{name}", decoded(text))]
