"""The local pipeline runner's evaluation of a definition: parameters, property references,
Std:Join / Std:JsonGet, conditions, ordering, and the refusals that name what is wrong.

Small definitions run against a real emulator (moto server, started here); the whole
pipeline on the deployed dev stage runs in tests/integration/test_deploy_dev.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.cloud_assembly import AssemblyError, Resolver, StackTemplate
from local.jobs import Container, JobFailed, csv_filter
from local.pipeline.cli import local_endpoint
from local.pipeline.definition import (
    check_definition,
    order,
    parse_assignments,
    resolve_parameters,
)
from local.pipeline.execution import LambdaCode, LocalExecution, function_name
from local.pipeline.expressions import PipelineError, lookup, parse_path
from stacks.training.pipeline_definition import build_definition
from tests.helpers.pipelines import RESOURCES, pipeline

BUCKET = "reports"


@pytest.fixture(scope="module")
def emulator(emulator):
    """The module's emulator with the bucket the definitions write to."""
    emulator.client("s3").create_bucket(Bucket=BUCKET)
    return emulator


def no_lambda(arn, root):  # pragma: no cover - these definitions have no Lambda step
    raise AssertionError(arn)


def execute(emulator, tmp_path, steps, parameters=None, overrides=None):
    definition = {"Version": "2020-12-01", "Parameters": parameters or [], "Steps": steps}
    lines: list[str] = []
    run = LocalExecution(definition, pipeline_name="p", emulator=emulator, work_root=tmp_path, lambda_code=no_lambda,
                         parameters=overrides, say=lines.append)
    return run.run(), lines


def fail(name, message, **extra):
    return {"Name": name, "Type": "Fail", "Arguments": {"ErrorMessage": message}, **extra}


def condition(name, conditions, if_steps=(), else_steps=()):
    return {"Name": name, "Type": "Condition",
            "Arguments": {"Conditions": conditions, "IfSteps": list(if_steps), "ElseSteps": list(else_steps)}}


MIN_AUC = {"Name": "MinAuc", "Type": "Float", "DefaultValue": 0.7}


# -- paths and lookups --------------------------------------------------------------------------
def test_property_paths_parse_names_indexes_and_quoted_keys():
    assert parse_path("Steps.Pre.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri") == [
        "Steps", "Pre", "ProcessingOutputConfig", "Outputs", "train", "S3Output", "S3Uri"]
    assert parse_path("Steps.Tune.TrainingJobSummaries[0].TrainingJobName")[3] == 0
    with pytest.raises(PipelineError, match="cannot parse property path"):
        parse_path("Steps.Pre..x")


def test_lookup_finds_list_items_by_name_and_names_what_exists():
    outputs = {"Outputs": [{"OutputName": "train", "S3Output": {"S3Uri": "s3://b/t"}}, {"OutputName": "test"}]}
    assert lookup(outputs, ["Outputs", "train", "S3Output", "S3Uri"], "Steps.Pre") == "s3://b/t"
    with pytest.raises(PipelineError, match=r"Steps.Pre: Outputs.trian does not exist \(there: train, test\)"):
        lookup(outputs, ["Outputs", "trian"], "Steps.Pre")


# -- parameters ---------------------------------------------------------------------------------
def test_parameters_take_defaults_and_typed_overrides():
    specs = {"Parameters": [MIN_AUC, {"Name": "Status", "Type": "String", "DefaultValue": "Approved",
                                      "EnumValues": ["Approved", "PendingManualApproval"]}]}
    assert resolve_parameters(specs, {}) == {"MinAuc": 0.7, "Status": "Approved"}
    assert resolve_parameters(specs, {"MinAuc": "0.9"})["MinAuc"] == 0.9


