"""Run the synthesized SageMaker Pipeline on this machine, against the emulator.

    python -m local.pipeline_runner --env dev --endpoint-url http://localhost:PORT [-p MinAuc=0.8]

The definition is the one in cdk.out (the template's Fn::Join resolved with what the
emulator deployed), so a wiring mistake in it fails here as it would in SageMaker: the
pipeline's parameters, `Get` property references, `Std:Join`, `Std:JsonGet` on property
files and condition steps are evaluated as SageMaker evaluates them. Steps run in
dependency order, one at a time:

    Processing, Training  the job on this machine under the container contract (local/sagemaker_jobs.py)
    Lambda                the deployed function's code (from the emulated S3 object) in a fresh interpreter
    Condition             evaluated, then its If or Else steps
    RegisterModel, Model  CreateModelPackage / CreateModel in the emulator (the emulated Model Registry)
    Transform             batch transform through serve.py (the hosting contract)
    Fail                  ends the execution with its message

Any other step type fails before anything runs, naming the step and its type. Retry
policies, caching and parallelism are not emulated.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import secrets
import string
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from local import sagemaker_jobs as jobs
from local.cloud_assembly import AssemblyError, Resolver, StackTemplate, find_stack
from local.emulator import ACCOUNT, Emulator

REPO_ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = ("Processing", "Training", "Lambda", "Condition", "RegisterModel", "Model", "Transform", "Fail")
PATH_TOKEN = re.compile(r"\.?(?:([A-Za-z_][\w-]*)|\[(-?\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\])")
#: Fields whose value names a list element, so Outputs['train'] finds {"OutputName": "train", ...}.
NAME_FIELDS = ("OutputName", "InputName", "ChannelName", "Name", "MetricName", "PropertyFileName")


class PipelineError(RuntimeError):
    """The definition, a parameter or the deployment cannot be run; one line naming what and why."""


# -- the definition's expression language ---------------------------------------------------------
def parse_path(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    position = 0
    while position < len(path):
        match = PATH_TOKEN.match(path, position)
        if not match or match.end() == position:
            raise PipelineError(f"cannot parse property path {path!r} at {path[position:]!r}")
        name, index, quoted, double = match.groups()
        tokens.append(int(index) if index is not None else (name or quoted or double or ""))
        position = match.end()
    return tokens


def lookup(value: Any, tokens: list[str | int], what: str) -> Any:
    for depth, token in enumerate(tokens):
        where = f"{what}: {'.'.join(map(str, tokens[:depth + 1]))}"
        if isinstance(token, int):
            if not isinstance(value, list) or not -len(value) <= token < len(value):
                raise PipelineError(f"{where} is out of range")
            value = value[token]
        elif isinstance(value, dict):
            if token not in value:
                raise PipelineError(f"{where} does not exist (there: {', '.join(sorted(map(str, value))) or 'nothing'})")
            value = value[token]
        elif isinstance(value, list):
            named = [v for v in value if isinstance(v, dict) and any(v.get(f) == token for f in NAME_FIELDS)]
            if len(named) != 1:
                names = [next((v[f] for f in NAME_FIELDS if f in v), "?") for v in value if isinstance(v, dict)]
                raise PipelineError(f"{where} does not exist (there: {', '.join(map(str, names)) or 'nothing'})")
            value = named[0]
        else:
            raise PipelineError(f"{where}: cannot look into a {type(value).__name__}")
    return value


def referenced_steps(value: Any) -> set[str]:
    """Names of the steps whose properties an expression reads."""
    found: set[str] = set()
    if isinstance(value, dict):
        if set(value) == {"Get"} and isinstance(value["Get"], str) and value["Get"].startswith("Steps."):
            found.add(str(parse_path(value["Get"])[1]))
        for item in value.values():
            found |= referenced_steps(item)
    elif isinstance(value, list):
        for item in value:
            found |= referenced_steps(item)
    return found


def parameter_value(spec: dict, raw: Any, source: str) -> Any:
    name, kind = spec["Name"], spec.get("Type", "String")
    try:
        if kind == "Float":
            value: Any = float(raw)
            if not math.isfinite(value):
                raise ValueError
        elif kind == "Integer":
            value = int(raw)
        elif kind == "Boolean":
            if str(raw).lower() not in ("true", "false"):
                raise ValueError
            value = str(raw).lower() == "true"
        else:
            value = str(raw)
    except (TypeError, ValueError):
        raise PipelineError(f"parameter {name} ({source}) is {raw!r}; expected a {kind}") from None
    allowed = spec.get("EnumValues")
    if allowed and value not in allowed:
        raise PipelineError(f"parameter {name} ({source}) is {raw!r}; allowed: {', '.join(map(str, allowed))}")
    return value


def resolve_parameters(definition: dict, overrides: dict[str, str]) -> dict[str, Any]:
    specs = {p["Name"]: p for p in definition.get("Parameters", [])}
    unknown = sorted(set(overrides) - set(specs))
    if unknown:
        raise PipelineError(f"unknown pipeline parameter {unknown[0]!r}; the pipeline has: {', '.join(specs)}")
    values = {}
    for name, spec in specs.items():
        if name in overrides:
            values[name] = parameter_value(spec, overrides[name], "given")
        elif "DefaultValue" in spec:
            values[name] = parameter_value(spec, spec["DefaultValue"], "default")
        else:
            raise PipelineError(f"parameter {name} has no default; give it with -p {name}=VALUE")
    return values


def order(steps: list[dict], known: set[str]) -> list[dict]:
    """``steps`` in dependency order (definition order among independent ones). ``known`` are
    steps that ran before these (the parents of a condition branch)."""
    names = {s["Name"] for s in steps}
    deps = {}
    for step in steps:
        refs = referenced_steps({k: v for k, v in step.items() if k not in ("IfSteps", "ElseSteps")})
        if step["Type"] == "Condition":
            refs = referenced_steps(step["Arguments"].get("Conditions", []))
        refs |= set(step.get("DependsOn", []))
        missing = refs - names - known
        if missing:
            raise PipelineError(f"step {step['Name']} references step {sorted(missing)[0]!r}, which is not in the pipeline or runs after it")
        deps[step["Name"]] = (refs & names) - {step["Name"]}
    ordered: list[dict] = []
    done: set[str] = set()
    while len(ordered) < len(steps):
        ready = [s for s in steps if s["Name"] not in done and deps[s["Name"]] <= done]
        if not ready:
            raise PipelineError(f"steps {', '.join(sorted(names - done))} depend on each other in a cycle")
        ordered.append(ready[0])
        done.add(ready[0]["Name"])
    return ordered


def all_steps(steps: list[dict]) -> list[dict]:
    out = []
    for step in steps:
        out.append(step)
        if step.get("Type") == "Condition":
            out += all_steps(step["Arguments"].get("IfSteps", []) + step["Arguments"].get("ElseSteps", []))
    return out


def check_definition(definition: dict) -> None:
    steps = all_steps(definition.get("Steps", []))
    seen: set[str] = set()
    for step in steps:
        name, kind = step.get("Name"), step.get("Type")
        if name in seen:
            raise PipelineError(f"step name {name!r} is used twice; step names must be unique")
        seen.add(name)
        if kind not in SUPPORTED:
            raise PipelineError(
                f"step {name}: type {kind!r} is not supported by the local runner (supported: {', '.join(SUPPORTED)})"
            )
    for step in steps:
        body = {k: v for k, v in step.items() if k not in ("IfSteps", "ElseSteps")}
        if step.get("Type") == "Condition":
            body = step["Arguments"].get("Conditions", [])
        for ref in sorted((referenced_steps(body) | set(step.get("DependsOn", []))) - seen):
            raise PipelineError(f"step {step['Name']} references step {ref!r}, which the pipeline does not have")


def input_uri(definition: dict, parameter: str = "InputDataUri") -> str:
    """The default of the pipeline's input-data parameter: where the dataset must be."""
    for spec in definition.get("Parameters", []):
        if spec["Name"] == parameter and "DefaultValue" in spec:
            return str(spec["DefaultValue"])
    raise PipelineError(f"the pipeline has no parameter {parameter} with a default value")


