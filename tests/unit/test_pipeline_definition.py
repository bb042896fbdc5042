"""The pipeline definition: every step's request checked against botocore's SageMaker API model.

Pipeline expressions ({"Get": ...}, {"Std:Join": ...}) stand for values SageMaker fills
in at run time; they are replaced by a value of the type the API shape expects, and the
request then goes through botocore's ParamValidator plus an enum check (the validator
does not check enums).
"""

from __future__ import annotations

import dataclasses
import json
import re

import botocore.session
import pytest
from botocore.validate import ParamValidator

from config.training import EXTRA_HYPERPARAMETERS_AT_MOST
from stacks.training.pipeline_definition import (
    METRIC_DEFINITIONS,
    build_definition,
)
from tests.helpers.configs import EXAMPLE, own_code_dir
from tests.helpers.paths import ROOT
from tests.helpers.pipelines import KEY, RESOURCES, pipeline

MODEL = botocore.session.get_session().get_service_model("sagemaker")
#: Step type -> (API operation, the name member the pipeline supplies per run).
OPERATIONS = {
    "Processing": ("CreateProcessingJob", "ProcessingJobName"),
    "Training": ("CreateTrainingJob", "TrainingJobName"),
    "Tuning": ("CreateHyperParameterTuningJob", "HyperParameterTuningJobName"),
    "Transform": ("CreateTransformJob", "TransformJobName"),
    "Model": ("CreateModel", "ModelName"),
    "RegisterModel": ("CreateModelPackage", None),
}
EXPRESSION_KEYS = {"Get", "Std:Join", "Std:JsonGet"}


PROFILED = {"profiler": True, "rules": ["ProfilerReport", "CPUBottleneck"], "account_uses_debugger": True}
CONFIGS = {
    "dev": pipeline(),
    "profiled": pipeline(training={"debugger": PROFILED}),
    "tuned": pipeline(training={"tuning": {"enabled": True, "strategy": "Hyperband", "max_jobs": 10,
                                           "max_parallel_jobs": 2, "ranges": {"eta": {"min": 0.05, "max": 0.5},
                                                                              "max_depth": {"min": 3, "max": 9}}}}),
    "distributed-gpu": pipeline(training={"instance_types": ["ml.g5.2xlarge"], "instance_count": 3, "spot": False,
                                          "max_wait_minutes": None,
                                          "debugger": {"rules": [], "profiler": True, "account_uses_debugger": True}}),
}


def steps(definition: dict):
    """Every step, condition branches included, in definition order."""
    for step in definition["Steps"]:
        yield step
        if step["Type"] == "Condition":
            yield from step["Arguments"]["IfSteps"]
            yield from step["Arguments"]["ElseSteps"]


def step(definition: dict, name: str) -> dict:
    return next(s for s in steps(definition) if s["Name"] == name)


def placeholder(shape):
    return {"string": "placeholder", "integer": 1, "long": 1, "float": 0.5, "double": 0.5, "boolean": True}[shape.type_name]


def resolve(value, shape, problems: list, path: str):
    """Replace pipeline expressions by typed placeholders; note literal strings outside an enum."""
    if isinstance(value, dict) and value.keys() & EXPRESSION_KEYS:
        assert shape.type_name not in ("structure", "list", "map"), f"{path}: an expression where a {shape.type_name} is needed"
        return placeholder(shape)
    if shape.type_name == "structure" and isinstance(value, dict):
        return {k: resolve(v, shape.members[k], problems, f"{path}.{k}") if k in shape.members else v for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [resolve(v, shape.member, problems, f"{path}[{i}]") for i, v in enumerate(value)]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: resolve(v, shape.value, problems, f"{path}.{k}") for k, v in value.items()}
    if shape.type_name == "string" and isinstance(value, str) and shape.enum and value not in shape.enum:
        problems.append(f"{path}: {value!r} is not one of {shape.name}'s values")
    return value


#: The same resources with experiment tracking on: the jobs' Environment entries must fit the API too.
TRACKED = dataclasses.replace(RESOURCES, tracking_uri="arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/dev-mlflow",
                              experiment_name="dev-direct-marketing")


