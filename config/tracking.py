"""Typed schema of an environment's `tracking:` block: SageMaker's managed MLflow tracking server.

One server per environment (AWS::SageMaker::MlflowTrackingServer, stacks/foundation/tracking_server.py);
every pipeline run of every model logs to it when ``enabled``. A server runs, and is billed, around the
clock whatever its use (SageMaker pricing, "MLflow"), hence off by default.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from config.fields import StrictModel

#: TrackingServerSize of CreateMlflowTrackingServer (and of the CloudFormation type): how many users and
#: calls it serves (AWS: Small up to 25 users, Medium up to 50, Large up to 100).
TRACKING_SERVER_SIZES = ("Small", "Medium", "Large")
#: An MLflow minor version; SageMaker runs that line's latest patch it offers (MlflowVersion, e.g. 3.0, 2.16).
MLFLOW_VERSION = re.compile(r"^\d+\.\d+$")
#: The server versions the pipeline's MLflow client works with. AWS pairs each tracking server line with one client
#: ("Integrate MLflow with your environment", SageMaker Developer Guide: server 2.13.x with mlflow 2.13.2, 2.16.x with
#: 2.16.2, 3.0.x with 3.0.1), and the jobs and the gate log with mlflow-skinny 3.0.1 (training_scripts/tracking.py's
#: CLIENT; a test holds the two together).
MLFLOW_SERVER_VERSIONS = ("3.0",)


def _check_size(value: str) -> str:
    if value not in TRACKING_SERVER_SIZES:
        raise ValueError(f"not a tracking server size (allowed: {', '.join(TRACKING_SERVER_SIZES)})")
    return value


def _check_version(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError('must be a quoted version such as "3.0" (YAML reads an unquoted 3.0 as a number)')
    if isinstance(value, str) and not MLFLOW_VERSION.fullmatch(value):
        raise ValueError(f"must be an MLflow minor version, digits.digits (allowed: {', '.join(MLFLOW_SERVER_VERSIONS)})")
    if isinstance(value, str) and value not in MLFLOW_SERVER_VERSIONS:
        raise ValueError(f"the pipeline's MLflow client (mlflow-skinny in training_scripts/tracking.py) is one AWS pairs with "
                         f"tracking server {' or '.join(MLFLOW_SERVER_VERSIONS)} only (allowed: {', '.join(MLFLOW_SERVER_VERSIONS)})")
    return value


class TrackingConfig(StrictModel):
    """The environment's MLflow tracking server, and whether the pipelines log to it."""

    enabled: bool = False
    size: Annotated[str, AfterValidator(_check_size)] = "Small"
    #: Register a model into the SageMaker Model Registry when it is registered in MLflow (the group is
    #: the MLflow model's name, which must then be one of this environment's <env>-<model> groups).
    automatic_model_registration: bool = False
    mlflow_version: Annotated[str, BeforeValidator(_check_version)] = "3.0"
