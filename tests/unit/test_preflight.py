"""`python -m delivery preflight`: the target account checked before a deploy, against the emulator with
seeded data (the emulator lists SageMaker's Service Quotas at 0 and grants RequestServiceQuotaIncrease at
once, local/emulator/server.py). Quota names follow SageMaker's "<instance type> for <usage>" form as the
Service Quotas console lists them (AWS docs: "Amazon SageMaker AI endpoints and quotas")."""

from __future__ import annotations

import subprocess
import sys

import pytest

from config import load_environment
from delivery.preflight import BOOTSTRAP_VERSION_PARAMETER, REQUIRED_BOOTSTRAP_VERSION, preflight, quota_needs
from tests.helpers.configs import EXAMPLE
from tests.helpers.paths import CONFIG_DIR, ROOT

DEV, STAGING = (load_environment(CONFIG_DIR / f"{env}.yaml") for env in ("dev", "staging"))


def test_the_required_bootstrap_version_is_what_the_templates_check(assembly):
    rule = assembly.template_json("dev", "Data")["Rules"]["CheckBootstrapVersion"]["Assertions"][0]["Assert"]
    refused = rule["Fn::Not"][0]["Fn::Contains"][0]
    assert REQUIRED_BOOTSTRAP_VERSION == max(int(v) for v in refused) + 1


def test_quota_needs_cover_tuning_parallelism_blue_green_and_every_model():
    needs = quota_needs(STAGING)
    example = STAGING.models["direct-marketing"]
    tuning = example.training.tuning
    assert tuning.enabled and example.training.spot
    spot = needs[f"{example.training.instance_types[0]} for spot training job usage"]
    assert spot.count >= example.training.instance_count * tuning.max_parallel_jobs
    serving = example.serving
    endpoint = needs[f"{serving.instance_type} for endpoint usage"]
    per_model = [2 * max(m.serving.autoscaling.max_instances, m.serving.initial_instance_count)
                 for m in STAGING.models.values() if m.serving.mode == "instances" and m.serving.instance_type == serving.instance_type]
    assert endpoint.count == sum(per_model) and len(endpoint.reasons) == len(per_model)
    assert needs[f"{STAGING.notebooks[0].instance_type} for notebook instance usage"].count == len(
        [n for n in STAGING.notebooks if n.instance_type == STAGING.notebooks[0].instance_type])
    # dev serves serverless: no endpoint instances, and no monitoring job
    assert not [n for n in quota_needs(DEV) if n.endswith("for endpoint usage")]


def clients(emulator, region: str = "us-east-1"):
    return {name.replace("-", "_"): emulator.client(name, region_name=region)
            for name in ("sts", "ssm", "service-quotas", "ec2", "sagemaker")}