@pytest.mark.parametrize(("overrides", "message"), [
    ({"MinAUC": "0.9"}, "unknown pipeline parameter 'MinAUC'; the pipeline has: MinAuc, Status"),
    ({"MinAuc": "high"}, "parameter MinAuc (given) is 'high'; expected a Float"),
    ({"MinAuc": "nan"}, "parameter MinAuc (given) is 'nan'; expected a Float"),
    ({"Status": "Rejected"}, "parameter Status (given) is 'Rejected'; allowed: Approved, PendingManualApproval"),
])
def test_bad_parameters_are_refused_with_what_is_allowed(overrides, message):
    specs = {"Parameters": [MIN_AUC, {"Name": "Status", "Type": "String", "DefaultValue": "Approved",
                                      "EnumValues": ["Approved", "PendingManualApproval"]}]}
    with pytest.raises(PipelineError) as error:
        resolve_parameters(specs, overrides)
    assert str(error.value) == message


def test_parameter_assignments_need_name_and_value():
    assert parse_assignments(["MinAuc=0.8", "X=a=b"]) == {"MinAuc": "0.8", "X": "a=b"}
    with pytest.raises(PipelineError, match="expected NAME=VALUE"):
        parse_assignments(["MinAuc"])


# -- the definition's shape -----------------------------------------------------------------------
def test_a_step_type_the_runner_cannot_run_is_named_before_anything_runs():
    tuned = build_definition(pipeline(training={"tuning": {"enabled": True}}), RESOURCES)
    with pytest.raises(PipelineError) as error:
        check_definition(tuned)
    assert str(error.value).startswith("step Tune: type 'Tuning' is not supported by the local runner (supported: Processing,")


def test_the_shipped_definition_is_runnable_and_ordered_by_its_references():
    definition = build_definition(pipeline(), RESOURCES)
    check_definition(definition)
    assert [s["Name"] for s in order(list(reversed(definition["Steps"])), set())] == [
        "Preprocess", "Train", "Evaluate", "EvaluationGate", "CheckEvaluation"]


def test_a_reference_to_a_missing_step_is_a_wiring_error():
    definition = build_definition(pipeline(), RESOURCES)
    text = json.dumps(definition).replace("Steps.Preprocess.ProcessingOutputConfig", "Steps.Prepare.ProcessingOutputConfig")
    with pytest.raises(PipelineError, match="step Train references step 'Prepare', which the pipeline does not have"):
        check_definition(json.loads(text))


def test_cycles_and_duplicate_names_are_refused():
    a = fail("A", {"Get": "Steps.B.X"})
    b = fail("B", {"Get": "Steps.A.X"})
    with pytest.raises(PipelineError, match="steps A, B depend on each other in a cycle"):
        order([a, b], set())
    with pytest.raises(PipelineError, match="step name 'A' is used twice"):
        check_definition({"Steps": [a, fail("A", "x")]})


# -- running small definitions ----------------------------------------------------------------------
def test_condition_picks_the_branch_and_fail_ends_with_the_joined_message(emulator, tmp_path):
    steps = [condition("Check", [{"Type": "GreaterThanOrEqualTo", "LeftValue": 0.75, "RightValue": {"Get": "Parameters.MinAuc"}}],
                       else_steps=[fail("Reject", {"Std:Join": {"On": " ", "Values": ["AUC below", {"Get": "Parameters.MinAuc"}]}})])]
    passed, _ = execute(emulator, tmp_path, steps, [MIN_AUC])
    assert passed.succeeded and [s.name for s in passed.steps] == ["Check"]
    rejected, lines = execute(emulator, tmp_path, steps, [MIN_AUC], {"MinAuc": "0.9"})
    assert (rejected.status, rejected.failure) == ("Failed", "AUC below 0.9")
    assert [(s.name, s.status) for s in rejected.steps] == [("Check", "Succeeded"), ("Reject", "Failed")]
    assert "  - Reject (Fail) ..." in lines