# -- an execution ----------------------------------------------------------------------------------
@dataclass
class StepRecord:
    name: str
    type: str
    status: str  # Succeeded | Failed
    seconds: float
    detail: str = ""


@dataclass
class ExecutionResult:
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
        outputs = self.properties[step]["ProcessingOutputConfig"]["Outputs"]
        return lookup(outputs, [output], f"Steps.{step}.ProcessingOutputConfig.Outputs")["S3Output"]["S3Uri"]


@dataclass
class LambdaCode:
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

    def __init__(self, definition: dict, *, pipeline_name: str, emulator: Any, work_root: Path,
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
        self.outcomes: dict[str, Any] = {}

    @cached_property
    def s3(self) -> Any:
        return self.emulator.client("s3")

    @cached_property
    def sagemaker(self) -> Any:
        return self.emulator.client("sagemaker")

    # -- expressions ---------------------------------------------------------------------------
    def value(self, expr: Any) -> Any:
        if isinstance(expr, list):
            return [self.value(v) for v in expr]
        if not isinstance(expr, dict):
            return expr
        if set(expr) == {"Get"}:
            return self.get(expr["Get"])
        if set(expr) == {"Std:Join"}:
            spec = expr["Std:Join"]
            return str(spec.get("On", "")).join(self.render(v) for v in self.value(spec["Values"]))
        if set(expr) == {"Std:JsonGet"}:
            return self.json_get(expr["Std:JsonGet"])
        return {k: self.value(v) for k, v in expr.items()}

    @staticmethod
    def render(value: Any) -> str:
        return json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)

    def get(self, path: str) -> Any:
        tokens = parse_path(path)
        head = tokens[0]
        if head == "Parameters" and len(tokens) == 2:
            if tokens[1] not in self.result.parameters:
                raise PipelineError(f"{path}: the pipeline has no parameter {tokens[1]!r}")
            return self.result.parameters[tokens[1]]
        if head == "Execution" and len(tokens) == 2:
            return lookup(self.execution, tokens[1:], "Execution")
        if head == "Steps" and len(tokens) >= 3:
            step = str(tokens[1])
            if step not in self.result.properties:
                raise PipelineError(f"{path}: step {step} has not run (or failed)")
            return lookup(self.result.properties[step], tokens[2:], f"Steps.{step}")
        raise PipelineError(f"cannot resolve {path!r} (expected Parameters.<name>, Execution.<field> or Steps.<step>.<property>)")

    def json_get(self, spec: dict) -> Any:
        ref = spec.get("PropertyFile")
        ref_path = ref["Get"] if isinstance(ref, dict) and "Get" in ref else str(ref)
        tokens = parse_path(ref_path)
        if len(tokens) != 4 or tokens[0] != "Steps" or tokens[2] != "PropertyFiles":
            raise PipelineError(f"Std:JsonGet: PropertyFile {ref!r} is not Steps.<step>.PropertyFiles.<name>")
        step, name = str(tokens[1]), str(tokens[3])
        files = self.property_files.get(step)
        if files is None or name not in files:
            raise PipelineError(f"Std:JsonGet: step {step} has no property file {name!r} (or has not run)")
        declaration = files[name]
        uri = f"{self.result.output_uri(step, declaration['OutputName']).rstrip('/')}/{declaration['FilePath']}"
        bucket, key = jobs.split_uri(uri)
        try:
            document = json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as error:  # noqa: BLE001 - any reason the file is unusable is one message
            raise PipelineError(f"Std:JsonGet: cannot read property file {name} at {uri}: {error}") from None
        return lookup(document, parse_path(spec["Path"]), f"{name} ({uri})")

    def condition(self, cond: dict) -> bool:
        kind = cond.get("Type")
        if kind == "Not":
            return not self.condition(cond["Expression"])
        if kind == "Or":
            return any([self.condition(c) for c in cond["Conditions"]])  # every one evaluated: a bad reference fails
        if kind == "In":
            return self.value(cond["QueryValue"]) in self.value(cond["Values"])
        left, right = self.value(cond.get("LeftValue")), self.value(cond.get("RightValue"))
        if kind == "Equals":
            return left == right if not _numbers(left, right) else float(left) == float(right)
        compare = {"GreaterThan": float.__gt__, "GreaterThanOrEqualTo": float.__ge__,
                   "LessThan": float.__lt__, "LessThanOrEqualTo": float.__le__}.get(kind)
        if compare is None:
            raise PipelineError(f"condition type {kind!r} is not supported (Equals, GreaterThan[OrEqualTo], LessThan[OrEqualTo], In, Not, Or)")
        if not _numbers(left, right):
            raise PipelineError(f"condition {kind}: {left!r} and {right!r} are not both numbers")
        return compare(float(left), float(right))

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
        jobs.processing_job(self.s3, request, self.result.step_dir(step["Name"]))
        self.property_files[step["Name"]] = {f["PropertyFileName"]: f for f in step.get("PropertyFiles", [])}
        outputs = [o["OutputName"] for o in request.get("ProcessingOutputConfig", {}).get("Outputs", [])]
        return ({**request, "ProcessingJobName": self.job_name(step["Name"]), "ProcessingJobStatus": "Completed"},
                f"outputs {', '.join(outputs)}")

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
            values[out_name] = self.render(output[out_name]) if spec.get("OutputType", "String") == "String" else output[out_name]
        summary = ", ".join(f"{k}={v}" for k, v in values.items())
        return {"OutputParameters": values}, summary

    def step_condition(self, step: dict) -> tuple[dict, str]:
        # Every condition is evaluated (no short cut): a wrong reference in the second one must fail
        # even when the first is already false.
        outcome = all([self.condition(c) for c in step["Arguments"].get("Conditions", [])])
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
        except Exception as error:  # noqa: BLE001
            raise PipelineError(f"CreateModel: {error}") from None
        return {"ModelName": model_name, **request}, model_name

    def step_transform(self, step: dict) -> tuple[dict, str]:
        request = self.value(step["Arguments"])
        try:
            model = self.sagemaker.describe_model(ModelName=request["ModelName"])
        except Exception as error:  # noqa: BLE001
            raise PipelineError(f"model {request.get('ModelName')!r}: {error}") from None
        url = model["PrimaryContainer"]["ModelDataUrl"]
        count = jobs.transform_job(self.s3, request, url, self.result.step_dir(step["Name"]))
        return ({**request, "TransformJobName": self.job_name(step["Name"]), "TransformJobStatus": "Completed"},
                f"{count} records to {request['TransformOutput']['S3OutputPath']}")

    def step_fail(self, step: dict) -> tuple[dict, str]:
        message = self.render(self.value(step.get("Arguments", {}).get("ErrorMessage", "")))
        raise _Stop(message or f"fail step {step['Name']} reached")


