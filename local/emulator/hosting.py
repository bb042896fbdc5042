"""SageMaker real-time hosting inside the emulator: each endpoint's model served by training_scripts/serve.py.

SageMaker resolves an endpoint to its config's variant, the variant's model, the model's first container,
and (for a container that names a model package) the package's model archive; it downloads the archive,
runs the container on it and forwards InvokeEndpoint to the container's POST /invocations. This module
does the same on this machine: the archive comes from the emulator's own S3, the container is serve.py
(the hosting contract the project's models ship for), started with ``serve.start_process``.

A server starts on an endpoint's first invocation, not when the endpoint is created: deploying stays as
fast as before and needs no model archive (stacks that are only deployed, never invoked, start nothing),
and only endpoints that are used cost a process. The price: an archive that cannot be served shows at
the first invocation (the endpoint then turns Failed, with the reason in DescribeEndpoint's
FailureReason), where SageMaker would fail CreateEndpoint.

serve.py processes are the emulator's children and stay in its process group, so stopping the emulator
(which signals its whole group) stops them; an updated, deleted or reset endpoint stops its own server.
"""

from __future__ import annotations

import http.client
import io
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG = logging.getLogger("emulator.hosting")

#: InvokeEndpoint's headers that SageMaker passes to the container (the API's request members; SageMaker
#: strips every other header) and those it passes back from the container's answer.
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept", "X-Amzn-SageMaker-Custom-Attributes")
RETURNED_RESPONSE_HEADERS = ("Content-Type", "X-Amzn-SageMaker-Custom-Attributes")
#: How SageMaker names a single-container model's container in InvokeEndpoint's messages.
CONTAINER = "primary"
#: SageMaker gives a container 60 seconds to answer an invocation (InvokeEndpoint API reference).
INVOCATION_TIMEOUT_SECONDS = 60.0
MODEL_ERROR_STATUS = 424


class HostingError(Exception):
    """Why an endpoint's model cannot be served: said to the caller and kept as the endpoint's FailureReason."""


@dataclass(frozen=True)
class Deployment:
    """What one endpoint serves now; another endpoint config means another deployment, and another server."""

    endpoint: str
    config: str
    variant: str
    model: str
    model_data_url: str
    #: The variant is serverless (ServerlessConfig): its requests may be 4 MB, not 6.
    serverless: bool = False


# -- resolving an endpoint to its model archive (pure: dicts in, strings out) ---------------------------
def choose_variant(variants: Sequence[Mapping[str, Any]], target: str | None = None) -> Mapping[str, Any]:
    """The production variant that answers: the one named by TargetVariant, else the first (this emulator
    sends all traffic to one variant; the project's endpoints have exactly one)."""
    if not variants:
        raise HostingError("the endpoint configuration has no production variants")
    if target is None:
        return variants[0]
    for variant in variants:
        if variant.get("VariantName") == target:
            return variant
    names = ", ".join(str(v.get("VariantName")) for v in variants)
    raise HostingError(f"the endpoint has no variant named {target!r} (variants: {names})")


