"""The SageMaker Pipeline definition (JSON schema 2020-12-01), built from typed config.

Plain Python on purpose: no CDK and no SageMaker SDK (its ModelTrainer calls AWS while
being constructed). Values that only exist at deploy time (role ARNs, bucket names) come
in as strings, which in the stack are CDK tokens; everything else is decided here at
synth time, so the same config always gives the same definition.

Each job step's "Arguments" is the SageMaker API request the pipeline sends
(CreateProcessingJob, CreateTrainingJob, ...) minus the job name, which the pipeline
chooses per run; tests validate them against botocore's API model.

With experiment tracking (the environment's `tracking.enabled`), the preprocess, train (or
tune) and evaluate jobs are told the MLflow tracking server, the model's experiment and the
execution id (a run per execution), and run without network isolation: an isolated container
makes no outbound call at all, so it could not reach the server (SageMaker developer guide,
"Network isolation": https://docs.aws.amazon.com/sagemaker/latest/dg/mkt-algo-model-internet-free.html).
They stay in the workload subnets and security group (HTTPS out only). The model and batch
transform keep isolation: they log nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from catalog.instance_types import has_local_nvme
from config.training import TUNABLE, PipelineConfig
from naming import pipeline_runs_prefix

PROCESSING = "/opt/ml/processing"
CODE_CHANNEL = "/opt/ml/input/data/code"
#: Processing jobs get the same source tarball as training; this unpacks it and runs a script.
#: Script and its arguments follow as ContainerArguments ("$@").
PROCESSING_RUNNER = (
    f'set -eu; mkdir -p /tmp/code; tar -xzf "{PROCESSING}/input/code/$0" -C /tmp/code; cd /tmp/code; exec python3 "$@"'
)
#: train.py prints `validation-auc:0.81`; tuning maximises the last value it sees (the best round).
METRIC_DEFINITIONS = [
    {"Name": f"{split}:{metric}", "Regex": rf"{split}-{metric}:([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"}
    for split in ("train", "validation")
    for metric in ("auc", "logloss")
]
OBJECTIVE_METRIC = "validation:auc"
CONTENT_TYPES = ["text/csv", "application/json"]

JOB_RETRIES = [
    {"ExceptionType": ["Step.SERVICE_FAULT", "Step.THROTTLING"], "IntervalSeconds": 10, "BackoffRate": 2.0, "MaxAttempts": 5},
    {"ExceptionType": ["SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT"], "IntervalSeconds": 60, "BackoffRate": 2.0, "MaxAttempts": 3},
]


@dataclass(frozen=True)
class PipelineResources:
    """What the definition points at; strings here may be CDK tokens."""

    env_name: str
    #: The model of the catalog this pipeline trains, the config file that declares it, and its data.
    model_name: str
    config_file: str
    input_uri: str
    #: What an execution's InputDataUri may be: the model's prefix of the raw-data bucket, and its data_file when in S3.
    allowed_inputs: tuple[str, ...]
    image_uri: str
    #: Only needed (and only published in some regions) when profiler rules are configured.
    debugger_image_uri: str | None
    jobs_role_arn: str
    artifacts_bucket: str
    kms_key_arn: str
    code_uri: str
    code_file: str
    gate_function_arn: str
    model_package_group: str
    subnet_ids: list[str]
    security_group_ids: list[str]
    #: With experiment tracking: the MLflow tracking server's ARN (MLFLOW_TRACKING_URI for the sagemaker-mlflow
    #: plugin) and the model's experiment; None without.
    tracking_uri: str | None = None
    experiment_name: str | None = None


def get(path: str) -> dict:
    return {"Get": path}


def join(*values, on: str = "/") -> dict:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def param(name: str) -> dict:
    return get(f"Parameters.{name}")


def output_uri(step: str, output: str) -> dict:
    return get(f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri")


class DefinitionBuilder:
    """Builds one pipeline definition from a PipelineConfig and the resources it points at; one method per step."""

    def __init__(self, cfg: PipelineConfig, res: PipelineResources) -> None:
        self.cfg, self.res = cfg, res
        self.training = cfg.training
        self.tuned = cfg.training.tuning.enabled
        self.tracked = res.tracking_uri is not None

    # -- shared pieces -------------------------------------------------------------------
    def s3(self, *parts) -> dict:
        """s3://<artifacts>/pipelines/<env>/<model>/<execution id>/<parts>: one prefix per run."""
        runs = pipeline_runs_prefix(self.res.env_name, self.res.model_name)
        return join(f"s3://{self.res.artifacts_bucket}/{runs}", get("Execution.PipelineExecutionId"), *parts)

    def volume_key(self, instance_types: list[str]) -> dict:
        """VolumeKmsKeyId unless the instances have local NVMe storage, where SageMaker forbids it."""
        return {} if has_local_nvme(instance_types[0]) else {"VolumeKmsKeyId": self.res.kms_key_arn}

    def tracking_environment(self) -> dict:
        """The Environment entries of a job that logs to MLflow: the server, the experiment, and the run's name."""
        if not self.tracked:
            return {}
        return {"Environment": {
            "MLFLOW_TRACKING_URI": self.res.tracking_uri,
            "MLFLOW_EXPERIMENT_NAME": self.res.experiment_name,
            "PIPELINE_EXECUTION_ID": get("Execution.PipelineExecutionId"),
        }}

    @property
    def logging_jobs_isolated(self) -> bool:
        """Network isolation of the jobs that log (preprocess, train/tune, evaluate): off only to reach the server."""
        return not self.tracked

    def vpc(self) -> dict:
        return {"SecurityGroupIds": list(self.res.security_group_ids), "Subnets": list(self.res.subnet_ids)}

    def container(self, model_data_url) -> dict:
        return {
            "Image": self.res.image_uri,
            "ModelDataUrl": model_data_url,
            # train.py puts inference.py into the model archive, so the model carries its serving code.
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                # Answer requests without an Accept header in CSV (the container's own default is JSON).
                "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
            },
        }

    @staticmethod
    def processing_input(name: str, uri, local: str) -> dict:
        return {
            "InputName": name,
            "AppManaged": False,
            "S3Input": {
                "S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix",
                "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated",
            },
        }

    def processing_output(self, step: str, name: str) -> dict:
        return {
            "OutputName": name,
            "AppManaged": False,
            "S3Output": {"S3Uri": self.s3(step.lower(), name), "LocalPath": f"{PROCESSING}/output/{name}", "S3UploadMode": "EndOfJob"},
        }

    def processing_step(self, name: str, script: str, arguments: list, inputs: list, outputs: list[str], **extra) -> dict:
        types = self.cfg.processing_instance_types
        return {
            "Name": name,
            "Type": "Processing",
            "Arguments": {
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceType": param("ProcessingInstanceType"), "InstanceCount": 1, "VolumeSizeInGB": 30,
                        **self.volume_key(types),
                    }
                },
                "AppSpecification": {
                    "ImageUri": self.res.image_uri,
                    "ContainerEntrypoint": ["/bin/sh", "-c", PROCESSING_RUNNER, self.res.code_file],
                    "ContainerArguments": [script, *arguments],
                },
                "RoleArn": self.res.jobs_role_arn,
                "ProcessingInputs": [self.processing_input("code", self.res.code_uri, f"{PROCESSING}/input/code"), *inputs],
                "ProcessingOutputConfig": {
                    "Outputs": [self.processing_output(name, output) for output in outputs],
                    "KmsKeyId": self.res.kms_key_arn,
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
                "NetworkConfig": {
                    "EnableInterContainerTrafficEncryption": True,
                    "EnableNetworkIsolation": self.logging_jobs_isolated,
                    "VpcConfig": self.vpc(),
                },
                **self.tracking_environment(),
            },
            "RetryPolicies": JOB_RETRIES,
            **extra,
        }

    # -- steps -----------------------------------------------------------------------------
    def preprocess(self) -> dict:
        data = self.cfg.dataset
        return self.processing_step(
            "Preprocess",
            "preprocess.py",
            ["--input-dir", f"{PROCESSING}/input/raw", "--output-dir", f"{PROCESSING}/output",
             "--label-column", data.label_column, "--positive-label", data.positive_label,
             "--categorical-columns", ",".join(data.categorical_columns),
             "--drop-columns", ",".join(data.drop_columns),
             *(["--missing-values", json.dumps(data.missing_values)] if data.missing_values else []),
             # Errors about the data then name the config field to fix, not a script flag.
             "--config-source", f"{self.res.config_file}: models.{self.res.model_name}.dataset",
             "--train-shards", str(self.training.instance_count),
             # The execution's data must be this model's: preprocess refuses any other InputDataUri in one line (a Studio
             # team may start its model's pipeline with any parameter value; the model's jobs role could not read it).
             "--input-uri", param("InputDataUri"), *[a for allowed in self.res.allowed_inputs for a in ("--allowed-input", allowed)]],
            [self.processing_input("raw", param("InputDataUri"), f"{PROCESSING}/input/raw")],
            ["train", "validation", "test", "raw-test", "metadata", "baseline"],
        )

    def channels(self) -> list[dict]:
        def channel(name: str, uri, distribution: str = "FullyReplicated") -> dict:
            return {
                "ChannelName": name,
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": distribution}},
                **({"ContentType": "text/csv"} if name in ("train", "validation") else {}),
            }

        # Above one instance each host trains on its own files (preprocess wrote one per host).
        sharding = "ShardedByS3Key" if self.training.instance_count > 1 else "FullyReplicated"
        return [
            channel("train", output_uri("Preprocess", "train"), sharding),
            channel("validation", output_uri("Preprocess", "validation")),
            # The fitted preprocessing (features.json): train.py puts it into the model, which then takes raw rows.
            channel("metadata", output_uri("Preprocess", "metadata")),
            # With network isolation the container cannot fetch its code: it comes as a channel.
            channel("code", self.res.code_uri),
        ]

    def hyperparameters(self, exclude: tuple[str, ...] = ()) -> dict:
        values = {**self.training.hyperparameters.model_dump(), **self.training.extra_hyperparameters}
        hyper = {name: str(value) for name, value in sorted(values.items()) if name not in exclude}
        hyper["sagemaker_program"] = "train.py"
        hyper["sagemaker_submit_directory"] = f"{CODE_CHANNEL}/{self.res.code_file}"
        return hyper

    def training_job(self) -> dict:
        """Fields CreateTrainingJob and a tuning job's TrainingJobDefinition share."""
        t = self.training
        spot: dict[str, object] = {"EnableManagedSpotTraining": True} if t.spot else {}
        if t.spot and not self.tuned:
            # A retried training step resumes where its interrupted job stopped. Not for tuning: every
            # job of a tuning run would share the prefix and resume from another job's trees.
            spot["CheckpointConfig"] = {"S3Uri": self.s3("checkpoints"), "LocalPath": "/opt/ml/checkpoints"}
        return {
            "AlgorithmSpecification": {"TrainingImage": self.res.image_uri, "TrainingInputMode": "File", "MetricDefinitions": METRIC_DEFINITIONS},
            "RoleArn": self.res.jobs_role_arn,
            "InputDataConfig": self.channels(),
            "OutputDataConfig": {"S3OutputPath": self.s3("training"), "KmsKeyId": self.res.kms_key_arn},
            "ResourceConfig": {
                "InstanceType": param("TrainingInstanceType"),
                "InstanceCount": t.instance_count,
                "VolumeSizeInGB": t.volume_size_gb,
                **self.volume_key(t.instance_types),
            },
            "StoppingCondition": {
                "MaxRuntimeInSeconds": t.max_runtime_minutes * 60,
                **({"MaxWaitTimeInSeconds": t.max_wait_minutes * 60} if t.spot and t.max_wait_minutes else {}),
            },
            "VpcConfig": self.vpc(),
            "EnableNetworkIsolation": self.logging_jobs_isolated,
            "EnableInterContainerTrafficEncryption": True,
            **spot,
            **self.tracking_environment(),
        }

    def train(self) -> dict:
        debugger = self.training.debugger
        arguments = {**self.training_job(), "HyperParameters": self.hyperparameters()}
        arguments["AlgorithmSpecification"]["EnableSageMakerMetricsTimeSeries"] = True
        if debugger.profiler:
            arguments["ProfilerConfig"] = {"S3OutputPath": self.s3("profiler"), "ProfilingIntervalInMilliseconds": 500}
            if debugger.rules:
                arguments["ProfilerRuleConfigurations"] = [
                    {"RuleConfigurationName": rule, "RuleEvaluatorImage": self.res.debugger_image_uri,
                     "RuleParameters": {"rule_to_invoke": rule}}
                    for rule in debugger.rules
                ]
        else:
            arguments["ProfilerConfig"] = {"DisableProfiler": True}
        return {"Name": "Train", "Type": "Training", "Arguments": arguments, "RetryPolicies": JOB_RETRIES}

    def tune(self) -> dict:
        tuning = self.training.tuning
        ranges: dict[str, list] = {"ContinuousParameterRanges": [], "IntegerParameterRanges": [], "CategoricalParameterRanges": []}
        for name, spec in sorted(tuning.ranges.items()):
            kind = TUNABLE[name][0]
            low, high = (str(int(spec.min)), str(int(spec.max))) if kind == "Integer" else (str(spec.min), str(spec.max))
            ranges[f"{kind}ParameterRanges"].append({"Name": name, "MinValue": low, "MaxValue": high, "ScalingType": spec.scaling})
        definition = {**self.training_job(), "StaticHyperParameters": self.hyperparameters(exclude=tuple(tuning.ranges))}
        return {
            "Name": "Tune",
            "Type": "Tuning",
            "Arguments": {
                "HyperParameterTuningJobConfig": {
                    "Strategy": tuning.strategy,
                    "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": OBJECTIVE_METRIC},
                    "ResourceLimits": {"MaxNumberOfTrainingJobs": tuning.max_jobs, "MaxParallelTrainingJobs": tuning.max_parallel_jobs},
                    "ParameterRanges": ranges,
                    # Hyperband stops jobs itself; the others may stop hopeless jobs early.
                    "TrainingJobEarlyStoppingType": "Off" if tuning.strategy == "Hyperband" else "Auto",
                },
                "TrainingJobDefinition": definition,
            },
            "RetryPolicies": JOB_RETRIES,
        }

    def model_data(self):
        if self.tuned:
            # The best job first: <output path>/<job name>/output/model.tar.gz (as the SageMaker SDK does).
            return self.s3("training", get("Steps.Tune.TrainingJobSummaries[0].TrainingJobName"), "output/model.tar.gz")
        return get("Steps.Train.ModelArtifacts.S3ModelArtifacts")

    def evaluate(self) -> dict:
        return self.processing_step(
            "Evaluate",
            "evaluate.py",
            ["--model-dir", f"{PROCESSING}/model", "--validation-dir", f"{PROCESSING}/validation",
             "--test-dir", f"{PROCESSING}/test", "--output-dir", f"{PROCESSING}/output/evaluation",
             "--cutoff-rule", self.cfg.evaluation.cutoff_rule,
             *(["--hyperparameters-chosen-by", chosen] if (chosen := self.training.hyperparameters_chosen_by) else [])],
            [
                self.processing_input("model", self.model_data(), f"{PROCESSING}/model"),
                self.processing_input("validation", output_uri("Preprocess", "validation"), f"{PROCESSING}/validation"),
                self.processing_input("test", output_uri("Preprocess", "test"), f"{PROCESSING}/test"),
            ],
            ["evaluation"],
            PropertyFiles=[{"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}],
        )

    def evaluation_report_uri(self) -> dict:
        return join(output_uri("Evaluate", "evaluation"), "evaluation.json")

    def gate(self) -> dict:
        return {
            "Name": "EvaluationGate",
            "Type": "Lambda",
            "FunctionArn": self.res.gate_function_arn,
            "Arguments": {
                "evaluation_uri": self.evaluation_report_uri(),
                "model_package_group_name": self.res.model_package_group,
                "min_auc": param("MinAuc"),
                "min_precision": param("MinPrecision"),
                "min_recall": param("MinRecall"),
                "champion_metric": "auc",
                "champion_margin": param("ChampionMargin"),
                # The config's values: the parameters above may only make the gate stricter than these.
                **{f"configured_{name}": value for name, value in self.configured_checks().items()},
                # The run to tag with the decision: the one the jobs of this execution logged to.
                **({"pipeline_execution_id": get("Execution.PipelineExecutionId")} if self.tracked else {}),
            },
            "OutputParameters": [
                {"OutputName": "decision", "OutputType": "String"},
                {"OutputName": "reasons", "OutputType": "String"},
            ],
        }

    def configured_checks(self) -> dict[str, float]:
        ev = self.cfg.evaluation
        return {"min_auc": ev.min_auc, "min_precision": ev.min_precision, "min_recall": ev.min_recall,
                "champion_margin": ev.champion_margin}

    def register(self) -> dict:
        return {
            "Name": "RegisterModel",
            "Type": "RegisterModel",
            # Only what serves is registered: the batch transform runs the model's own serving code on the test
            # split's raw rows first, so serving code that cannot load (a module train.py did not ship) or refuses
            # the business's rows fails the execution instead of registering a version no endpoint can run.
            "DependsOn": ["BatchTransform"],
            "Arguments": {
                "ModelPackageGroupName": self.res.model_package_group,
                "ModelPackageDescription": join("Trained by pipeline execution", get("Execution.PipelineExecutionId"), on=" "),
                "ModelApprovalStatus": param("ModelApprovalStatus"),
                "InferenceSpecification": {
                    "Containers": [self.container(self.model_data())],
                    "SupportedContentTypes": CONTENT_TYPES,
                    "SupportedResponseMIMETypes": CONTENT_TYPES,
                    "SupportedTransformInstanceTypes": list(self.cfg.transform_instance_types),
                },
                "ModelMetrics": {
                    "ModelQuality": {"Statistics": self.report(self.evaluation_report_uri())},
                    "ModelDataQuality": self.data_quality_baseline(),
                },
                # What Model Monitor compares captured requests with once this version serves.
                "DriftCheckBaselines": {"ModelDataQuality": self.data_quality_baseline()},
            },
        }

    @staticmethod
    def report(uri) -> dict:
        return {"ContentType": "application/json", "S3Uri": uri}

    def data_quality_baseline(self) -> dict:
        """preprocess.py's Model Monitor baseline of the training features."""
        prefix = output_uri("Preprocess", "baseline")
        return {"Statistics": self.report(join(prefix, "statistics.json")), "Constraints": self.report(join(prefix, "constraints.json"))}

    def create_model(self) -> dict:
        return {
            "Name": "CreateModel",
            "Type": "Model",
            "Arguments": {
                "ExecutionRoleArn": self.res.jobs_role_arn,
                "PrimaryContainer": self.container(self.model_data()),
                "VpcConfig": self.vpc(),
                "EnableNetworkIsolation": True,
            },
        }

    def batch_transform(self) -> dict:
        types = self.cfg.transform_instance_types
        return {
            "Name": "BatchTransform",
            "Type": "Transform",
            "Arguments": {
                "ModelName": get("Steps.CreateModel.ModelName"),
                "TransformInput": {
                    # The test split as the business's own rows (label first, then the input columns): the
                    # endpoint's preprocessing, not the pipeline's, turns them into features.
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": output_uri("Preprocess", "raw-test")}},
                    "ContentType": "text/csv",
                    "SplitType": "Line",
                },
                "TransformOutput": {
                    "S3OutputPath": self.s3("transform"), "Accept": "text/csv", "AssembleWith": "Line", "KmsKeyId": self.res.kms_key_arn,
                },
                "TransformResources": {"InstanceType": param("TransformInstanceType"), "InstanceCount": 1, **self.volume_key(types)},
                # Send the features (the label is column 0), write "label,probability" per row.
                "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"},
                "BatchStrategy": "MultiRecord",
                "MaxPayloadInMB": 6,
            },
            "RetryPolicies": JOB_RETRIES,
        }

    def reject(self) -> dict:
        reasons = get("Steps.EvaluationGate.OutputParameters['reasons']")
        return {"Name": "RejectModel", "Type": "Fail", "Arguments": {"ErrorMessage": join("Model not promoted:", reasons, on=" ")}}

    def check(self) -> dict:
        auc = {"Std:JsonGet": {"PropertyFile": get("Steps.Evaluate.PropertyFiles.EvaluationReport"),
                               "Path": "binary_classification_metrics.auc.value"}}
        return {
            "Name": "CheckEvaluation",
            "Type": "Condition",
            "Arguments": {
                # Both must hold: the gate's decision, and (belt and braces) the report's AUC.
                "Conditions": [
                    {"Type": "Equals", "LeftValue": get("Steps.EvaluationGate.OutputParameters['decision']"), "RightValue": "promote"},
                    {"Type": "GreaterThanOrEqualTo", "LeftValue": auc, "RightValue": param("MinAuc")},
                    # A MinAuc lowered at start does not lower the bar: the configured one holds as well.
                    {"Type": "GreaterThanOrEqualTo", "LeftValue": auc, "RightValue": self.cfg.evaluation.min_auc},
                ],
                "IfSteps": [self.register(), self.create_model(), self.batch_transform()],
                "ElseSteps": [self.reject()],
            },
        }

    def parameters(self) -> list[dict]:
        cfg, ev = self.cfg, self.cfg.evaluation

        def choice(name: str, values: list[str]) -> dict:
            return {"Name": name, "Type": "String", "DefaultValue": values[0], "EnumValues": list(values)}

        return [
            {"Name": "InputDataUri", "Type": "String", "DefaultValue": self.res.input_uri},
            choice("ProcessingInstanceType", cfg.processing_instance_types),
            choice("TrainingInstanceType", cfg.training.instance_types),
            choice("TransformInstanceType", cfg.transform_instance_types),
            {"Name": "MinAuc", "Type": "Float", "DefaultValue": ev.min_auc},
            {"Name": "MinPrecision", "Type": "Float", "DefaultValue": ev.min_precision},
            {"Name": "MinRecall", "Type": "Float", "DefaultValue": ev.min_recall},
            {"Name": "ChampionMargin", "Type": "Float", "DefaultValue": ev.champion_margin},
            # Only as strict as configured or stricter: an execution may hold back an automatically approved
            # version, never approve one that the config sends to review (the model's pipeline role enforces it too).
            choice("ModelApprovalStatus", ev.allowed_approval_statuses),
        ]

    def build(self) -> dict:
        return {
            "Version": "2020-12-01",
            "Metadata": {},
            "Parameters": self.parameters(),
            "Steps": [self.preprocess(), self.tune() if self.tuned else self.train(), self.evaluate(), self.gate(), self.check()],
        }


def build_definition(cfg: PipelineConfig, res: PipelineResources) -> dict:
    return DefinitionBuilder(cfg, res).build()