class _Stop(Exception):
    """Ends an execution (a failed step or a Fail step); the message is the failure reason."""


def _numbers(*values: Any) -> bool:
    for value in values:
        if isinstance(value, bool):
            return False
        try:
            float(value)
        except (TypeError, ValueError):
            return False
    return True


# -- the deployed pipeline -------------------------------------------------------------------------
@dataclass
class DeployedPipeline:
    name: str
    definition: dict
    stack: StackTemplate
    resolver: Resolver

    def execution(self, emulator: Any, *, work_root: Path, parameters: dict[str, str] | None = None,
                  say: Callable[[str], None] = print) -> LocalExecution:
        """A new execution of this pipeline, its Lambda steps running this stack's deployed code."""
        return LocalExecution(self.definition, pipeline_name=self.name, emulator=emulator, work_root=work_root,
                              lambda_code=self.lambda_code(emulator), parameters=parameters, say=say)

    def lambda_code(self, emulator: Any) -> Callable[[str, Path], LambdaCode]:
        """Finds a function of this stack by ARN and fetches its deployed code from the emulated S3."""

        def find(arn: str, root: Path) -> LambdaCode:
            name = function_name(arn)
            functions = self.stack.resources_of_type("AWS::Lambda::Function")
            logical = next((k for k in functions if self.resolver.physical.get(k) == name), None)
            if logical is None:
                raise PipelineError(f"function {arn} is not a function of stack {self.stack.stack_name}")
            props = self.resolver.resolve(functions[logical]["Properties"])
            code = props.get("Code", {})
            if "S3Bucket" not in code:
                raise PipelineError(f"function {name}: only S3 code (a CDK asset) can run locally")
            archive = root / "code.zip"
            emulator.client("s3").download_file(code["S3Bucket"], code["S3Key"], str(archive))
            configuration = emulator.client("lambda").get_function_configuration(FunctionName=name)
            environment = configuration.get("Environment", {}).get("Variables", {})
            return LambdaCode(jobs.extract(archive, root / "code"), configuration["Handler"], environment,
                              float(configuration.get("Timeout", 3)))

        return find