def model_containers(primary_container: Mapping[str, Any] | None, containers: Sequence[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    """A model's containers in invocation order: Containers when given (an inference pipeline), else PrimaryContainer."""
    if containers:
        return list(containers)
    return [primary_container] if primary_container else []


def model_data_url(container: Mapping[str, Any], describe_package: Callable[[str], Mapping[str, Any]]) -> str:
    """The S3 URL of the model.tar.gz a container serves: its model package's first inference container's
    ModelDataUrl when it names a package (what the Model Registry deploys), else its own ModelDataUrl."""
    package = container.get("ModelPackageName")
    if package:
        spec = describe_package(str(package)).get("InferenceSpecification") or {}
        inference = (spec.get("Containers") or [{}])[0]
        where = f"model package {package}"
    else:
        inference, where = container, "the model's container"
    url = inference.get("ModelDataUrl") or _gzip_source(inference.get("ModelDataSource"))
    if not url:
        raise HostingError(f"{where} names no ModelDataUrl; the emulator serves model.tar.gz archives from S3")
    return str(url)


def _gzip_source(source: Mapping[str, Any] | None) -> str | None:
    s3 = (source or {}).get("S3DataSource") or {}
    return s3.get("S3Uri") if s3.get("CompressionType") == "Gzip" else None


def split_s3_url(url: str) -> tuple[str, str]:
    """Bucket and key of an s3://bucket/key URL."""
    if not url.startswith("s3://") or "/" not in url[5:]:
        raise HostingError(f"model data URL {url!r} is not s3://bucket/key")
    bucket, key = url[5:].split("/", 1)
    if not bucket or not key:
        raise HostingError(f"model data URL {url!r} is not s3://bucket/key")
    return bucket, key


def extract_model(archive: bytes, target: Path, url: str = "the model archive") -> None:
    """Unpack a model.tar.gz into target as SageMaker unpacks it into /opt/ml/model; members that would
    land outside target (absolute paths, .., links out) are refused, as tarfile's 'data' filter does."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
                tar.extractall(target, filter="data")
            else:
                for member in tar.getmembers():
                    if member.name.startswith("/") or ".." in Path(member.name).parts or member.issym() or member.islnk():
                        raise tarfile.TarError(f"member {member.name!r} would be placed outside the model directory")
                tar.extractall(target)  # every member was checked above
    except (tarfile.TarError, OSError, EOFError) as error:
        raise HostingError(f"{url} is not a readable tar.gz archive: {error}") from None


# -- InvokeEndpoint's answers ----------------------------------------------------------------------------
def endpoint_not_found(endpoint: str, account: str) -> tuple[int, dict[str, str], str]:
    """InvokeEndpoint on a name with no endpoint: SageMaker answers ValidationError, in these words."""
    return client_error("ValidationError", f"Endpoint {endpoint} of account {account} not found.")


def client_error(code: str, message: str, status: int = 400) -> tuple[int, dict[str, str], str]:
    """A rest-json error as SageMaker Runtime sends it: the code in x-amzn-ErrorType, the members in the body."""
    import json

    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code}, json.dumps({"Message": message})


def model_error(status: int, message: str, *, endpoint: str, account: str, region: str) -> tuple[int, dict[str, str], str]:
    """The container answered 4xx or 5xx: InvokeEndpoint fails with ModelError (HTTP 424), the container's
    status and body in OriginalStatusCode and OriginalMessage, and a message in SageMaker's words.

    InvokeEndpoint API reference, Errors, ModelError: "Model (owned by the customer in the container) returned
    4xx or 5xx error code." (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html;
    members and HTTP status from botocore's sagemaker-runtime model, as documented at
    https://docs.aws.amazon.com/botocore/latest/reference/services/sagemaker-runtime/client/exceptions/ModelError.html).
    """
    import json

    kind = "client" if status < 500 else "server"
    log_group = f"/aws/sagemaker/Endpoints/{endpoint}"
    body = {
        "Message": f'Received {kind} error ({status}) from {CONTAINER} with message "{message}". See '
                   f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={log_group} "
                   f"in account {account} for more information.",
        "OriginalStatusCode": status,
        "OriginalMessage": message,
        "LogStreamArn": f"arn:aws:logs:{region}:{account}:log-group:{log_group}",
    }
    return MODEL_ERROR_STATUS, {"Content-Type": "application/json", "x-amzn-ErrorType": "ModelError"}, json.dumps(body)


def forward(port: int, body: bytes, headers: Mapping[str, str], timeout: float = INVOCATION_TIMEOUT_SECONDS) -> tuple[int, dict[str, str], bytes]:
    """POST /invocations to the container with InvokeEndpoint's passed-through headers; its status, headers, body."""
    sent = {name: headers[name] for name in FORWARDED_REQUEST_HEADERS if headers.get(name) is not None}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/invocations", body=body, headers=sent)
        response = connection.getresponse()
        payload = response.read()
        returned = {name: value for name in RETURNED_RESPONSE_HEADERS if (value := response.getheader(name)) is not None}
        return response.status, returned, payload
    finally:
        connection.close()


# -- serve.py processes ----------------------------------------------------------------------------------
@dataclass
class Running:
    """One serve.py process and the deployment it serves."""

    deployment: Deployment
    process: subprocess.Popen
    port: int

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


def start_server(deployment: Deployment, archive: bytes) -> Running:
    """serve.py for a model archive on a free loopback port, once GET /ping answers (the model is loaded).

    The unpacked model is removed as soon as the server answers: serve.py reads it only while loading, so
    an emulator that is killed leaves no model copies behind."""
    from local.emulator import free_port

    import serve  # training_scripts/serve.py imports XGBoost: only once an endpoint is invoked

    model_dir = Path(tempfile.mkdtemp(prefix=f"emulator-{deployment.endpoint}-"))
    try:
        extract_model(archive, model_dir, deployment.model_data_url)
        for attempt in (1, 2):  # a free port can be taken between choosing and binding it
            port = free_port()
            try:
                process = serve.start_process(str(model_dir), port)
                break
            except RuntimeError as error:
                if attempt == 2 or "cannot listen" not in str(error):
                    raise HostingError(f"the model from {deployment.model_data_url} could not be served: {error}") from None
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)
    _relay_stderr(process, deployment.endpoint)
    LOG.info("endpoint %s serves %s (model %s) on port %d", deployment.endpoint, deployment.model_data_url, deployment.model, port)
    return Running(deployment, process, port)


def _relay_stderr(process: subprocess.Popen, endpoint: str) -> None:
    """Copy the server's log into the emulator's: an unread pipe would fill up and block the server."""

    def relay() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            sys.stderr.write(f"[endpoint {endpoint}] {line}")

    threading.Thread(target=relay, name=f"serve-log-{endpoint}", daemon=True).start()


def stop_server(running: Running, grace: float = 5.0) -> None:
    if running.alive:
        running.process.terminate()
        try:
            running.process.wait(grace)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait(grace)
    LOG.info("endpoint %s: server on port %d stopped", running.deployment.endpoint, running.port)


#: Where an endpoint lives: (account, region, endpoint name).
Key = tuple[str, str, str]


class Servers:
    """The running servers, one per endpoint, started on demand and replaced when the deployment changes."""

    def __init__(self, start: Callable[[Deployment, bytes], Running] = start_server, stop: Callable[[Running], None] = stop_server) -> None:
        self._start, self._stop = start, stop
        self._running: dict[Key, Running] = {}
        self._locks: dict[Key, threading.Lock] = {}
        self._lock = threading.Lock()

    def port(self, key: Key, deployment: Deployment, fetch: Callable[[str], bytes]) -> int:
        """The port of the server for this deployment: the running one, else a new one (the old one stopped)."""
        with self._lock:
            endpoint_lock = self._locks.setdefault(key, threading.Lock())
        with endpoint_lock:  # concurrent first invocations start one server, not several
            running = self._running.get(key)
            if running is not None and running.deployment == deployment and running.alive:
                return running.port
            if running is not None:
                self.stop(key)
            started = self._start(deployment, fetch(deployment.model_data_url))
            self._running[key] = started
            return started.port

    def get(self, key: Key) -> Running | None:
        return self._running.get(key)

    def stop(self, key: Key) -> None:
        running = self._running.pop(key, None)
        if running is not None:
            self._stop(running)

    def stop_where(self, account: str, region: str) -> None:
        """Stop every server of one account and region (moto's reset of that SageMaker backend)."""
        for key in [k for k in list(self._running) if k[:2] == (account, region)]:
            self.stop(key)

    def stop_all(self) -> None:
        for key in list(self._running):
            self.stop(key)


#: The emulator's servers (one emulator process, one registry).
SERVERS = Servers()
