"""One execution of a pipeline definition on this machine, step by step.

Steps run in dependency order, one at a time:

    Processing, Training  the job on this machine under the container contract (local/jobs/)
    Lambda                the deployed function's code (from the emulated S3 object) in a fresh interpreter
    Condition             evaluated, then its If or Else steps
    RegisterModel, Model  CreateModelPackage / CreateModel in the emulator (the emulated Model Registry)
    Transform             batch transform through serve.py (the hosting contract)
    Fail                  ends the execution with its message

Retry policies, caching and parallelism are not emulated.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from local import jobs
from local.cloud_assembly import AssemblyError
from local.emulator import ACCOUNT, Emulator
from local.pipeline.definition import check_definition, order, resolve_parameters
from local.pipeline.expressions import (
    Expressions,
    PipelineError,
    processing_output_uri,
    render,
)


@dataclass
class StepRecord:
    """How one step of an execution ended, and how long it took."""

    name: str
    type: str
    status: str  # Succeeded | Failed
    seconds: float
    detail: str = ""


@dataclass
class ExecutionResult:
    """An execution's outcome: status, failure reason, the steps' records and the properties they produced."""

    pipeline_name: str
    execution_id: str
    parameters: dict[str, Any]
    work_dir: Path
    status: str = "Executing"
    failure: str | None = None
    steps: list[StepRecord] = field(default_factory=list)
    properties: dict[str, dict] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded"

    def step_dir(self, step: str) -> Path:
        return self.work_dir / step

    def output_uri(self, step: str, output: str) -> str:
        """S3 URI of a processing step's named output (ProcessingOutputConfig.Outputs['<output>'])."""
        return processing_output_uri(self.properties, step, output)


@dataclass
class LambdaCode:
    """A deployed Lambda function as the local runner runs it: code directory, handler, environment, timeout."""

    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: float = 900.0