def training_stack_name(env_name: str) -> str:
    return f"{env_name}-TrainingPipeline"


def load_deployed_pipeline(emulator: Any, env_name: str, cdk_out: Path = REPO_ROOT / "cdk.out") -> DeployedPipeline:
    """The pipeline definition from cdk.out, resolved against the stack deployed in the emulator,
    and checked to be the definition the emulator holds (cdk.out synthesized after a deploy would
    otherwise run something that is not deployed)."""
    stack = find_stack(cdk_out, training_stack_name(env_name))
    pipelines = stack.resources_of_type("AWS::SageMaker::Pipeline")
    if len(pipelines) != 1:
        raise PipelineError(f"{stack.path.name} declares {len(pipelines)} SageMaker pipelines; expected one")
    try:
        resolver = Resolver.for_deployed(stack, emulator)
    except Exception as error:  # noqa: BLE001 - botocore's "Stack ... does not exist" and friends
        raise PipelineError(f"stack {stack.stack_name} is not deployed to the emulator ({error}); deploy the {env_name} stage first") from None
    props = resolver.resolve(next(iter(pipelines.values()))["Properties"])
    definition = json.loads(props["PipelineDefinition"]["PipelineDefinitionBody"])
    name = props["PipelineName"]
    try:
        deployed = emulator.client("sagemaker").describe_pipeline(PipelineName=name)
    except Exception:  # noqa: BLE001
        raise PipelineError(f"pipeline {name} is not deployed to the emulator; deploy the {env_name} stage first") from None
    if json.loads(deployed["PipelineDefinition"]) != definition:
        raise PipelineError(f"cdk.out's definition of {name} differs from the deployed one (synthesized after the deploy?); deploy again")
    return DeployedPipeline(name, definition, stack, resolver)