@pytest.mark.parametrize("tracked", [False, True], ids=["untracked", "tracked"])
@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_every_step_request_matches_the_sagemaker_api(config_name, tracked):
    definition = build_definition(CONFIGS[config_name], TRACKED if tracked else RESOURCES)
    checked = set()
    for s in steps(definition):
        if s["Type"] not in OPERATIONS:
            continue
        operation, name_member = OPERATIONS[s["Type"]]
        shape = MODEL.operation_model(operation).input_shape
        request = dict(s["Arguments"])
        if name_member:
            request[name_member] = "pipeline-chooses-this"
        problems: list[str] = []
        resolved = resolve(request, shape, problems, s["Name"])
        report = ParamValidator().validate(resolved, shape)
        assert not report.has_errors(), f"{s['Name']} ({operation}): {report.generate_report()}"
        assert not problems, problems
        checked.add(operation)
    expected = {"CreateProcessingJob", "CreateTransformJob", "CreateModel", "CreateModelPackage"}
    expected.add("CreateHyperParameterTuningJob" if config_name == "tuned" else "CreateTrainingJob")
    assert checked == expected


def test_the_validation_catches_a_wrong_request():
    """The check above can fail: a misspelled member and a wrong enum value are reported."""
    shape = MODEL.operation_model("CreateTransformJob").input_shape
    problems: list[str] = []
    bad = {"TransformJobName": "x", "ModelName": "m", "TransformInput": {"DataSource": {}, "SplitType": "Lines"},
           "TransformOutput": {"S3OutputPath": "s3://b/p"}, "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}
    resolved = resolve(bad, shape, problems, "t")
    assert problems == ["t.TransformInput.SplitType: 'Lines' is not one of SplitType's values"]
    assert ParamValidator().validate(resolved, shape).has_errors()  # DataSource misses S3DataSource


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_references_point_at_earlier_steps_and_declared_parameters(config_name):
    definition = build_definition(CONFIGS[config_name], RESOURCES)
    parameters = {p["Name"] for p in definition["Parameters"]}
    seen: list[str] = []
    for s in definition["Steps"]:
        text = json.dumps(s)
        for name in re.findall(r'"Get": "Parameters\.(\w+)"', text):
            assert name in parameters
        own = {x["Name"] for x in steps({"Steps": [s]})}
        for name in re.findall(r"Steps\.(\w+)\.", text):
            assert name in seen or name in own, f"{s['Name']} refers to {name} before it runs"
        seen.extend(own)


def test_definition_is_deterministic_and_plain_json():
    first = json.dumps(build_definition(CONFIGS["dev"], RESOURCES), sort_keys=True)
    assert first == json.dumps(build_definition(pipeline(), RESOURCES), sort_keys=True)


def test_steps_in_order_with_the_gate_deciding_registration():
    definition = build_definition(CONFIGS["dev"], RESOURCES)
    assert [s["Name"] for s in definition["Steps"]] == ["Preprocess", "Train", "Evaluate", "EvaluationGate", "CheckEvaluation"]
    check = step(definition, "CheckEvaluation")["Arguments"]
    assert [s["Name"] for s in check["IfSteps"]] == ["RegisterModel", "CreateModel", "BatchTransform"]
    # Registration waits for the batch transform: a version whose serving code fails on raw rows is never registered.
    assert step(definition, "RegisterModel")["DependsOn"] == ["BatchTransform"]
    assert [s["Name"] for s in check["ElseSteps"]] == ["RejectModel"]
    decision, auc, configured_auc = check["Conditions"]
    # MinAuc may be raised at start, not lowered: the configured value is a condition of its own.
    assert configured_auc == {**auc, "RightValue": CONFIGS["dev"].evaluation.min_auc}
    assert gate_args_configured(definition) == {"configured_min_auc": 0.7, "configured_min_precision": 0.1,
                                                "configured_min_recall": 0.2, "configured_champion_margin": 0.01}
    assert decision == {"Type": "Equals", "LeftValue": {"Get": "Steps.EvaluationGate.OutputParameters['decision']"}, "RightValue": "promote"}
    assert auc["LeftValue"]["Std:JsonGet"]["PropertyFile"] == {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"}
    message = step(definition, "RejectModel")["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert {"Get": "Steps.EvaluationGate.OutputParameters['reasons']"} in message
    gate = step(definition, "EvaluationGate")
    assert gate["FunctionArn"] == RESOURCES.gate_function_arn
    assert {p["OutputName"]: p["OutputType"] for p in gate["OutputParameters"]} == {"decision": "String", "reasons": "String"}
    assert gate["Arguments"]["min_auc"] == {"Get": "Parameters.MinAuc"}


def test_parameters_default_to_config_and_limit_instance_types():
    params = {p["Name"]: p for p in build_definition(CONFIGS["dev"], RESOURCES)["Parameters"]}
    assert params["InputDataUri"]["DefaultValue"] == RESOURCES.input_uri == "s3://dev-raw/direct-marketing/Caravan.csv"
    assert params["TrainingInstanceType"]["EnumValues"] == ["ml.m5.xlarge", "ml.m5.2xlarge"]
    assert params["TrainingInstanceType"]["DefaultValue"] == "ml.m5.xlarge"
    assert (params["MinAuc"]["DefaultValue"], params["MinPrecision"]["DefaultValue"], params["MinRecall"]["DefaultValue"]) == (0.7, 0.1, 0.2)
    assert params["ModelApprovalStatus"]["DefaultValue"] == "Approved"
    assert params["ModelApprovalStatus"]["EnumValues"] == ["Approved", "PendingManualApproval"]


def test_a_model_sent_to_review_cannot_be_registered_approved_by_a_parameter():
    """approval_status PendingManualApproval: the parameter offers that value only. AWS's pages do not say that a
    start outside EnumValues is refused, so the pipelines role's condition on CreateModelPackage is what enforces
    it (tests/unit/test_iam_simulation.py)."""
    reviewed = pipeline(evaluation={"approval_status": "PendingManualApproval"})
    params = {p["Name"]: p for p in build_definition(reviewed, RESOURCES)["Parameters"]}
    assert params["ModelApprovalStatus"]["EnumValues"] == ["PendingManualApproval"]


def gate_args_configured(definition: dict) -> dict:
    return {k: v for k, v in step(definition, "EvaluationGate")["Arguments"].items() if k.startswith("configured_")}


def test_every_job_is_isolated_encrypted_and_inside_the_platform_vpc():
    definition = build_definition(CONFIGS["dev"], RESOURCES)
    vpc = {"SecurityGroupIds": ["sg-0123"], "Subnets": ["subnet-0a", "subnet-0b"]}
    for name in ("Preprocess", "Evaluate"):
        args = step(definition, name)["Arguments"]
        assert args["NetworkConfig"] == {"EnableInterContainerTrafficEncryption": True, "EnableNetworkIsolation": True, "VpcConfig": vpc}
        assert args["ProcessingOutputConfig"]["KmsKeyId"] == KEY
        assert args["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY
    train = step(definition, "Train")["Arguments"]
    assert (train["EnableNetworkIsolation"], train["EnableInterContainerTrafficEncryption"], train["VpcConfig"]) == (True, True, vpc)
    assert train["OutputDataConfig"]["KmsKeyId"] == train["ResourceConfig"]["VolumeKmsKeyId"] == KEY
    model = step(definition, "CreateModel")["Arguments"]
    assert (model["VpcConfig"], model["EnableNetworkIsolation"]) == (vpc, True)
    transform = step(definition, "BatchTransform")["Arguments"]
    assert transform["TransformOutput"]["KmsKeyId"] == transform["TransformResources"]["VolumeKmsKeyId"] == KEY


@pytest.mark.parametrize("config_name", ["dev", "tuned"])
def test_with_tracking_the_logging_jobs_know_the_server_and_run_and_leave_isolation_for_it(config_name):
    """Preprocess, Train (or each tuning job) and Evaluate log to MLflow: they get the server's ARN (the sagemaker-mlflow
    plugin's tracking URI), the model's experiment and the execution id (the run's name), and run without network
    isolation, which blocks every outbound call (https://docs.aws.amazon.com/sagemaker/latest/dg/mkt-algo-model-internet-free.html),
    still in the platform's subnets and security group. The model and the batch transform keep isolation."""
    definition = build_definition(CONFIGS[config_name], TRACKED)
    expected = {"MLFLOW_TRACKING_URI": TRACKED.tracking_uri, "MLFLOW_EXPERIMENT_NAME": "dev-direct-marketing",
                "PIPELINE_EXECUTION_ID": {"Get": "Execution.PipelineExecutionId"}}
    vpc = {"SecurityGroupIds": ["sg-0123"], "Subnets": ["subnet-0a", "subnet-0b"]}
    for name in ("Preprocess", "Evaluate"):
        args = step(definition, name)["Arguments"]
        assert args["Environment"] == expected
        assert args["NetworkConfig"] == {"EnableInterContainerTrafficEncryption": True, "EnableNetworkIsolation": False, "VpcConfig": vpc}
    job = (step(definition, "Tune")["Arguments"]["TrainingJobDefinition"] if config_name == "tuned"
           else step(definition, "Train")["Arguments"])
    assert job["Environment"] == expected
    assert (job["EnableNetworkIsolation"], job["EnableInterContainerTrafficEncryption"], job["VpcConfig"]) == (False, True, vpc)
    model = step(definition, "CreateModel")["Arguments"]
    assert model["EnableNetworkIsolation"] is True and "Environment" not in step(definition, "BatchTransform")["Arguments"]
    assert step(definition, "EvaluationGate")["Arguments"]["pipeline_execution_id"] == {"Get": "Execution.PipelineExecutionId"}


def test_without_tracking_nothing_logs_and_every_job_stays_isolated():
    for config in CONFIGS.values():
        definition = build_definition(config, RESOURCES)
        for s in steps(definition):
            args = s.get("Arguments", {})
            job = args.get("TrainingJobDefinition", args)
            assert "Environment" not in job or "MLFLOW_TRACKING_URI" not in job["Environment"], s["Name"]
            isolation = job.get("NetworkConfig", job).get("EnableNetworkIsolation")
            assert isolation in (True, None), s["Name"]
        assert "pipeline_execution_id" not in step(definition, "EvaluationGate")["Arguments"]


def test_nvme_instances_get_no_volume_key():
    train = step(build_definition(CONFIGS["distributed-gpu"], RESOURCES), "Train")["Arguments"]
    assert "VolumeKmsKeyId" not in train["ResourceConfig"]
    assert train["OutputDataConfig"]["KmsKeyId"] == KEY  # output encryption is still set


def test_spot_training_checkpoints_per_execution():
    train = step(build_definition(CONFIGS["dev"], RESOURCES), "Train")["Arguments"]
    assert train["EnableManagedSpotTraining"] is True
    assert train["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert train["CheckpointConfig"]["LocalPath"] == "/opt/ml/checkpoints"
    assert {"Get": "Execution.PipelineExecutionId"} in train["CheckpointConfig"]["S3Uri"]["Std:Join"]["Values"]
    on_demand = step(build_definition(CONFIGS["distributed-gpu"], RESOURCES), "Train")["Arguments"]
    assert "EnableManagedSpotTraining" not in on_demand and "CheckpointConfig" not in on_demand


def test_preprocess_reads_the_configured_dataset_columns(tmp_path):
    data = tmp_path / "bank.csv"
    data.write_text("age,job,marital,id,y\n" + "30,admin,single,7,1\n41,retired,married,8,0\n" * 10)  # 10 of each label
    args = step(build_definition(pipeline(dataset={"data_file": str(data), "label_column": "y", "positive_label": "1",
                                                    "categorical_columns": ["job", "marital"], "drop_columns": ["id"]}),
                                 RESOURCES),
                "Preprocess")["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert args[0] == "preprocess.py"
    pairs = dict(zip(args[1::2], args[2::2], strict=True))
    assert (pairs["--label-column"], pairs["--positive-label"], pairs["--categorical-columns"], pairs["--drop-columns"]) == (
        "y", "1", "job,marital", "id")
    # Errors about the data name the config file and the model's dataset block, not the script's flags.
    assert pairs["--config-source"] == f"config/dev.yaml: models.{RESOURCES.model_name}.dataset"
    assert "--missing-values" not in pairs  # only where the dataset names its own spellings of missing
    args = step(build_definition(pipeline(dataset={"data_file": str(data), "label_column": "y", "positive_label": "1",
                                                    "categorical_columns": [], "missing_values": ["?", "n.a."]}), RESOURCES),
                "Preprocess")["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert dict(zip(args[1::2], args[2::2], strict=True))["--missing-values"] == '["?", "n.a."]'


def test_several_instances_shard_the_training_data():
    definition = build_definition(CONFIGS["distributed-gpu"], RESOURCES)
    channels = {c["ChannelName"]: c for c in step(definition, "Train")["Arguments"]["InputDataConfig"]}
    assert channels["train"]["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert channels["validation"]["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "FullyReplicated"
    assert step(definition, "Train")["Arguments"]["ResourceConfig"]["InstanceCount"] == 3
    args = step(definition, "Preprocess")["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert args[args.index("--train-shards") + 1] == "3"  # one file per instance


def test_no_output_prefix_is_the_start_of_another_so_a_prefix_input_reads_one_output():
    """An S3Prefix input takes every key under its URI, so an output named test would also deliver a sibling
    test-raw/ (S3 keys are strings, not folders): within a step, no output's name starts another's."""
    for config in CONFIGS.values():
        for step_ in build_definition(config, RESOURCES)["Steps"]:
            outputs = step_["Arguments"].get("ProcessingOutputConfig", {}).get("Outputs", [])
            names = [o["OutputName"] for o in outputs]
            clashes = [(a, b) for a in names for b in names if a != b and b.startswith(a)]
            assert not clashes, f"{step_['Name']}: {clashes}"


def test_training_gets_the_fitted_preprocessing_to_put_into_the_model():
    for definition in (build_definition(CONFIGS["dev"], RESOURCES), build_definition(pipeline(training={"tuning": {"enabled": True}}), RESOURCES)):
        job = next(s for s in definition["Steps"] if s["Name"] in ("Train", "Tune"))["Arguments"]
        job = job.get("TrainingJobDefinition", job)
        channels = {c["ChannelName"]: c for c in job["InputDataConfig"]}
        assert channels["metadata"]["DataSource"]["S3DataSource"]["S3Uri"] == {
            "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['metadata'].S3Output.S3Uri"}
        assert "ContentType" not in channels["metadata"]  # JSON, not the CSV the data channels declare


def test_script_mode_code_arrives_as_a_channel_under_network_isolation():
    train = step(build_definition(CONFIGS["dev"], RESOURCES), "Train")["Arguments"]
    channels = {c["ChannelName"]: c for c in train["InputDataConfig"]}
    assert channels["code"]["DataSource"]["S3DataSource"]["S3Uri"] == RESOURCES.code_uri
    assert train["HyperParameters"]["sagemaker_program"] == "train.py"
    assert train["HyperParameters"]["sagemaker_submit_directory"] == "/opt/ml/input/data/code/abc123.tar.gz"
    hyper = CONFIGS["dev"].training.hyperparameters
    assert (train["HyperParameters"]["max_depth"], train["HyperParameters"]["eta"]) == (str(hyper.max_depth), str(hyper.eta))
    assert train["AlgorithmSpecification"]["MetricDefinitions"] == METRIC_DEFINITIONS


def test_extra_hyperparameters_reach_a_teams_own_train_py_beside_the_others():
    """A team's own train.py may read arguments of its own: SageMaker passes every HyperParameters entry to a
    script-mode program as `--name value` (the training toolkit's to_cmd_args; local/jobs/training.py does the
    same), so training.extra_hyperparameters go into the training job, and into a tuning job's static ones."""
    extra = {"max_delta_step": 2, "feature_set": "v2", "use_monotone": True}
    # A train.py that reads arguments of its own (parse_known_args: config cannot tell which, so takes any).
    with own_code_dir("\n\ndef own_arguments(parser):\n    return parser.parse_known_args()[0]\n") as code:
        own = {"code_dir": str(code.relative_to(ROOT))}
        plain = pipeline(**own, training={"extra_hyperparameters": extra})
        tuned = pipeline(**own, training={
            "extra_hyperparameters": extra, "tuning": {"enabled": True, "ranges": {"eta": {"min": 0.05, "max": 0.5}}}})
        # As many as config allows: they must fill the job's HyperParameters to botocore's maximum, not past it.
        full = pipeline(**own, training={"extra_hyperparameters": {f"x{i}": i for i in range(EXTRA_HYPERPARAMETERS_AT_MOST)}})
    shape = MODEL.operation_model("CreateTrainingJob").input_shape.members["HyperParameters"]
    for definition, job in ((build_definition(plain, RESOURCES), ("Train", "HyperParameters")),
                            (build_definition(tuned, RESOURCES), ("Tune", "TrainingJobDefinition", "StaticHyperParameters"))):
        arguments = step(definition, job[0])["Arguments"]
        hyper = arguments[job[1]] if len(job) == 2 else arguments[job[1]][job[2]]
        assert {k: hyper[k] for k in extra} == {"max_delta_step": "2", "feature_set": "v2", "use_monotone": "True"}
        assert hyper["max_depth"] == str(plain.training.hyperparameters.max_depth)
        # The map validates against botocore's shape of HyperParameters (string to string, at most 2500 characters).
        assert not ParamValidator().validate(hyper, shape).has_errors()
    # ParamValidator checks no maximum: the count is compared with the shape's.
    assert len(step(build_definition(full, RESOURCES), "Train")["Arguments"]["HyperParameters"]) == shape.metadata["max"] == 100


def test_the_profiler_is_off_unless_an_account_that_uses_debugger_asks():
    """SageMaker Debugger is closed to new customers since 30 July 2026 (AWS documentation): by default a
    training job disables the profiler and names no rule, so a new account's jobs are not refused."""
    default = step(build_definition(pipeline(training={"debugger": {}}), RESOURCES), "Train")["Arguments"]
    assert default["ProfilerConfig"] == {"DisableProfiler": True}
    assert "ProfilerRuleConfigurations" not in default


def test_profiler_and_its_rules_follow_config():
    dev = step(build_definition(CONFIGS["profiled"], RESOURCES), "Train")["Arguments"]
    assert [r["RuleConfigurationName"] for r in dev["ProfilerRuleConfigurations"]] == ["ProfilerReport", "CPUBottleneck"]
    assert all(r["RuleEvaluatorImage"] == RESOURCES.debugger_image_uri for r in dev["ProfilerRuleConfigurations"])
    assert dev["ProfilerConfig"]["ProfilingIntervalInMilliseconds"] == 500
    # No tensor hook exists in XGBoost script mode: no debug hook, no tensor rules.
    assert "DebugHookConfig" not in dev and "DebugRuleConfigurations" not in dev
    gpu = step(build_definition(CONFIGS["distributed-gpu"], RESOURCES), "Train")["Arguments"]
    assert "ProfilerRuleConfigurations" not in gpu and "S3OutputPath" in gpu["ProfilerConfig"]
    off = step(build_definition(pipeline(training={"debugger": {"profiler": False, "rules": []}}), RESOURCES), "Train")
    assert off["Arguments"]["ProfilerConfig"] == {"DisableProfiler": True}


def test_tuning_searches_config_ranges_for_validation_auc():
    definition = build_definition(CONFIGS["tuned"], RESOURCES)
    assert "Train" not in {s["Name"] for s in steps(definition)}
    config = step(definition, "Tune")["Arguments"]["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:auc"}
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 2}
    assert config["ParameterRanges"]["IntegerParameterRanges"] == [{"Name": "max_depth", "MinValue": "3", "MaxValue": "9", "ScalingType": "Auto"}]
    assert [r["Name"] for r in config["ParameterRanges"]["ContinuousParameterRanges"]] == ["eta"]
    job = step(definition, "Tune")["Arguments"]["TrainingJobDefinition"]
    # Spot, but no shared checkpoint prefix: the tuner's jobs would resume from each other's trees.
    assert job["EnableManagedSpotTraining"] is True and "CheckpointConfig" not in job
    static = job["StaticHyperParameters"]
    assert "eta" not in static and "max_depth" not in static
    assert static["gamma"] == str(float(CONFIGS["tuned"].training.hyperparameters.gamma))  # what is not searched stays fixed
    # The best job's model is what gets evaluated and registered.
    model = step(definition, "Evaluate")["Arguments"]["ProcessingInputs"][1]["S3Input"]["S3Uri"]
    assert model["Std:Join"]["Values"] == [
        f"s3://dev-artifacts/pipelines/dev/{RESOURCES.model_name}", {"Get": "Execution.PipelineExecutionId"}, "training",
        {"Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"}, "output/model.tar.gz",
    ]


def test_registration_carries_metrics_serving_code_and_approval():
    register = step(build_definition(CONFIGS["dev"], RESOURCES), "RegisterModel")["Arguments"]
    assert register["ModelPackageGroupName"] == "dev-direct-marketing"
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    statistics = register["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["ContentType"] == "application/json"
    assert "evaluation.json" in statistics["S3Uri"]["Std:Join"]["Values"]
    # Model Monitor's data-quality baseline, from preprocess.py's "baseline" output, travels with the version.
    baseline = {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['baseline'].S3Output.S3Uri"}
    expected = {name.title(): {"ContentType": "application/json",
                               "S3Uri": {"Std:Join": {"On": "/", "Values": [baseline, f"{name}.json"]}}}
                for name in ("statistics", "constraints")}
    assert register["ModelMetrics"]["ModelDataQuality"] == expected
    assert register["DriftCheckBaselines"] == {"ModelDataQuality": expected}
    outputs = step(build_definition(CONFIGS["dev"], RESOURCES), "Preprocess")["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert [o["OutputName"] for o in outputs] == ["train", "validation", "test", "raw-test", "metadata", "baseline"]
    container = register["InferenceSpecification"]["Containers"][0]
    assert container["Environment"] == {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                                        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}
    assert container["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}


def test_batch_transform_scores_the_raw_test_rows_without_their_label():
    """The test split as the business's rows: the model's own preprocessing turns them into features."""
    transform = step(build_definition(CONFIGS["dev"], RESOURCES), "BatchTransform")["Arguments"]
    source = transform["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    assert source == {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['raw-test'].S3Output.S3Uri"}
    assert transform["DataProcessing"] == {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}


def test_the_evaluation_report_is_told_how_the_hyperparameters_were_chosen():
    def evaluate_args(cfg) -> list[str]:
        return step(build_definition(cfg, RESOURCES), "Evaluate")["Arguments"]["AppSpecification"]["ContainerArguments"]

    chosen = evaluate_args(pipeline(training={"hyperparameters_chosen_by": "5-fold CV: AUC 0.757 ± 0.016"}))
    assert chosen[chosen.index("--hyperparameters-chosen-by") + 1] == "5-fold CV: AUC 0.757 ± 0.016"
    assert "--hyperparameters-chosen-by" not in evaluate_args(pipeline(training={"hyperparameters_chosen_by": None}))
    # SageMaker caps each container argument at 256 characters: the config caps the note below that.
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="at most 200 characters"):
        pipeline(training={"hyperparameters_chosen_by": "x" * 201})


def test_preprocess_reads_only_its_own_models_data_whatever_the_execution_asks():
    """Whoever may start a model's pipeline (a Studio team's role) chooses InputDataUri; the model's jobs role could not
    read another model's data, and this says so in one line. The definition hands preprocess the execution's
    InputDataUri and what this model may read (its prefix of the raw-data bucket; its data_file where that is in S3),
    and preprocess refuses anything else before reading."""
    import preprocess
    from sm_contract import InputError

    args = step(build_definition(CONFIGS["dev"], RESOURCES), "Preprocess")["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert args[args.index("--input-uri") + 1] == {"Get": "Parameters.InputDataUri"}
    assert [args[i + 1] for i, a in enumerate(args) if a == "--allowed-input"] == list(RESOURCES.allowed_inputs)
    own = f"s3://dev-raw/{EXAMPLE}/"
    preprocess.check_input_uri(f"{own}Caravan.csv", [own])
    preprocess.check_input_uri("s3://team-bucket/exports/churn.csv", [own, "s3://team-bucket/exports/churn.csv"])
    for other in ("s3://dev-raw/health-utilization/randhie.csv", f"s3://dev-raw/{EXAMPLE}-v2/x.csv", "s3://elsewhere/x.csv",
                  "s3://team-bucket/exports/churn.csv.bak"):
        with pytest.raises(InputError) as refused:
            preprocess.check_input_uri(other, [own, "s3://team-bucket/exports/churn.csv"])
        assert str(refused.value) == (f"InputDataUri {other} is not this model's data (allowed: {own}... or "
                                      "s3://team-bucket/exports/churn.csv; a pipeline reads only its own model's data)")
    with pytest.raises(InputError, match="is not this model's data"):  # before the data is read at all
        preprocess.main(["--input-dir", "/nonexistent", "--input-uri", "s3://dev-raw/other/x.csv", "--allowed-input", own])