def test_a_fresh_account_gets_one_line_per_shortfall_and_passes_once_they_are_fixed(emulator):
    report = preflight(DEV, **clients(emulator))
    assert report.shortfalls[0] == (f"CDK bootstrap: aws://{DEV.account}/{DEV.region} is not bootstrapped "
                                    f"({BOOTSTRAP_VERSION_PARAMETER} is missing); run: npx cdk bootstrap aws://{DEV.account}/{DEV.region}")
    quota_lines = [line for line in report.shortfalls if line.startswith("Service Quotas:")]
    assert len(quota_lines) == len(quota_needs(DEV))  # every quota is at 0 in a fresh emulated account
    assert all("\n" not in line and "request-service-quota-increase --service-code sagemaker --quota-code L-" in line
               for line in quota_lines)

    ssm, quotas = emulator.client("ssm"), emulator.client("service-quotas")
    ssm.put_parameter(Name=BOOTSTRAP_VERSION_PARAMETER, Value=str(REQUIRED_BOOTSTRAP_VERSION - 1), Type="String")
    assert f"has bootstrap version {REQUIRED_BOOTSTRAP_VERSION - 1}, the templates need {REQUIRED_BOOTSTRAP_VERSION}" in \
        preflight(DEV, **clients(emulator)).shortfalls[0]
    ssm.put_parameter(Name=BOOTSTRAP_VERSION_PARAMETER, Value=str(REQUIRED_BOOTSTRAP_VERSION), Type="String", Overwrite=True)
    codes = {q["QuotaName"]: q["QuotaCode"] for q in quotas.list_service_quotas(ServiceCode="sagemaker")["Quotas"]}
    needs = quota_needs(DEV)
    first, *rest = sorted(needs)
    for name in rest:  # the operator's requests, granted; one left one short
        quotas.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode=codes[name], DesiredValue=needs[name].count)
    quotas.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode=codes[first], DesiredValue=needs[first].count - 1)
    (line,) = preflight(DEV, **clients(emulator)).shortfalls
    assert line.startswith(f"Service Quotas: '{first}' is {needs[first].count - 1:g} in {DEV.account}/{DEV.region}, "
                           f"needs {needs[first].count} (")
    quotas.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode=codes[first], DesiredValue=needs[first].count)

    done = subprocess.run([sys.executable, "-m", "delivery", "preflight", "--env", "dev", "--config-dir", str(CONFIG_DIR),
                           "--endpoint-url", emulator.endpoint_url], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=emulator.env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(f"dev: {DEV.account}/{DEV.region} is ready")


@pytest.mark.parametrize("env", ["staging"])
def test_credentials_of_another_account_are_refused_before_anything_else(emulator, env):
    report = preflight(load_environment(CONFIG_DIR / f"{env}.yaml"), **clients(emulator))
    assert report.shortfalls == [f"credentials: they are for account 123456789012, {env} is account 222222222222 "
                                 f"({CONFIG_DIR / f'{env}.yaml'}); use that account's credentials"]
    done = subprocess.run([sys.executable, "-m", "delivery", "preflight", "--env", env, "--config-dir", str(CONFIG_DIR),
                           "--endpoint-url", emulator.endpoint_url], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=emulator.env())
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == f"{env}: 1 shortfall(s) in 222222222222/us-east-1; fix them, then deploy"


def test_reserved_gate_concurrency_must_leave_the_unreserved_minimum(emulator, tmp_path):
    """prod reserves concurrency for each model's gate; an account whose Lambda limit is 10 cannot."""
    from local.emulator.server import LAMBDA_CONCURRENCY_QUOTA_CODE
    from tests.helpers.configs import write_config

    prod = load_environment(CONFIG_DIR / "prod.yaml")
    reserved = prod.gate_function.reserved_concurrency
    assert reserved and prod.gate_function.dead_letter_queue
    data = __import__("yaml").safe_load((CONFIG_DIR / "prod.yaml").read_text())
    data["account"] = "123456789012"  # the emulator's, so that the account's own checks run
    env = load_environment(write_config(tmp_path, data, "prod"))
    quotas = emulator.client("service-quotas")
    assert not [line for line in preflight(env, **clients(emulator)).shortfalls if line.startswith("Lambda:")]  # 1,000
    quotas.request_service_quota_increase(ServiceCode="lambda", QuotaCode=LAMBDA_CONCURRENCY_QUOTA_CODE, DesiredValue=10)
    (line,) = [line for line in preflight(env, **clients(emulator)).shortfalls if line.startswith("Lambda:")]
    total = reserved * len(env.models)
    assert line.startswith(f"Lambda: 'Concurrent executions' is 10 in 123456789012/us-east-1; reserving {total} for the gates "
                           f"({reserved} x {len(env.models)} models, gate_function.reserved_concurrency) leaves {10 - total}, "
                           "and AWS keeps at least 10 unreserved; request it:")
    assert f"--desired-value {total + 10} " in line
    quotas.request_service_quota_increase(ServiceCode="lambda", QuotaCode=LAMBDA_CONCURRENCY_QUOTA_CODE, DesiredValue=1000)


def test_a_declared_data_quality_monitor_asks_the_operator_to_confirm_model_monitor_access(tmp_path):
    """Model Monitor, like Debugger, takes no new customers since 2026-07-30 (AWS's "Model Monitor availability
    change" note on its pages) and no API says whether an account may use it: preflight says so, once per monitored
    endpoint, and says nothing where no monitor is declared."""
    from delivery.preflight import Report, check_images
    from tests.helpers.configs import write_config

    data = __import__("yaml").safe_load((CONFIG_DIR / "staging.yaml").read_text())
    arn = "arn:aws:sagemaker:us-east-1:{account}:model-package/staging-{model}/1"
    monitored = [name for name, model in data["models"].items() if model.setdefault("serving", {}).get("mode", "instances") == "instances"]
    assert monitored
    for name in monitored:  # as an account that already uses Model Monitor may declare it
        data["models"][name]["serving"].setdefault("monitoring", {}).update(enabled=True, account_uses_model_monitor=True)
        data["models"][name]["serving"]["model_package_arn"] = arn.format(account=data["account"], model=name)
        data["models"][name]["serving"].setdefault("monitoring", {})["baseline_prefix"] = \
            f"pipelines/staging/{name}/abcdef123456/preprocess/baseline"
    env = load_environment(write_config(tmp_path, data, "staging"))
    report = Report()
    check_images(env, report)
    lines = [n for n in report.notes if "Model Monitor" in n]
    assert [line.split(":")[0] for line in lines] == [f"models.{name}.serving.monitoring" for name in monitored]
    assert "takes no new customers since 2026-07-30" in lines[0] and "monitoring.enabled: false" in lines[0]
    quiet = Report()
    check_images(STAGING, quiet)  # no version named: no endpoint, no monitor
    assert not [n for n in quiet.notes if "Model Monitor" in n]


def test_a_zone_the_region_lacks_and_an_unbootstrapped_replica_region_are_shortfalls(emulator, tmp_path):
    """The loader checks a zone's spelling and that no letter lies past the region's last (us-west-1c passes it: cfn-lint
    lists a and c), but which zones an account has differs, and app.py hands CDK the configured zones, so EC2 would
    refuse the subnets at deploy: preflight asks DescribeAvailabilityZones (the emulator answers with moto's zone list
    of the region, a and b for us-west-1). An environment that replicates deploys its DataReplica stack to the replica
    region, which must be bootstrapped too; preflight names both commands."""
    import yaml

    from tests.helpers.configs import write_config

    region = "us-west-1"
    data = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())
    zones = [z["ZoneName"] for z in emulator.client("ec2", region_name=region).describe_availability_zones()["AvailabilityZones"]]
    assert "us-west-1a" in zones and "us-west-1c" not in zones
    data["region"] = region
    data["network"]["availability_zones"] = ["us-west-1a", "us-west-1c"]
    data["notebooks"] = [{**notebook, "availability_zone": "us-west-1a"} if "availability_zone" in notebook else notebook
                         for notebook in data.get("notebooks") or []]
    data["data"]["replication"] = {"region": "us-west-2"}
    env = load_environment(write_config(tmp_path, data, "dev"))
    replica_ssm = emulator.client("ssm", region_name="us-west-2")
    report = preflight(env, **clients(emulator, region), replica_ssm=replica_ssm)
    # (The emulator's us-east-1 may be bootstrapped by an earlier test of this module: only the replica's line is sure.)
    assert (f"CDK bootstrap: aws://{env.account}/us-west-2 is not bootstrapped ({BOOTSTRAP_VERSION_PARAMETER} is missing); "
            f"run: npx cdk bootstrap aws://{env.account}/us-west-2") in report.shortfalls
    (zone_line,) = [line for line in report.shortfalls if line.startswith("network.availability_zones")]
    assert zone_line == (f"network.availability_zones: us-west-1c is not available to {env.account} in us-west-1 "
                         f"({env.source_file}; available: {', '.join(sorted(zones))})")

    emulator.client("ssm", region_name=region).put_parameter(Name=BOOTSTRAP_VERSION_PARAMETER, Value=str(REQUIRED_BOOTSTRAP_VERSION),
                                                             Type="String", Overwrite=True)
    replica_ssm.put_parameter(Name=BOOTSTRAP_VERSION_PARAMETER, Value=str(REQUIRED_BOOTSTRAP_VERSION), Type="String")
    data["network"]["availability_zones"] = zones[:2]
    fixed = preflight(load_environment(write_config(tmp_path, data, "dev")), **clients(emulator, region), replica_ssm=replica_ssm)
    assert not [line for line in fixed.shortfalls if line.startswith(("CDK bootstrap", "network."))]
    assert f"CDK bootstrap version {REQUIRED_BOOTSTRAP_VERSION} in aws://{env.account}/us-west-2 (need {REQUIRED_BOOTSTRAP_VERSION})" in fixed.ok


