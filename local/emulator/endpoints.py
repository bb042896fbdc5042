"""SageMaker real-time endpoints in the emulator: deployed by CloudFormation, updated, and invoked for real.

Fixes to moto 5.2.5 (each names the gap it fills; remove a fix once the pinned moto release has it), applied
by server.py's triggers when the moto module they patch loads. The serving itself is hosting.py's.
"""

# Patching moto's models at run time is what this module is for (as server.py; each fix says why).
# mypy: disable-error-code="method-assign, attr-defined, assignment"

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from local.emulator.hosting import (
    CONTAINER,
    SERVERS,
    Deployment,
    HostingError,
    choose_variant,
    client_error,
    endpoint_not_found,
    forward,
    model_containers,
    model_data_url,
    model_error,
    split_s3_url,
)

#: InvokeEndpoint's answer header naming the variant that answered (botocore: InvokedProductionVariant).
INVOKED_VARIANT_HEADER = "x-Amzn-Invoked-Production-Variant"
#: InvokeEndpoint's Body: at most 6 MB (botocore's sagemaker-runtime model: BodyBlob max 6291456). SageMaker's front
#: end refuses a longer one itself, before any container, with HTTP 413 "HTTP content length exceeded <limit>
#: bytes." and no error type (as users report it: aws/sagemaker-python-sdk#171, aws/amazon-sagemaker-examples#245).
MAX_BODY = 6 * 1024 * 1024
#: A serverless endpoint's request: at most 4 MB ("Invoke a serverless endpoint": "The maximum request and response
#: payload size for serverless invocations is 4 MB"); above it, ValidationError "Request <id> has oversize body."
#: (aws/sagemaker-python-sdk#4271).
MAX_SERVERLESS_BODY = 4 * 1024 * 1024
TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"


#: The properties whose change replaces the resource: each type's createOnlyProperties in its CloudFormation
#: registry schema (the template reference's "Update requires: Replacement"); a change to any other property
#: updates it in place (for an endpoint, UpdateEndpoint; for tags of the others, nothing moto keeps).
REPLACED_BY = {
    "AWS::SageMaker::Model": ("Containers", "EnableNetworkIsolation", "ExecutionRoleArn", "InferenceExecutionConfig", "ModelName",
                              "PrimaryContainer", "VpcConfig"),
    "AWS::SageMaker::EndpointConfig": ("AsyncInferenceConfig", "DataCaptureConfig", "EnableNetworkIsolation", "EndpointConfigName",
                                       "ExecutionRoleArn", "ExplainerConfig", "KmsKeyId", "MetricsConfig", "ProductionVariants",
                                       "ShadowProductionVariants", "VpcConfig"),
    "AWS::SageMaker::Endpoint": ("EndpointName",),
}


class VariantNotFound(HostingError):
    """The request names a variant the endpoint does not have: the request's fault, not the endpoint's."""


