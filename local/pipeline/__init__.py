"""The deployed SageMaker pipeline, run on this machine against the emulator.

    expressions.py  the definition's expression language (Get, Std:Join, Std:JsonGet, conditions)
    definition.py   checks before anything runs: step types, references, order, parameters
    execution.py    one execution, step by step (jobs from local/jobs/)
    deployed.py     the definition from cdk.out, resolved against the deployed stacks
    cli.py          python -m local.pipeline
"""

from local.pipeline.definition import input_uri, parse_assignments
from local.pipeline.deployed import (
    DeployedPipeline,
    load_deployed_pipeline,
    run_pipeline,
)
from local.pipeline.execution import ExecutionResult, LocalExecution, StepRecord
from local.pipeline.expressions import PipelineError

__all__ = [
    "DeployedPipeline", "ExecutionResult", "LocalExecution", "PipelineError", "StepRecord", "input_uri",
    "load_deployed_pipeline", "parse_assignments", "run_pipeline",
]
