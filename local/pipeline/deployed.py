"""The pipeline as deployed: its definition from cdk.out, resolved against the emulator's stacks."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import naming
from local import jobs
from local.cloud_assembly import Resolver, StackTemplate, find_stack
from local.emulator import Emulator
from local.paths import CDK_OUT, shown
from local.pipeline.execution import (
    ExecutionResult,
    LambdaCode,
    LocalExecution,
    function_name,
)
from local.pipeline.expressions import PipelineError


@dataclass
class DeployedPipeline:
    """The pipeline a deployed training stack declares: its name, its resolved definition, and its stack."""

    name: str
    definition: dict
    stack: StackTemplate
    resolver: Resolver

    def execution(self, emulator: Emulator, *, work_root: Path, parameters: dict[str, str] | None = None,
                  say: Callable[[str], None] = print) -> LocalExecution:
        """A new execution of this pipeline, its Lambda steps running this stack's deployed code."""
        return LocalExecution(self.definition, pipeline_name=self.name, emulator=emulator, work_root=work_root,
                              lambda_code=self.lambda_code(emulator), parameters=parameters, say=say)

    def lambda_code(self, emulator: Emulator) -> Callable[[str, Path], LambdaCode]:
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


def load_deployed_pipeline(emulator: Emulator, env_name: str, model: str, cdk_out: Path = CDK_OUT) -> DeployedPipeline:
    """A model's pipeline definition from cdk.out, resolved against the stack deployed in the emulator,
    and checked to be the definition the emulator holds (cdk.out synthesized after a deploy would
    otherwise run something that is not deployed)."""
    stack = find_stack(cdk_out, naming.model_stack_name(env_name, model, naming.TRAINING_STACK))
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
    except Exception:  # noqa: BLE001 - whatever the emulator answers, the pipeline is not there to run
        raise PipelineError(f"pipeline {name} is not deployed to the emulator; deploy the {env_name} stage first") from None
    if json.loads(deployed["PipelineDefinition"]) != definition:
        raise PipelineError(f"cdk.out's definition of {name} differs from the deployed one (synthesized after the deploy?); deploy again")
    return DeployedPipeline(name, definition, stack, resolver)


def run_pipeline(emulator: Emulator, env_name: str, model: str, *, work_root: Path, parameters: dict[str, str] | None = None,
                 cdk_out: Path = CDK_OUT, say: Callable[[str], None] = print) -> ExecutionResult:
    pipeline = load_deployed_pipeline(emulator, env_name, model, cdk_out)
    execution = pipeline.execution(emulator, work_root=work_root, parameters=parameters, say=say)
    say(f"  execution {execution.result.execution_id} of {pipeline.name} (work files in {shown(execution.result.work_dir)})")
    return execution.run()