# -- the SageMaker API -----------------------------------------------------------------------------------
def sagemaker_api_hosts_models_from_the_registry() -> None:
    """moto 5.2.5's SageMaker hosting API, where it differs from SageMaker's:
    - DescribeModel of a model built from Containers (a model package's, say) reports an empty PrimaryContainer
      and VpcConfig, and EnableNetworkIsolation is dropped (always false); endpoint configs and endpoints
      report empty AsyncInferenceConfig and DataCaptureConfig they were not given;
    - CreateModel, CreateEndpointConfig and CreateEndpoint overwrite an existing resource of the same name;
    - endpoint configs accept only 66 older instance types (no g5, g6, p4d, p5; the API model has 277);
    - UpdateEndpoint is missing (HTTP 500), so a new model version cannot reach an existing endpoint;
    - DeleteEndpoint and moto's reset must also stop the endpoint's model server (hosting.py)."""
    import botocore.session
    from moto.core.utils import utcnow
    from moto.sagemaker import models, responses
    from moto.sagemaker.exceptions import ValidationError

    backend_class = models.SageMakerModelBackend

    def without_empty(answer: dict, optional: tuple[str, ...]) -> dict:
        """SageMaker's Describe* leave out what the resource was created without."""
        return {k: v for k, v in answer.items() if v or k not in optional}

    model_answer = models.Model.response_object.fget
    models.Model.response_object = property(lambda self: without_empty(model_answer(self), ("PrimaryContainer", "VpcConfig", "Containers")))

    def describe_endpoint_config(self: Any) -> Any:
        answer = self.sagemaker_backend.describe_endpoint_config(self._get_param("EndpointConfigName"))
        return responses.ActionResult(without_empty(answer, ("AsyncInferenceConfig", "DataCaptureConfig")))

    def describe_endpoint(self: Any) -> Any:
        answer = self.sagemaker_backend.describe_endpoint(self._get_param("EndpointName"))
        return responses.ActionResult(without_empty(answer, ("DataCaptureConfig",)))

    def refuse_existing(kind: str, arn: str) -> None:
        raise ValidationError(message=f'Cannot create already existing {kind} "{arn}".')

    create_model = backend_class.create_model

    def create_model_as_sagemaker(self: Any, *args: Any, enable_network_isolation: Any = False,
                                  inference_execution_config: dict | None = None, **kwargs: Any) -> Any:
        name = kwargs.get("model_name", args[0] if args else None)
        if name in self._models:
            refuse_existing("model", self._models[name].arn)
        model = create_model(self, *args, **kwargs)
        model.enable_network_isolation = str(enable_network_isolation).lower() == "true"
        if inference_execution_config:
            model.inference_execution_config = inference_execution_config
        return model

    def create_model_response(self: Any) -> Any:
        model = self.sagemaker_backend.create_model(
            model_name=self._get_param("ModelName"),
            execution_role_arn=self._get_param("ExecutionRoleArn"),
            primary_container=self._get_param("PrimaryContainer"),
            vpc_config=self._get_param("VpcConfig"),
            containers=self._get_param("Containers"),
            tags=self._get_param("Tags"),
            enable_network_isolation=self._get_param("EnableNetworkIsolation", False),
            inference_execution_config=self._get_param("InferenceExecutionConfig"),
        )
        return responses.ActionResult(model.response_create)

    create_config = backend_class.create_endpoint_config

    def create_config_once(self: Any, endpoint_config_name: str, *args: Any, **kwargs: Any) -> Any:
        if endpoint_config_name in self.endpoint_configs:
            refuse_existing("endpoint configuration", self.endpoint_configs[endpoint_config_name].endpoint_config_arn)
        return create_config(self, endpoint_config_name, *args, **kwargs)

    create_endpoint = backend_class.create_endpoint

    def create_endpoint_once(self: Any, endpoint_name: str, *args: Any, **kwargs: Any) -> Any:
        if endpoint_name in self.endpoints:
            refuse_existing("endpoint", self.endpoints[endpoint_name].arn)
        return create_endpoint(self, endpoint_name, *args, **kwargs)

    instance_types = botocore.session.get_session().get_service_model("sagemaker").shape_for("ProductionVariantInstanceType").enum

    def validate_instance_type(_self: Any, instance_type: str) -> None:
        if instance_type not in instance_types:
            raise ValidationError(message=f"Value '{instance_type}' at 'instanceType' failed to satisfy constraint: "
                                          f"Member must satisfy enum value set: [{', '.join(instance_types)}]")

    def update_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str, retain_all_variant_properties: bool = False,
                        exclude_retained_variant_properties: list[dict] | None = None, deployment_config: dict | None = None,
                        retain_deployment_config: bool = False) -> str:
        """UpdateEndpoint as SageMaker completes it: the endpoint keeps its name and serves the new config;
        with RetainAllVariantProperties a variant keeps its instance count and weight (what autoscaling set)."""
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = models.FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(message=f"Could not find endpoint '{arn}'.")
        config = self.describe_endpoint_config(endpoint_config_name)  # ValidationError when there is none
        variants = endpoint._process_production_variants(config["ProductionVariants"])
        if retain_all_variant_properties:
            excluded = {p.get("VariantPropertyType") for p in exclude_retained_variant_properties or []}
            before = {v["VariantName"]: v for v in endpoint.production_variants}
            retained = [k for prop, keys in (("DesiredInstanceCount", ("CurrentInstanceCount", "DesiredInstanceCount")),
                                             ("DesiredWeight", ("CurrentWeight", "DesiredWeight")))
                        if prop not in excluded for k in keys]
            for variant in variants:
                old = before.get(variant["VariantName"], {})
                variant.update({k: old[k] for k in retained if k in old})
            if "DataCaptureConfig" in excluded:
                endpoint.data_capture_config = config.get("DataCaptureConfig", {})
        else:
            endpoint.data_capture_config = config.get("DataCaptureConfig", {})
        endpoint.endpoint_config_name = endpoint_config_name
        endpoint.production_variants = variants
        if deployment_config or not retain_deployment_config:
            endpoint.last_deployment_config = deployment_config or None
        endpoint.endpoint_status, endpoint.failure_reason = "InService", None
        endpoint.last_modified_time = utcnow()
        SERVERS.stop((self.account_id, self.region_name, endpoint_name))  # the next invocation serves the new model
        return str(endpoint.arn)

    def update_endpoint_response(self: Any) -> Any:
        arn = self.sagemaker_backend.update_endpoint(
            endpoint_name=self._get_param("EndpointName"),
            endpoint_config_name=self._get_param("EndpointConfigName"),
            retain_all_variant_properties=self._get_param("RetainAllVariantProperties", False),
            exclude_retained_variant_properties=self._get_param("ExcludeRetainedVariantProperties"),
            deployment_config=self._get_param("DeploymentConfig"),
            retain_deployment_config=self._get_param("RetainDeploymentConfig", False),
        )
        return responses.ActionResult({"EndpointArn": arn})

    delete_endpoint = backend_class.delete_endpoint

    def delete_endpoint_and_server(self: Any, endpoint_name: str) -> None:
        delete_endpoint(self, endpoint_name)
        SERVERS.stop((self.account_id, self.region_name, endpoint_name))

    reset = backend_class.reset

    def reset_and_stop_servers(self: Any) -> None:
        SERVERS.stop_where(self.account_id, self.region_name)
        reset(self)

    create_transform_job = backend_class.create_transform_job

    def create_transform_job_and_run_it(self: Any, transform_job_name: str, model_name: str, *args: Any, **kwargs: Any) -> Any:
        """moto records a transform job as Completed and runs nothing (no output, whatever the input): here it is
        InProgress while the pipeline runner's own transform (local/jobs/transform.py) serves the model's archive
        on the input, then Completed, or Failed with the reason, as DescribeTransformJob reports it."""
        job = create_transform_job(self, transform_job_name, model_name, *args, **kwargs)
        job.transform_job_status = "InProgress"
        threading.Thread(target=run_transform_job, args=(self, job), name=f"transform-{transform_job_name}", daemon=True).start()
        return job

    backend_class.create_transform_job = create_transform_job_and_run_it
    backend_class.create_model = create_model_as_sagemaker
    backend_class.create_endpoint_config = create_config_once
    backend_class.create_endpoint = create_endpoint_once
    backend_class.update_endpoint = update_endpoint
    backend_class.delete_endpoint = delete_endpoint_and_server
    backend_class.reset = reset_and_stop_servers
    models.FakeEndpointConfig.validate_instance_type = validate_instance_type
    responses.SageMakerResponse.create_model = create_model_response
    responses.SageMakerResponse.describe_endpoint_config = describe_endpoint_config
    responses.SageMakerResponse.describe_endpoint = describe_endpoint
    responses.SageMakerResponse.update_endpoint = update_endpoint_response