@pytest.mark.parametrize(("cond", "outcome"), [
    ({"Type": "Equals", "LeftValue": "promote", "RightValue": "promote"}, True),
    ({"Type": "Equals", "LeftValue": 1, "RightValue": "1.0"}, True),
    ({"Type": "LessThan", "LeftValue": 2, "RightValue": 1}, False),
    ({"Type": "In", "QueryValue": "b", "Values": ["a", "b"]}, True),
    ({"Type": "Not", "Expression": {"Type": "Equals", "LeftValue": 1, "RightValue": 1}}, False),
    ({"Type": "Or", "Conditions": [{"Type": "LessThanOrEqualTo", "LeftValue": 3, "RightValue": 2},
                                   {"Type": "GreaterThan", "LeftValue": 3, "RightValue": 2}]}, True),
])
def test_condition_types(emulator, tmp_path, cond, outcome):
    result, _ = execute(emulator, tmp_path, [condition("C", [cond])])
    assert result.properties["C"]["Outcome"] is outcome


def test_json_get_reads_the_property_file_from_s3(emulator, tmp_path):
    """Std:JsonGet as the CheckEvaluation step uses it, on a report a processing step declared."""
    emulator.client("s3").put_object(Bucket=BUCKET, Key="run/evaluation.json",
                                     Body=json.dumps({"binary_classification_metrics": {"auc": {"value": 0.81}}}))
    run = LocalExecution({"Steps": []}, pipeline_name="p", emulator=emulator, work_root=tmp_path, lambda_code=no_lambda)
    run.result.properties["Evaluate"] = {"ProcessingOutputConfig": {"Outputs": [
        {"OutputName": "evaluation", "S3Output": {"S3Uri": f"s3://{BUCKET}/run"}}]}}
    run.property_files["Evaluate"] = {"Report": {"PropertyFileName": "Report", "OutputName": "evaluation", "FilePath": "evaluation.json"}}
    get = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Report"}, "Path": "binary_classification_metrics.auc.value"}}
    assert run.value(get) == 0.81
    assert run.expressions.condition({"Type": "GreaterThanOrEqualTo", "LeftValue": get, "RightValue": 0.8})
    with pytest.raises(PipelineError, match=r"binary_classification_metrics.f9 does not exist \(there: auc\)"):
        run.value({"Std:JsonGet": {**get["Std:JsonGet"], "Path": "binary_classification_metrics.f9"}})
    with pytest.raises(PipelineError, match="step Evaluate has no property file 'Other'"):
        run.value({"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Other"}, "Path": "a"}})


def test_every_condition_is_evaluated_so_a_bad_reference_fails_even_after_a_false_one(emulator, tmp_path):
    steps = [condition("C", [{"Type": "Equals", "LeftValue": 1, "RightValue": 2},
                             {"Type": "GreaterThan", "LeftValue": {"Get": "Parameters.MinAUC"}, "RightValue": 0}])]
    result, _ = execute(emulator, tmp_path, steps, [MIN_AUC])
    assert result.failure == "step C (Condition) failed: Parameters.MinAUC: the pipeline has no parameter 'MinAUC'"


def test_an_unexpected_error_in_a_step_is_one_line_naming_the_step(emulator, tmp_path):
    step = {"Name": "Transform", "Type": "Transform", "Arguments": {"ModelName": "no-such-model"}}
    result, _ = execute(emulator, tmp_path, [step])
    assert result.failure.startswith("step Transform (Transform) failed: model 'no-such-model': ")
    assert "\n" not in result.failure


def test_function_names_come_from_the_arn_without_the_qualifier():
    assert function_name("arn:aws:lambda:us-east-1:123456789012:function:gate:live") == "gate"
    with pytest.raises(PipelineError, match="is not a Lambda function ARN"):
        function_name("arn:aws:sns:us-east-1:123456789012:topic")


def test_a_wrong_property_reference_fails_the_step_that_reads_it(emulator, tmp_path):
    steps = [condition("C", [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}]),
             fail("F", {"Get": "Steps.C.Outcomes"})]
    result, _ = execute(emulator, tmp_path, steps)
    assert result.failure == "step F (Fail) failed: Steps.C: Outcomes does not exist (there: Outcome)"


