"""The embedded emulator really starts moto, isolates AWS settings and always stops the server."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from local.emulator import ACCOUNT, Emulator, EmulatorError, endpoints, serving_resources, tracking_resources
from local.emulator.cloudformation import changed_properties, generated_name
from local.emulator.hosting import (
    Deployment,
    HostingError,
    Running,
    Servers,
    choose_variant,
    endpoint_not_found,
    extract_model,
    forward,
    model_containers,
    model_data_url,
    model_error,
    split_s3_url,
)
from local.emulator.serving_resources import scalable_target_id, split_scalable_target_id
from tests.helpers.cfn_schemas import resource_schema
from tests.helpers.emulator import answers

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def emu():
    with Emulator() as e:
        yield e


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_s3_bucket_round_trip(emu):
    s3 = emu.client("s3")
    s3.create_bucket(Bucket="emulator-test-bucket")
    assert "emulator-test-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket="emulator-test-bucket")


def test_reset_wipes_state(emu):
    s3 = emu.client("s3")
    s3.create_bucket(Bucket="emulator-reset-bucket")
    emu.reset()
    assert s3.list_buckets()["Buckets"] == []


def test_env_points_only_at_emulator(emu):
    base = {"PATH": "/bin", "AWS_PROFILE": "prod", "AWS_SESSION_TOKEN": "t", "AWS_ENDPOINT_URL_S3": "https://x"}
    env = emu.env(base)
    assert env["AWS_ENDPOINT_URL"] == f"http://localhost:{emu.port}" == emu.endpoint_url
    assert env["CDK_DEFAULT_ACCOUNT"] == ACCOUNT
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == env["CDK_DEFAULT_REGION"] == emu.region
    assert env["AWS_EC2_METADATA_DISABLED"] == "true" and env["PATH"] == "/bin"
    assert not {"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"} & env.keys()


def test_client_ignores_stray_profile(emu, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "does-not-exist")
    assert emu.client("sts").get_caller_identity()["Account"] == ACCOUNT


def process(emulator: Emulator) -> subprocess.Popen[bytes]:
    assert emulator.process is not None, "the emulator was never started"
    return emulator.process


def test_second_emulator_gets_its_own_port_and_exit_stops_it(emu):
    with Emulator() as other:
        assert other.port != emu.port
        pid, port = process(other).pid, other.port
        assert answers(port)
    assert process(other).returncode is not None and _gone(pid)
    assert not answers(port)
    assert answers(emu.port)  # the shared one is untouched


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_exception_in_body_still_stops_server(exc):
    with pytest.raises(exc):
        with Emulator() as e:
            pid, port = process(e).pid, e.port
            raise exc("boom")
    assert _gone(pid) and not answers(port)


def test_taken_port_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(EmulatorError, match=rf"port {port}\b.*already in use"):
            Emulator(port).start()


def test_no_answer_in_time_is_an_error_and_cleans_up(tmp_path):
    e = Emulator(timeout=0, log_path=tmp_path / "moto.log")
    with pytest.raises(EmulatorError, match="did not answer within 0s"):
        e.start()
    assert process(e).returncode is not None and _gone(process(e).pid)


@pytest.fixture
def spawn():
    procs: list[subprocess.Popen[str]] = []

    def _spawn(args: list[str]) -> subprocess.Popen[str]:
        # Own session so the signal we send mimics a terminal hitting only that program's group.
        p = subprocess.Popen(
            [sys.executable, *args], cwd=REPO_ROOT, text=True, stdout=subprocess.PIPE,
            start_new_session=True,
        )
        procs.append(p)
        return p

    yield _spawn
    for p in procs:  # a failed assertion must not leave servers behind
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        if p.stdout:
            p.stdout.close()


def test_sigterm_to_host_process_stops_server(spawn):
    code = "import time\nfrom local.emulator import Emulator\nwith Emulator() as e:\n" \
           "    print(e.process.pid, e.port, flush=True)\n    time.sleep(60)\n"
    p = spawn(["-c", code])
    pid, port = map(int, p.stdout.readline().split())
    p.send_signal(signal.SIGTERM)
    assert p.wait(15) == 128 + signal.SIGTERM
    assert _gone(pid) and not answers(port)


def test_cli_prints_exports_and_stops_on_ctrl_c(spawn):
    p = spawn(["-m", "local.emulator"])
    out = ""
    while "Ctrl-C to stop." not in out and p.poll() is None:  # wait until it is ready and idle
        out += p.stdout.readline()
    port = int(out.split("http://localhost:")[1].split()[0])
    assert answers(port)
    os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C does to the foreground process group
    rest, _ = p.communicate(timeout=15)  # bounded: a process that ignores Ctrl-C fails, not hangs
    out += rest
    assert p.returncode == 0
    assert f"export AWS_ENDPOINT_URL=http://localhost:{port}" in out and "emulator stopped" in out
    assert not answers(port)


# -- hosting SageMaker endpoints: the pure parts (the integration tests serve real models) ----------------
def test_the_first_variant_answers_unless_the_request_names_one():
    variants = [{"VariantName": "blue"}, {"VariantName": "green"}]
    assert choose_variant(variants)["VariantName"] == "blue"
    assert choose_variant(variants, "green")["VariantName"] == "green"
    with pytest.raises(HostingError, match=r"no variant named 'red' \(variants: blue, green\)"):
        choose_variant(variants, "red")
    with pytest.raises(HostingError, match="no production variants"):
        choose_variant([])


def test_a_models_containers_are_its_pipeline_else_its_primary_container():
    assert model_containers({"Image": "a"}, [{"Image": "b"}, {"Image": "c"}]) == [{"Image": "b"}, {"Image": "c"}]
    assert model_containers({"Image": "a"}, []) == [{"Image": "a"}]
    assert model_containers({}, None) == []


def test_a_container_serves_its_model_packages_archive_or_its_own():
    packages: dict[str, dict[str, Any]] = {"arn:pkg/1": {"InferenceSpecification": {"Containers": [{"Image": "x", "ModelDataUrl": "s3://b/v1/model.tar.gz"}]}},
                "arn:pkg/2": {"InferenceSpecification": {"Containers": [{"Image": "x", "ModelDataSource": {
                    "S3DataSource": {"S3Uri": "s3://b/v2/model.tar.gz", "S3DataType": "S3Object", "CompressionType": "Gzip"}}}]}},
                "arn:pkg/3": {"InferenceSpecification": {"Containers": [{"Image": "x"}]}}}
    assert model_data_url({"ModelPackageName": "arn:pkg/1"}, packages.__getitem__) == "s3://b/v1/model.tar.gz"
    assert model_data_url({"ModelPackageName": "arn:pkg/2"}, packages.__getitem__) == "s3://b/v2/model.tar.gz"
    assert model_data_url({"Image": "x", "ModelDataUrl": "s3://b/own.tar.gz"}, packages.__getitem__) == "s3://b/own.tar.gz"
    with pytest.raises(HostingError, match="model package arn:pkg/3 names no ModelDataUrl"):
        model_data_url({"ModelPackageName": "arn:pkg/3"}, packages.__getitem__)


@pytest.mark.parametrize("url", ["https://b/k", "s3://bucket", "s3:///key", "s3://bucket/"])
def test_a_model_data_url_must_be_an_s3_object(url):
    with pytest.raises(HostingError, match="is not s3://bucket/key"):
        split_s3_url(url)
    assert split_s3_url("s3://bucket/a/b/model.tar.gz") == ("bucket", "a/b/model.tar.gz")


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize("filters", [True, False], ids=["tarfile-filters", "python-before-3.11.4"])
def test_a_model_archive_unpacks_as_sagemaker_unpacks_it_and_nothing_escapes(tmp_path, monkeypatch, filters):
    if not filters:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    extract_model(tar_gz({"xgboost-model.json": b"{}", "code/inference.py": b"# code"}), tmp_path / "model")
    assert sorted(p.relative_to(tmp_path / "model").as_posix() for p in (tmp_path / "model").rglob("*") if p.is_file()) == [
        "code/inference.py", "xgboost-model.json"]
    with pytest.raises(HostingError, match="s3://b/evil.tar.gz is not a readable tar.gz archive"):
        extract_model(tar_gz({"../escaped.txt": b"x"}), tmp_path / "evil", "s3://b/evil.tar.gz")
    assert not (tmp_path / "escaped.txt").exists()
    with pytest.raises(HostingError, match="not a readable tar.gz archive"):
        extract_model(b"not an archive", tmp_path / "junk")


def test_a_containers_error_is_a_model_error_as_sagemaker_sends_it():
    status, headers, body = model_error(400, '{"message": "bad row"}', endpoint="ep", account=ACCOUNT, region="eu-west-1")
    answer = json.loads(body)
    assert (status, headers["x-amzn-ErrorType"]) == (424, "ModelError")
    assert answer["Message"].startswith('Received client error (400) from primary with message "{"message": "bad row"}". See https://eu-west-1.')
    assert answer["Message"].endswith(f"group=/aws/sagemaker/Endpoints/ep in account {ACCOUNT} for more information.")
    assert (answer["OriginalStatusCode"], answer["OriginalMessage"]) == (400, '{"message": "bad row"}')
    assert answer["LogStreamArn"] == f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/ep"
    server_error = json.loads(model_error(500, "boom", endpoint="ep", account=ACCOUNT, region="r")[2])
    assert server_error["Message"].startswith('Received server error (500) from primary with message "boom".')


def test_an_unknown_endpoint_is_named_in_sagemakers_words():
    status, headers, body = endpoint_not_found("nope", ACCOUNT)
    assert (status, headers["x-amzn-ErrorType"]) == (400, "ValidationError")
    assert json.loads(body) == {"Message": f"Endpoint nope of account {ACCOUNT} not found."}


def test_an_invocation_passes_on_only_the_headers_sagemaker_passes(tmp_path):
    seen: dict = {}

    class Container(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.update(headers=dict(self.headers), body=self.rfile.read(int(self.headers["Content-Length"])))
            answer = b"0.5\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("X-Amzn-SageMaker-Custom-Attributes", "model=v2")
            self.send_header("X-Internal", "not for the caller")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Container)
    threading.Thread(target=server.handle_request, daemon=True).start()
    try:
        status, headers, body = forward(server.server_address[1], b"1,2", {
            "Content-Type": "text/csv", "Accept": "text/csv", "X-Amzn-SageMaker-Custom-Attributes": "trace=1",
            "Authorization": "AWS4-HMAC-SHA256 secret", "X-Amz-Date": "20260101T000000Z"})
    finally:
        server.server_close()
    assert (status, body, headers) == (200, b"0.5\n", {"Content-Type": "text/csv", "X-Amzn-SageMaker-Custom-Attributes": "model=v2"})
    assert seen["body"] == b"1,2"
    assert {k: v for k, v in seen["headers"].items() if k not in ("Host", "Accept-Encoding", "Content-Length")} == {
        "Content-Type": "text/csv", "Accept": "text/csv", "X-Amzn-SageMaker-Custom-Attributes": "trace=1"}


class FakeProcess:
    def __init__(self) -> None:
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


def fake_servers() -> tuple[Servers, list[str], list[str]]:
    started: list[str] = []
    stopped: list[str] = []

    def start(deployment: Deployment, archive: bytes) -> Running:
        time.sleep(0.05)  # long enough for concurrent first invocations to meet
        started.append(f"{deployment.endpoint}:{deployment.config}:{archive.decode()}")
        return Running(deployment, FakeProcess(), 8000 + len(started))  # type: ignore[arg-type]

    return Servers(start, lambda running: stopped.append(running.deployment.config)), started, stopped


def deployment(endpoint: str = "ep", config: str = "c1") -> Deployment:
    return Deployment(endpoint=endpoint, config=config, variant="primary", model="m", model_data_url=f"s3://b/{config}.tar.gz")


def test_one_server_per_endpoint_replaced_when_the_deployment_changes_or_the_server_died():
    servers, started, stopped = fake_servers()
    key = (ACCOUNT, "us-east-1", "ep")
    fetch = lambda url: url.encode()
    assert servers.port(key, deployment(), fetch) == servers.port(key, deployment(), fetch) == 8001
    assert servers.port(key, deployment(config="c2"), fetch) == 8002
    assert (started, stopped) == (["ep:c1:s3://b/c1.tar.gz", "ep:c2:s3://b/c2.tar.gz"], ["c1"])
    running = servers.get(key)
    assert running is not None
    running.process.returncode = 1
    assert servers.port(key, deployment(config="c2"), fetch) == 8003


def test_concurrent_first_invocations_start_one_server():
    servers, started, _ = fake_servers()
    key = (ACCOUNT, "us-east-1", "ep")
    ports: list[int] = []
    threads = [threading.Thread(target=lambda: ports.append(servers.port(key, deployment(), lambda _url: b"a"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ports == [8001] * 4 and len(started) == 1


def test_servers_stop_by_endpoint_by_account_and_region_and_all():
    servers, _, stopped = fake_servers()
    for key in [(ACCOUNT, "us-east-1", "a"), (ACCOUNT, "eu-west-1", "b"), ("210987654321", "us-east-1", "c")]:
        servers.port(key, deployment(key[2], config=key[2]), lambda _url: b"a")
    servers.stop((ACCOUNT, "us-east-1", "nothing-there"))
    servers.stop_where(ACCOUNT, "us-east-1")
    assert stopped == ["a"]
    servers.stop_all()
    assert sorted(stopped) == ["a", "b", "c"] and servers.get((ACCOUNT, "eu-west-1", "b")) is None


# -- CloudFormation types the emulator adds --------------------------------------------------------------
def test_generated_names_keep_the_logical_id_within_sagemakers_limit():
    name = generated_name("EndpointModel0F230181")
    assert re.fullmatch(r"EndpointModel0F230181-[A-Za-z0-9]{12}", name)
    long_name = generated_name("A" * 80)
    assert len(long_name) == 63 and re.fullmatch(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", long_name)
    assert generated_name("Alarm", 255) != generated_name("Alarm", 255)


def test_changed_properties_include_added_and_removed_ones():
    assert changed_properties({"A": 1, "B": [1], "C": 3}, {"A": 1, "B": [2], "D": 4}) == {"B", "C", "D"}


def test_a_scalable_targets_ref_holds_what_its_policy_needs():
    target = scalable_target_id("endpoint/ep/variant/primary", "sagemaker:variant:DesiredInstanceCount", "sagemaker")
    assert target == "endpoint/ep/variant/primary|sagemaker:variant:DesiredInstanceCount|sagemaker"
    assert split_scalable_target_id(target) == ("endpoint/ep/variant/primary", "sagemaker:variant:DesiredInstanceCount", "sagemaker")
    with pytest.raises(ValueError, match="is not resource-id"):
        split_scalable_target_id("endpoint/ep/variant/primary")


@pytest.mark.parametrize("cfn_type, replaced_by", [*endpoints.REPLACED_BY.items(), *serving_resources.REPLACED_BY.items(),
                                                         *tracking_resources.REPLACED_BY.items()])
def test_what_replaces_a_resource_is_what_its_registry_schema_says(cfn_type, replaced_by):
    create_only = {p.removeprefix("/properties/") for p in resource_schema(cfn_type)["createOnlyProperties"]}
    assert set(replaced_by) == create_only


def test_change_sets_go_with_their_execution_and_the_clis_cleanup_of_none_is_a_no_op(emu):
    """CloudFormation removes a stack's change sets once one is executed (User Guide, "Execute a change set"), so
    the CDK CLI's next deploy (same change-set name) finds none: its DeleteChangeSet by name must succeed, and
    a change set with nothing to change is FAILED, as CloudFormation reports it; a deleted stack resolves no
    outputs (resolving a Ref output would create its resource again)."""
    import json

    template = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                           "Outputs": {"Arn": {"Value": {"Ref": "Topic"}, "Export": {"Name": "change-set-topic"}}}})
    cfn, sns = emu.client("cloudformation"), emu.client("sns")
    for kind in ("CREATE", "UPDATE"):
        cfn.delete_change_set(StackName="change-sets", ChangeSetName="cdk-deploy-change-set") if kind == "UPDATE" else None
        cfn.create_change_set(StackName="change-sets", ChangeSetName="cdk-deploy-change-set", TemplateBody=template, ChangeSetType=kind)
        described = cfn.describe_change_set(StackName="change-sets", ChangeSetName="cdk-deploy-change-set")
        if kind == "CREATE":
            assert described["Status"] == "CREATE_COMPLETE"
            cfn.execute_change_set(StackName="change-sets", ChangeSetName="cdk-deploy-change-set")
            assert cfn.list_change_sets(StackName="change-sets")["Summaries"] == []
        else:
            assert described["Status"] == "FAILED" and "didn't contain changes" in described["StatusReason"]
    stack_id = cfn.describe_stacks(StackName="change-sets")["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName="change-sets")
    assert "Outputs" not in cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
    assert not [t for t in sns.list_topics()["Topics"] if "change-sets" in t["TopicArn"]]


def test_a_tracking_server_deploys_answers_get_att_and_goes_with_its_stack(emu):
    """AWS::SageMaker::MlflowTrackingServer (the Data stack's, with tracking on): Ref is its name, Fn::GetAtt
    TrackingServerArn its ARN (the type's template reference); a second server of the same name is refused, and
    deleting the stack removes it."""
    import json

    server = {"Type": "AWS::SageMaker::MlflowTrackingServer", "Properties": {
        "TrackingServerName": "dev-mlflow", "ArtifactStoreUri": "s3://artifacts/mlflow", "TrackingServerSize": "Small",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/tracking", "MlflowVersion": "3.0", "WeeklyMaintenanceWindowStart": "Sun:03:30"}}
    template = json.dumps({"Resources": {"Server": server}, "Outputs": {
        "Name": {"Value": {"Ref": "Server"}}, "Arn": {"Value": {"Fn::GetAtt": ["Server", "TrackingServerArn"]}}}})
    cfn = emu.client("cloudformation")
    cfn.create_stack(StackName="tracking", TemplateBody=template)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="tracking")["Stacks"][0]["Outputs"]}
    assert outputs == {"Name": "dev-mlflow", "Arn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:mlflow-tracking-server/dev-mlflow"}
    with pytest.raises(Exception, match="already exists"):
        cfn.create_stack(StackName="tracking-again", TemplateBody=template)
    cfn.delete_stack(StackName="tracking")
    cfn.create_stack(StackName="tracking-after-delete", TemplateBody=template)  # the name is free again
    cfn.delete_stack(StackName="tracking-after-delete")


def test_a_stack_whose_export_another_imports_is_not_deleted(emu):
    """CloudFormation refuses to delete a stack whose export another stack imports: it keeps its status, and the
    reason names the export and its importer ("Export ... cannot be deleted as it is in use by ...", as
    aws/aws-cdk#604 and boto/boto3#4192 show it). Before, the emulator deleted it and the importer's endpoint
    kept serving. ListImports (which moto lacks) names the importer."""
    import json

    exporter = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                           "Outputs": {"Arn": {"Value": {"Ref": "Topic"}, "Export": {"Name": "shared-topic-arn"}}}})
    importer = json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {
        "Tags": [{"Key": "topic", "Value": {"Fn::ImportValue": "shared-topic-arn"}}]}}}})
    cfn = emu.client("cloudformation")
    cfn.create_stack(StackName="exporter", TemplateBody=exporter)
    cfn.create_stack(StackName="importer", TemplateBody=importer)
    assert cfn.list_imports(ExportName="shared-topic-arn")["Imports"] == ["importer"]
    cfn.delete_stack(StackName="exporter")
    (stack,) = cfn.describe_stacks(StackName="exporter")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["StackStatusReason"] == "Export shared-topic-arn cannot be deleted as it is in use by importer"
    cfn.delete_stack(StackName="importer")  # the importer first, as cdk destroy orders them
    with pytest.raises(Exception, match="Export 'shared-topic-arn' is not imported by any stack"):  # AWS's answer
        cfn.list_imports(ExportName="shared-topic-arn")
    cfn.delete_stack(StackName="exporter")
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(Exception, match="Export 'shared-topic-arn' does not exist"):
        cfn.list_imports(ExportName="shared-topic-arn")


def test_an_update_that_removes_an_export_another_imports_is_rolled_back(emu):
    """CloudFormation refuses an update that removes an export another stack imports ("After another stack imports an
    output value, you can't delete the stack that is exporting the output value or modify the exported output value",
    the Fn::ImportValue page of the CloudFormation User Guide; "Export ... cannot be deleted as it is in use by ...") and
    rolls the stack back. Before, the emulator applied it: the export vanished under its importer, and a deploy that
    fails in AWS succeeded locally. An update that keeps the export, or removes one nothing imports, goes through."""
    import json

    def exporter(*exports: str, queue: bool = False, topic: str = "Topic") -> str:
        resources: dict = {"Topic": {"Type": "AWS::SNS::Topic"}, "Other": {"Type": "AWS::SNS::Topic"}}
        if queue:
            resources["Queue"] = {"Type": "AWS::SQS::Queue"}
        return json.dumps({"Resources": resources, "Outputs": {
            f"Out{i}": {"Value": {"Ref": topic}, "Export": {"Name": name}} for i, name in enumerate(exports)}})

    importer = json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {
        "Tags": [{"Key": "topic", "Value": {"Fn::ImportValue": "used-topic-arn"}}]}}}})
    cfn = emu.client("cloudformation")
    cfn.create_stack(StackName="exporter", TemplateBody=exporter("used-topic-arn", "unused-topic-arn"))
    cfn.create_stack(StackName="importer", TemplateBody=importer)

    def update(template: str) -> dict:
        cfn.create_change_set(StackName="exporter", ChangeSetName="cdk-deploy-change-set", TemplateBody=template,
                              ChangeSetType="UPDATE")
        cfn.execute_change_set(StackName="exporter", ChangeSetName="cdk-deploy-change-set")
        return dict(cfn.describe_stacks(StackName="exporter")["Stacks"][0])

    refused = update(exporter("unused-topic-arn", queue=True))
    assert (refused["StackStatus"], refused["StackStatusReason"]) == (
        "UPDATE_ROLLBACK_COMPLETE", "Export used-topic-arn cannot be deleted as it is in use by importer")
    assert {e["Name"] for e in cfn.list_exports()["Exports"]} == {"used-topic-arn", "unused-topic-arn"}
    assert sorted(r["LogicalResourceId"] for r in cfn.describe_stack_resources(StackName="exporter")["StackResources"]) == [
        "Other", "Topic"]
    assert cfn.list_imports(ExportName="used-topic-arn")["Imports"] == ["importer"]
    changed = update(exporter("used-topic-arn", "unused-topic-arn", topic="Other"))  # another value under the name
    assert (changed["StackStatus"], changed["StackStatusReason"]) == (
        "UPDATE_ROLLBACK_COMPLETE", "Cannot update export used-topic-arn as it is in use by importer")
    kept = update(exporter("used-topic-arn", queue=True))  # the unused export may go
    assert kept["StackStatus"] == "UPDATE_COMPLETE" and "StackStatusReason" not in kept  # the refusal's reason is gone
    assert {e["Name"] for e in cfn.list_exports()["Exports"]} == {"used-topic-arn"}


def test_a_bucket_goes_with_its_stack_emptied_where_cdk_asks_and_is_kept_with_its_objects_otherwise(emu):
    """A stack's bucket with objects: CDK's Custom::S3AutoDeleteObjects empties one tagged aws-cdk:auto-delete-objects
    (what aws-cdk-lib's auto-delete-objects-handler does on Delete: every version, then the bucket goes); without it
    S3 refuses ("The bucket you tried to delete is not empty") and the stack is DELETE_FAILED. Before, both stacks
    reached DELETE_COMPLETE and left their buckets and objects behind."""
    import json

    def template(bucket: str, auto_delete: bool) -> str:
        resources: dict = {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {
            "BucketName": bucket, "VersioningConfiguration": {"Status": "Enabled"},
            "Tags": [{"Key": "aws-cdk:auto-delete-objects", "Value": "true"}] if auto_delete else []}}}
        if auto_delete:
            resources["AutoDelete"] = {"Type": "Custom::S3AutoDeleteObjects", "DependsOn": ["Bucket"], "Properties": {
                "ServiceToken": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:provider", "BucketName": {"Ref": "Bucket"}}}
        return json.dumps({"Resources": resources})

    cfn, s3 = emu.client("cloudformation"), emu.client("s3")
    for stack, auto_delete in (("auto-deleted", True), ("kept", False)):
        cfn.create_stack(StackName=stack, TemplateBody=template(f"{stack}-bucket", auto_delete))
        for body in (b"v1", b"v2"):  # two versions of one object
            s3.put_object(Bucket=f"{stack}-bucket", Key="data/rows.csv", Body=body)
        stack_id = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackId"]
        cfn.delete_stack(StackName=stack)
        (described,) = cfn.describe_stacks(StackName=stack_id)["Stacks"]
        buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        if auto_delete:
            assert described["StackStatus"] == "DELETE_COMPLETE" and f"{stack}-bucket" not in buckets
        else:
            assert described["StackStatus"] == "DELETE_FAILED"
            assert "The bucket you tried to delete is not empty" in described["StackStatusReason"]
            assert f"{stack}-bucket" in buckets
            assert s3.get_object(Bucket="kept-bucket", Key="data/rows.csv")["Body"].read() == b"v2"


def test_data_quality_job_definitions_list_with_their_endpoint(emu):
    """MonitoringJobDefinitionSummary.EndpointName is the endpoint the definition's input names (SageMaker API
    reference); moto answered the literal 'EndpointName' for every one."""
    sagemaker = emu.client("sagemaker")
    sagemaker.create_data_quality_job_definition(
        JobDefinitionName="dev-direct-marketing-data-quality",
        DataQualityAppSpecification={"ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"},
        DataQualityJobInput={"EndpointInput": {"EndpointName": "dev-direct-marketing", "LocalPath": "/opt/ml/processing/input"}},
        DataQualityJobOutputConfig={"MonitoringOutputs": [{"S3Output": {"S3Uri": "s3://b/monitoring", "LocalPath": "/opt/ml/processing/output"}}]},
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}},
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/monitor")
    (summary,) = [s for s in sagemaker.list_data_quality_job_definitions()["JobDefinitionSummaries"]
                  if s["MonitoringJobDefinitionName"] == "dev-direct-marketing-data-quality"]
    assert summary["EndpointName"] == "dev-direct-marketing"