# -- CloudFormation --------------------------------------------------------------------------------------
def sagemaker_endpoints_deploy() -> None:
    """moto 5.2.5's AWS::SageMaker::Model reads PrimaryContainer unconditionally (KeyError for a model built
    from Containers, as a model package version is) and ignores EnableNetworkIsolation; its endpoint and
    endpoint config are re-created on any update (a new endpoint config must update the endpoint in place,
    keeping its name) and its generated names exceed SageMaker's 63 characters for long stack names.
    These three types are deployed through the SageMaker API instead.

    Ref returns each one's ARN (its CloudFormation primary identifier: ModelArn, EndpointConfigArn, EndpointArn
    in the resource schemas, cfn-lint's copy), Fn::GetAtt its name (ModelName, EndpointConfigName, EndpointName)
    or its ARN, as the template reference documents: https://docs.aws.amazon.com/AWSCloudFormation/latest/
    TemplateReference/aws-resource-sagemaker-{model,endpointconfig,endpoint}.html (Return values). Which
    changes replace a resource and which update it in place: REPLACED_BY."""
    from moto.sagemaker.models import sagemaker_backends

    from local.emulator.cloudformation import Deployed, api_backed, register

    def quietly(delete: Any, name: str) -> None:
        """Deleting what is already gone succeeds, as CloudFormation's delete handlers do."""
        from moto.sagemaker.exceptions import MissingModel, ValidationError

        try:
            delete(name)
        except (MissingModel, ValidationError):
            pass

    def create_model(backend: Any, name: str, props: dict) -> Deployed:
        model = backend.create_model(
            model_name=name,
            execution_role_arn=props.get("ExecutionRoleArn"),
            primary_container=props.get("PrimaryContainer"),
            vpc_config=props.get("VpcConfig"),
            containers=props.get("Containers"),
            tags=props.get("Tags"),
            enable_network_isolation=props.get("EnableNetworkIsolation", False),
            inference_execution_config=props.get("InferenceExecutionConfig"),
        )
        return Deployed(model.arn, lambda: quietly(backend.delete_model, name), {"ModelName": name, "ModelArn": model.arn}, name=name)

    def create_config(backend: Any, name: str, props: dict) -> Deployed:
        config = backend.create_endpoint_config(
            endpoint_config_name=name,
            production_variants=props.get("ProductionVariants") or [],
            data_capture_config=props.get("DataCaptureConfig") or {},
            async_inference_config=props.get("AsyncInferenceConfig") or {},
            kms_key_id=props.get("KmsKeyId"),
            tags=props.get("Tags") or [],
        )
        arn = config.endpoint_config_arn
        return Deployed(arn, lambda: quietly(backend.delete_endpoint_config, name),
                        {"EndpointConfigName": name, "EndpointConfigArn": arn}, name=name)

    def create_endpoint(backend: Any, name: str, props: dict) -> Deployed:
        endpoint = backend.create_endpoint(endpoint_name=name, endpoint_config_name=props.get("EndpointConfigName"), tags=props.get("Tags") or [])
        return Deployed(endpoint.arn, lambda: quietly(backend.delete_endpoint, name), {"EndpointName": name, "EndpointArn": endpoint.arn}, name=name)

    def update_endpoint(backend: Any, deployed: Deployed, props: dict) -> Deployed:
        if any(props.get(key) != deployed.properties.get(key) for key in ("EndpointConfigName", "DeploymentConfig")):
            backend.update_endpoint(
                endpoint_name=deployed.name,
                endpoint_config_name=props.get("EndpointConfigName"),
                retain_all_variant_properties=str(props.get("RetainAllVariantProperties", False)).lower() == "true",
                exclude_retained_variant_properties=props.get("ExcludeRetainedVariantProperties"),
                deployment_config=props.get("DeploymentConfig"),
                retain_deployment_config=str(props.get("RetainDeploymentConfig", False)).lower() == "true",
            )
        return deployed

    register(
        api_backed("AWS::SageMaker::Model", "ModelName", create_model, backends=sagemaker_backends,
                   attributes=("ModelName", "ModelArn"), replaced_by=REPLACED_BY["AWS::SageMaker::Model"]),
        api_backed("AWS::SageMaker::EndpointConfig", "EndpointConfigName", create_config, backends=sagemaker_backends,
                   attributes=("EndpointConfigName", "EndpointConfigArn"), replaced_by=REPLACED_BY["AWS::SageMaker::EndpointConfig"]),
        api_backed("AWS::SageMaker::Endpoint", "EndpointName", create_endpoint, backends=sagemaker_backends,
                   attributes=("EndpointName", "EndpointArn"), replaced_by=REPLACED_BY["AWS::SageMaker::Endpoint"],
                   update=update_endpoint),
    )