def test_a_lambda_result_without_a_declared_output_fails_the_step(emulator, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "fn.py").write_text("def handler(event, context):\n    return {'decision': event['x']}\n")
    step = {"Name": "Gate", "Type": "Lambda", "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:gate",
            "Arguments": {"x": "promote"},
            "OutputParameters": [{"OutputName": "decision", "OutputType": "String"}, {"OutputName": "reasons", "OutputType": "String"}]}
    run = LocalExecution({"Steps": [step]}, pipeline_name="p", emulator=emulator, work_root=tmp_path,
                         lambda_code=lambda _arn, _root: LambdaCode(code, "fn.handler", {}), say=lambda _: None)
    result = run.run()
    assert result.failure == "step Gate (Lambda) failed: the function's result has no 'reasons' (it returned: decision)"


# -- CloudFormation values and container paths -------------------------------------------------------
def test_template_intrinsics_resolve_against_the_deployed_stack():
    template = {"Resources": {"Fn": {"Type": "AWS::Lambda::Function"}, "Bucket": {"Type": "AWS::S3::Bucket"}}}
    resolver = Resolver(StackTemplate("dev-X", template, Path("dev-X.template.json")), physical={"Fn": "dev-gate", "Bucket": "dev-raw-1"},
                        exports={"key-arn": "arn:aws:kms:us-east-1:123456789012:key/k1"}, account="123456789012", region="us-east-1")
    body = {"Fn::Join": ["", ["s3://", {"Ref": "Bucket"}, "/x ", {"Fn::GetAtt": ["Fn", "Arn"]}, " ",
                              {"Fn::Select": [1, {"Fn::Split": ["/", {"Fn::ImportValue": "key-arn"}]}]},
                              {"Fn::Sub": " ${AWS::Region}-${Bucket}"}]]}
    assert resolver.resolve(body) == "s3://dev-raw-1/x arn:aws:lambda:us-east-1:123456789012:function:dev-gate k1 us-east-1-dev-raw-1"
    with pytest.raises(AssemblyError, match="Fn::ImportValue 'other': no such export is deployed"):
        resolver.resolve({"Fn::ImportValue": "other"})
    with pytest.raises(AssemblyError, match="intrinsic Fn::FindInMap is not resolvable locally"):
        resolver.resolve({"Fn::FindInMap": ["a", "b", "c"]})


def test_container_paths_map_into_the_job_directory(tmp_path):
    container = Container(tmp_path)
    line = 'tar -xzf "/opt/ml/processing/input/code/$0" -C /tmp/code; cd /tmp/code'
    assert container.rewrite(line) == f'tar -xzf "{tmp_path}/opt/ml/processing/input/code/$0" -C {tmp_path}/tmp/code; cd {tmp_path}/tmp/code'
    assert container.rewrite("/opt/mlx and a/opt/ml /tmp-x /tmp.txt /opt/ml-x") == "/opt/mlx and a/opt/ml /tmp-x /tmp.txt /opt/ml-x"


def test_a_job_directory_a_shell_line_cannot_carry_is_refused(tmp_path):
    with pytest.raises(JobFailed, match="has characters a container path cannot carry into a shell line unquoted"):
        Container(tmp_path / "my projects")


def test_transform_filters():
    record = ["1", "0.5", "7", "0.9"]
    assert csv_filter("$[1:]", "InputFilter")(record) == ["0.5", "7", "0.9"]
    assert csv_filter("$[0,-1]", "OutputFilter")(record) == ["1", "0.9"]
    assert csv_filter(None, "InputFilter")(record) == record
    with pytest.raises(JobFailed, match=r"OutputFilter '\$.features' is not supported locally"):
        csv_filter("$.features", "OutputFilter")


def test_only_a_local_emulator_endpoint_is_accepted():
    assert local_endpoint("http://localhost:4566") == "http://localhost:4566"
    for url in ("https://sagemaker.us-east-1.amazonaws.com", "http://localhost", "http://10.0.0.1:4566"):
        with pytest.raises(PipelineError, match="is not a local emulator"):
            local_endpoint(url)
