"""AWS::SageMaker::MlflowTrackingServer in the emulator: moto 5.2.5 has neither the type in its CloudFormation
nor an MLflow API ("No Moto CloudFormation support"), and a Data stack with the server would fail to deploy.

The server is recorded on moto's SageMaker backend (``mlflow_tracking_servers``, by name) with the properties
it was deployed with; Ref gives its name and Fn::GetAtt TrackingServerArn its ARN, as the type's template
reference documents. No MLflow runs here: local mode's tracking server is a real MLflow on localhost, which
the demo starts. Remove this once the pinned moto release deploys the type.
"""

from __future__ import annotations

from typing import Any

#: createOnlyProperties of the type's CloudFormation registry schema: a change replaces the server.
REPLACED_BY = {"AWS::SageMaker::MlflowTrackingServer": ("TrackingServerName",)}


def tracking_server_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:mlflow-tracking-server/{name}"


def mlflow_tracking_servers_deploy() -> None:
    """See the module docstring."""
    from moto.sagemaker.models import sagemaker_backends

    from local.emulator.cloudformation import Deployed, api_backed, register

    def servers(backend: Any) -> dict[str, dict]:
        if not hasattr(backend, "mlflow_tracking_servers"):
            backend.mlflow_tracking_servers = {}
        return backend.mlflow_tracking_servers

    def create(backend: Any, name: str, props: dict) -> Deployed:
        held = servers(backend)
        if name in held:
            raise ValueError(f"Cannot create a tracking server with name {name}: it already exists")
        arn = tracking_server_arn(backend.region_name, backend.account_id, name)
        held[name] = {"TrackingServerName": name, "TrackingServerArn": arn, "TrackingServerStatus": "Created",
                      "IsActive": "Active", **{k: v for k, v in props.items() if k != "TrackingServerName"}}
        return Deployed(name, lambda: held.pop(name, None), {"TrackingServerArn": arn}, name=name)

    def update(backend: Any, deployed: Deployed, props: dict) -> Deployed:
        # UpdateMlflowTrackingServer changes size, store, registration and window in place.
        servers(backend)[deployed.name].update({k: v for k, v in props.items() if k != "TrackingServerName"})
        return deployed

    register(
        api_backed("AWS::SageMaker::MlflowTrackingServer", "TrackingServerName", create, backends=sagemaker_backends,
                   attributes=("TrackingServerArn",), replaced_by=REPLACED_BY["AWS::SageMaker::MlflowTrackingServer"], update=update, name_limit=256),
    )