# -- SageMaker Runtime -----------------------------------------------------------------------------------
def sagemaker_runtime_invokes_the_endpoints_model() -> None:
    """moto 5.2.5's InvokeEndpoint answers canned data ("body", for any endpoint name, existing or not).
    This one answers as SageMaker does: the endpoint's model, served by serve.py, scores the request."""
    from moto.sagemakerruntime import responses

    def invoke_endpoint(self: Any) -> tuple[int, dict[str, str], Any]:
        endpoint = unquote(self.path.split("/")[2])  # /endpoints/{EndpointName}/invocations
        status, headers, body = invoke(self.current_account, self.region, endpoint, self.raw_body or b"", self.headers)
        return status, {**headers, "status": str(status)}, body  # moto takes the HTTP status from "status"

    responses.SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint
    # The body is the model's input: bytes as sent (moto would decode it as UTF-8 and fail on binary payloads).
    responses.SageMakerRuntimeResponse.use_raw_body = True

    # Whatever the Content-Type names, the request is InvokeEndpoint on its path, with its body as sent. moto reads
    # application/x-www-form-urlencoded (curl --data's default) as a query-protocol call: werkzeug parses the body
    # into form fields (leaving no body), the action is looked up in them, none is found, and moto answers an empty
    # 404, as for no service at all. SageMaker passes any content type to the container, which refuses what it
    # cannot read (serve.py: 415 naming what it takes).
    setup_class = responses.SageMakerRuntimeResponse.setup_class
    get_action = responses.SageMakerRuntimeResponse._get_action

    def setup_with_the_body_as_sent(self: Any, request: Any, *args: Any, **kwargs: Any) -> None:
        body = request.get_data(cache=True, parse_form_data=False)  # read before werkzeug parses it as a form
        setup_class(self, request, *args, **kwargs)
        self.body = self.raw_body = body

    def action_by_path(self: Any) -> str:
        parts = self.path.split("/")
        if self.method == "POST" and len(parts) == 4 and parts[1] == "endpoints" and parts[3] == "invocations":
            return "InvokeEndpoint"
        return get_action(self)

    responses.SageMakerRuntimeResponse.setup_class = setup_with_the_body_as_sent
    responses.SageMakerRuntimeResponse._get_action = action_by_path