def function_name(arn: str) -> str:
    """arn:aws:lambda:<region>:<account>:function:<name>[:<version or alias>] -> name."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
        raise PipelineError(f"FunctionArn {arn!r} is not a Lambda function ARN")
    return parts[6]


class LocalExecution:
    """One execution of ``definition``. ``lambda_code`` finds a deployed function's code by ARN."""

    def __init__(self, definition: dict, *, pipeline_name: str, emulator: Emulator, work_root: Path,
                 lambda_code: Callable[[str, Path], LambdaCode], parameters: dict[str, str] | None = None,
                 say: Callable[[str], None] = print) -> None:
        check_definition(definition)
        self.definition = definition
        self.emulator = emulator
        self.lambda_code = lambda_code
        self.say = say
        execution_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12))
        self.result = ExecutionResult(pipeline_name, execution_id, resolve_parameters(definition, parameters or {}),
                                      work_root / execution_id)
        self.execution = {
            "PipelineExecutionId": execution_id,
            "PipelineName": pipeline_name,
            "PipelineExecutionArn": f"arn:aws:sagemaker:{emulator.region}:{ACCOUNT}:pipeline/{pipeline_name}/execution/{execution_id}",
        }
        self.property_files: dict[str, dict[str, dict]] = {}  # step -> property file name -> declaration
        self.expressions = Expressions(parameters=self.result.parameters, execution=self.execution,
                                       properties=self.result.properties, property_files=self.property_files,
                                       read_json=self.read_json)

    def value(self, expr: Any) -> Any:
        return self.expressions.value(expr)

    def read_json(self, uri: str) -> Any:
        bucket, key = jobs.split_uri(uri)
        return json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    @cached_property
    def s3(self) -> Any:
        return self.emulator.client("s3")

    @cached_property
    def sagemaker(self) -> Any:
        return self.emulator.client("sagemaker")

    # -- running ---------------------------------------------------------------------------------
    def run(self) -> ExecutionResult:
        self.result.work_dir.mkdir(parents=True, exist_ok=True)
        self.result.status = "Executing"
        try:
            self.run_steps(self.definition["Steps"], set())
            self.result.status = "Succeeded"
        except _Stop as stop:
            self.result.status, self.result.failure = "Failed", str(stop)
        return self.result

    def run_steps(self, steps: list[dict], known: set[str]) -> None:
        for step in order(steps, known):
            self.run_step(step)
            known = known | {step["Name"]}

    def run_step(self, step: dict) -> None:
        name, kind = step["Name"], step["Type"]
        self.say(f"  - {name} ({kind}) ...")
        started = time.perf_counter()
        try:
            properties, detail = getattr(self, f"step_{kind.lower()}")(step)
        except _Stop as stop:
            self.record(name, kind, "Failed", started, str(stop))
            raise
        except (jobs.JobFailed, PipelineError, AssemblyError) as error:
            self.record(name, kind, "Failed", started, str(error))
            raise _Stop(f"step {name} ({kind}) failed: {error}") from None
        except Exception as error:  # noqa: BLE001 - an S3/registry answer, an unreadable archive: one line, step named
            reason = " ".join(f"{type(error).__name__}: {error}".split())
            self.record(name, kind, "Failed", started, reason)
            raise _Stop(f"step {name} ({kind}) failed: {reason}") from None
        self.result.properties[name] = properties
        self.record(name, kind, "Succeeded", started, detail)
        if kind == "Condition":
            branch = "IfSteps" if properties["Outcome"] else "ElseSteps"
            self.run_steps(step["Arguments"].get(branch, []), set(self.result.properties))

    def record(self, name: str, kind: str, status: str, started: float, detail: str) -> None:
        seconds = time.perf_counter() - started
        self.result.steps.append(StepRecord(name, kind, status, seconds, detail))
        mark = "ok" if status == "Succeeded" else "FAILED"
        self.say(f"    {mark} in {seconds:.1f}s{': ' + detail if detail else ''}")

    def job_name(self, step: str) -> str:
        return f"pipelines-{self.result.execution_id}-{step}"[:63]

    def step_processing(self, step: dict) -> tuple[dict, str]:
        request = self.value(step["Arguments"])
        warnings = jobs.processing_job(self.s3, request, self.result.step_dir(step["Name"]))
        self.property_files[step["Name"]] = {f["PropertyFileName"]: f for f in step.get("PropertyFiles", [])}
        outputs = [o["OutputName"] for o in request.get("ProcessingOutputConfig", {}).get("Outputs", [])]
        return ({**request, "ProcessingJobName": self.job_name(step["Name"]), "ProcessingJobStatus": "Completed"},
                f"outputs {', '.join(outputs)}" + "".join(f"\n      warning: {w}" for w in warnings))

    def step_training(self, step: dict) -> tuple[dict, str]:
        request = self.value(step["Arguments"])
        described = jobs.training_job(self.s3, request, self.result.step_dir(step["Name"]), self.job_name(step["Name"]))
        metrics = ", ".join(f"{m['MetricName']} {m['Value']:.4f}" for m in described["FinalMetricDataList"])
        return {**request, **described}, metrics

    def step_lambda(self, step: dict) -> tuple[dict, str]:
        arn = self.value(step["FunctionArn"])
        event = self.value(step.get("Arguments", {}))
        root = self.result.step_dir(step["Name"])
        root.mkdir(parents=True, exist_ok=True)
        code = self.lambda_code(arn, root)
        env = {**self.emulator.aws_env(), **code.environment, "AWS_LAMBDA_FUNCTION_NAME": function_name(arn)}
        output = jobs.lambda_invoke(code.code_dir, code.handler, event, env, root / "function.log", timeout=code.timeout)
        if not isinstance(output, dict):
            raise PipelineError(f"the function returned {type(output).__name__}, not a JSON object")
        values = {}
        for spec in step.get("OutputParameters", []):
            out_name = spec["OutputName"]
            if out_name not in output:
                raise PipelineError(f"the function's result has no {out_name!r} (it returned: {', '.join(output)})")
            values[out_name] = render(output[out_name]) if spec.get("OutputType", "String") == "String" else output[out_name]
        summary = ", ".join(f"{k}={v}" for k, v in values.items())
        return {"OutputParameters": values}, summary

    def step_condition(self, step: dict) -> tuple[dict, str]:
        # Every condition is evaluated (no short cut): a wrong reference in the second one must fail
        # even when the first is already false.
        outcome = all([self.expressions.condition(c) for c in step["Arguments"].get("Conditions", [])])
        return {"Outcome": outcome}, f"outcome {str(outcome).lower()}"

    def step_registermodel(self, step: dict) -> tuple[dict, str]:
        request = self.value(step["Arguments"])
        try:
            arn = self.sagemaker.create_model_package(**request)["ModelPackageArn"]
        except Exception as error:  # noqa: BLE001 - botocore validation or the registry's answer, one line
            raise PipelineError(f"CreateModelPackage: {error}") from None
        return {"ModelPackageArn": arn, **request}, f"{arn} ({request.get('ModelApprovalStatus', 'PendingManualApproval')})"

    def step_model(self, step: dict) -> tuple[dict, str]:
        request = self.value(step["Arguments"])
        model_name = self.job_name(step["Name"])
        try:
            self.sagemaker.create_model(ModelName=model_name, **request)
        except Exception as error:  # noqa: BLE001 - botocore validation or the emulator's answer, one line
            raise PipelineError(f"CreateModel: {error}") from None
        return {"ModelName": model_name, **request}, model_name

    def step_transform(self, step: dict) -> tuple[dict, str]:
        request = self.value(step["Arguments"])
        try:
            model = self.sagemaker.describe_model(ModelName=request["ModelName"])
        except Exception as error:  # noqa: BLE001 - a missing model or the emulator's answer, one line
            raise PipelineError(f"model {request.get('ModelName')!r}: {error}") from None
        url = model["PrimaryContainer"]["ModelDataUrl"]
        count = jobs.transform_job(self.s3, request, url, self.result.step_dir(step["Name"]))
        return ({**request, "TransformJobName": self.job_name(step["Name"]), "TransformJobStatus": "Completed"},
                f"{count} records to {request['TransformOutput']['S3OutputPath']}")

    def step_fail(self, step: dict) -> tuple[dict, str]:
        message = render(self.value(step.get("Arguments", {}).get("ErrorMessage", "")))
        raise _Stop(message or f"fail step {step['Name']} reached")



class _Stop(Exception):
    """Ends an execution (a failed step or a Fail step); the message is the failure reason."""