def test_a_served_version_the_endpoints_role_cannot_load_is_a_shortfall(emulator, tmp_path):
    """A version named by hand in the config (promote would refuse it): one whose model data is outside this model's
    pipeline runs, which is all the endpoint's own role reads, and one not approved; a version as the pipeline
    registers it passes."""
    from delivery.preflight import Report, check_served_versions
    from tests.helpers.configs import write_config

    sm = emulator.client("sagemaker")
    group = f"dev-{EXAMPLE}"
    if group not in [g["ModelPackageGroupName"] for g in sm.list_model_package_groups()["ModelPackageGroupSummaryList"]]:
        sm.create_model_package_group(ModelPackageGroupName=group)

    def register(model_data: str, status: str = "Approved") -> str:
        return sm.create_model_package(ModelPackageGroupName=group, ModelApprovalStatus=status, InferenceSpecification={
            "Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5", "ModelDataUrl": model_data}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]

    runs = f"s3://dev-model-artifacts/pipelines/dev/{EXAMPLE}/exec-1/train/model.tar.gz"
    cases = {register(runs): None, register("s3://dev-model-artifacts/notebooks/mine/model.tar.gz"): "is not under",
             register(runs, "PendingManualApproval"): "is PendingManualApproval, not Approved"}
    for arn, refusal in cases.items():
        data = __import__("yaml").safe_load((CONFIG_DIR / "dev.yaml").read_text())
        data["models"][EXAMPLE].setdefault("serving", {})["model_package_arn"] = arn
        env = load_environment(write_config(tmp_path, data, "dev"))
        report = Report()
        check_served_versions(env, sm, report)
        if refusal is None:
            assert report.shortfalls == [] and report.ok == [f"{EXAMPLE} serves {arn}: approved, its model data under this "
                                                             "model's pipeline runs"]
        else:
            (line,) = report.shortfalls
            assert line.startswith(f"models.{EXAMPLE}.serving.model_package_arn: ") and refusal in line and "\n" not in line