def invoke(account: str, region: str, name: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, str], Any]:
    """InvokeEndpoint: resolve the endpoint to its model archive, make sure a server runs it, forward the request."""
    from moto.sagemaker.models import sagemaker_backends

    if len(body) > MAX_BODY:
        return too_long()
    backend = sagemaker_backends[account][region]
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        return endpoint_not_found(name, account)
    if endpoint.endpoint_status != "InService":
        reason = f": {endpoint.failure_reason}" if endpoint.failure_reason else ""
        return client_error("ValidationError", f"Endpoint {name} of account {account} is {endpoint.endpoint_status}, not InService{reason}")
    key = (account, region, name)
    try:
        deployment = resolve(backend, endpoint, headers.get(TARGET_VARIANT_HEADER))
        if deployment.serverless and len(body) > MAX_SERVERLESS_BODY:  # refused before any model server starts
            return client_error("ValidationError", f"Request {uuid.uuid4()} has oversize body. (A serverless endpoint takes "
                                f"at most {MAX_SERVERLESS_BODY} bytes a request, this one has {len(body)}: send fewer rows "
                                "a request.)")
        port = SERVERS.port(key, deployment, lambda url: fetch(account, region, url))
    except VariantNotFound as error:
        return client_error("ValidationError", str(error))
    except HostingError as error:
        # As SageMaker does with an endpoint whose model cannot start: Failed, and the reason in DescribeEndpoint.
        endpoint.endpoint_status, endpoint.failure_reason = "Failed", str(error)
        return client_error("ValidationError", f"Endpoint {name} of account {account} is Failed, not InService: {error}")
    try:
        status, answer_headers, answer = forward(port, bytes(body), headers)
    except TimeoutError:
        return client_error("ModelError", f"Your invocation timed out while waiting for a response from container {CONTAINER}.", 424)
    except OSError as error:
        # The server is gone (killed, crashed): InternalFailure, which clients retry; the retry starts a new one.
        return client_error("InternalFailure", f"the model server of endpoint {name} did not answer: {error}", 500)
    if status >= 400:
        return model_error(status, answer.decode("utf-8", errors="replace"), endpoint=name, account=account, region=region)
    answer_headers[INVOKED_VARIANT_HEADER] = deployment.variant
    return 200, answer_headers, answer