def run_pipeline(emulator: Any, env_name: str, *, work_root: Path, parameters: dict[str, str] | None = None,
                 cdk_out: Path = REPO_ROOT / "cdk.out", say: Callable[[str], None] = print) -> ExecutionResult:
    pipeline = load_deployed_pipeline(emulator, env_name, cdk_out)
    execution = pipeline.execution(emulator, work_root=work_root, parameters=parameters, say=say)
    say(f"  execution {execution.result.execution_id} of {pipeline.name} (work files in {shown(execution.result.work_dir)})")
    return execution.run()


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (for messages)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def parse_assignments(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise PipelineError(f"-p {item!r}: expected NAME=VALUE, e.g. -p MinAuc=0.8")
        out[name] = value
    return out


def local_endpoint(url: str) -> str:
    """Only an emulator on this machine: never a real AWS endpoint."""
    parsed = urlparse(url)
    if parsed.scheme != "http" or parsed.hostname not in ("localhost", "127.0.0.1") or not parsed.port:
        raise PipelineError(f"--endpoint-url {url!r} is not a local emulator; expected http://localhost:PORT")
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.pipeline_runner", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev", help="the deployed stage whose pipeline runs (default dev)")
    parser.add_argument("--endpoint-url", required=True, help="the emulator, e.g. http://localhost:PORT (python -m local.emulator)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE", help="a pipeline parameter")
    parser.add_argument("--cdk-out", type=Path, default=REPO_ROOT / "cdk.out")
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / ".demo" / "executions")
    args = parser.parse_args(argv)
    try:
        port = urlparse(local_endpoint(args.endpoint_url)).port
        result = run_pipeline(Emulator(port=port), args.env, work_root=args.work_dir,
                              parameters=parse_assignments(args.parameter), cdk_out=args.cdk_out)
    except (PipelineError, AssemblyError) as error:
        print(f"pipeline_runner: {error}", file=sys.stderr)
        return 2
    if not result.succeeded:
        print(f"execution {result.execution_id} failed: {result.failure}", file=sys.stderr)
        return 1
    print(f"execution {result.execution_id} succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
