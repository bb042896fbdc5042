"""CreateProcessingJob, locally: inputs in, the entry point run, outputs out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from local.jobs.container import Container, job_env
from local.jobs.errors import JobFailed
from local.jobs.s3 import download, upload_dir

#: A line a step's script prints to say something is off but not fatal (preprocess.py: an identifier-like column):
#: in AWS it is in the job's CloudWatch log; locally the runner shows it under the step.
WARNING_PREFIX = "warning: "


def processing_job(s3: Any, request: dict, root: Path) -> list[str]:
    """CreateProcessingJob, locally: inputs in, the entry point run, outputs out. Returns the script's warnings
    (its log's lines that start with WARNING_PREFIX, without it)."""
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
    log = root / "job.log"
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    return [line.removeprefix(WARNING_PREFIX) for line in lines if line.startswith(WARNING_PREFIX)]