def too_long() -> tuple[int, dict[str, str], str]:
    """SageMaker's front end refusing a body over 6 MB: HTTP 413, no error type (botocore names the error "413")."""
    import json

    return 413, {"Content-Type": "application/json"}, json.dumps({"message": f"HTTP content length exceeded {MAX_BODY} bytes."})


def resolve(backend: Any, endpoint: Any, target_variant: str | None = None) -> Deployment:
    """Endpoint -> endpoint config -> variant -> model -> first container -> model archive URL."""
    config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
    if config is None:
        raise HostingError(f"its endpoint configuration {endpoint.endpoint_config_name} does not exist")
    try:
        variant = choose_variant(config.production_variants, target_variant)
    except HostingError as error:
        raise (VariantNotFound(str(error)) if target_variant else error) from None
    name = str(variant.get("ModelName"))
    url = model_archive_url(backend, name, missing=f"the model {name} of variant {variant.get('VariantName')} does not exist")
    return Deployment(endpoint=endpoint.endpoint_name, config=config.endpoint_config_name, variant=str(variant.get("VariantName")),
                      model=name, model_data_url=url, serverless=bool(variant.get("ServerlessConfig")))


def model_archive_url(backend: Any, name: str, missing: str) -> str:
    """Model -> first container -> its model archive URL (its own, or its model package version's); HostingError
    (``missing`` when there is no such model) otherwise."""
    model = backend._models.get(name)
    if model is None:
        raise HostingError(missing)
    containers = model_containers(model.primary_container, model.containers)
    if not containers:
        raise HostingError(f"the model {model.model_name} has no container")

    def describe_package(package: str) -> dict:
        try:
            return {"InferenceSpecification": backend.describe_model_package(package).inference_specification}
        except Exception as error:
            raise HostingError(f"the model package {package} of model {model.model_name} does not exist") from error

    return model_data_url(containers[0], describe_package)


def run_transform_job(backend: Any, job: Any) -> None:
    """A CreateTransformJob's work, as the pipeline's local runner does it; the job's status and FailureReason say
    how it ended."""
    import tempfile
    from pathlib import Path

    from local.emulator.cloudformation import emulator_clients
    from local.jobs import transform_job

    try:
        url = model_archive_url(backend, job.model_name, missing=f"Could not find model \"{job.model_name}\".")
        request = {"TransformInput": job.transform_input, "TransformOutput": job.transform_output,
                   "DataProcessing": job.data_processing or {}, "BatchStrategy": job.batch_strategy or "MultiRecord",
                   "MaxPayloadInMB": job.max_payload_in_mb or 6}
        (s3,) = emulator_clients(backend.region_name, "s3")
        with tempfile.TemporaryDirectory(prefix="transform-") as root:
            transform_job(s3, request, url, Path(root))
    except Exception as error:  # noqa: BLE001 - whatever stopped the job is its FailureReason, in one line
        job.failure_reason = " ".join(str(error).split())[:1024] or type(error).__name__
        job.transform_job_status = "Failed"
        return
    job.transform_job_status = "Completed"


def fetch(account: str, region: str, url: str) -> bytes:
    """The model archive from the emulator's own S3 (its in-process backend: no request, no credentials)."""
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    bucket, key = split_s3_url(url)
    failed = (f'Failed to download model data for container "{CONTAINER}" from URL: "{url}". Please ensure that there is an '
              "object located at the URL and that the role passed to CreateModel has permissions to download the object.")
    try:
        found = s3_backends[account][get_partition(region)].get_object(bucket, key)
    except Exception as error:
        raise HostingError(failed) from error
    if found is None or not hasattr(found, "value"):
        raise HostingError(failed)
    return bytes(found.value)
