"""Preflight: does the target account have what a deploy of this environment will ask of it?

    python -m delivery preflight --env staging        (make preflight ENV=staging)

One line per shortfall, and exit 1 if there is any; what is fine is listed as `ok:` lines.
Checked, with the account's credentials (read-only calls):

- Credentials: they are the environment's account's (STS GetCallerIdentity).
- CDK bootstrap: the version in SSM (/cdk-bootstrap/hnb659fds/version) is at least the one the
  synthesized templates require (their CheckBootstrapVersion rule).
- CDK bootstrap of the replica region too, where data.replication deploys the DataReplica stack.
- Availability zones: each of network.availability_zones is available to the account in the region
  (EC2 DescribeAvailabilityZones); the config checks only their spelling.
- Service Quotas: for every instance type and usage the config asks for, the account's SageMaker quota
  ("<type> for training job usage", "... for spot training job usage", "... for processing job usage",
  "... for transform job usage", "... for endpoint usage", "... for notebook instance usage") covers the
  peak: training instance count times the tuning job's parallel jobs; an endpoint's autoscaling maximum,
  doubled while a blue/green deployment runs both fleets; one instance per processing or transform step
  and per monitoring schedule; one per notebook. Each model's needs add up, as their pipelines may run
  at once.
- Lambda: the reserved concurrency of every model's evaluation gate (gate_function.reserved_concurrency)
  leaves at least 10 of the account's "Concurrent executions" unreserved, as AWS requires (other
  functions' reservations are not counted: reserve with that margin in mind).
- Images: every container image the templates name is published for the region (the SageMaker SDK's
  image-URI data, which config validation reads too).
- Debugger and Model Monitor: both take no new customers since 2026-07-30 (AWS documentation: the
  Debugger pages, and "Amazon SageMaker Model Monitor availability change" on the Model Monitor pages),
  and AWS offers no call that says whether an account may still use them; where a model enables the
  profiler or a data-quality monitor, a line says so for the operator to confirm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from catalog.images import debugger_rules_image, model_monitor_image, xgboost_image
from config import EnvironmentConfig

#: The bootstrap stack version the templates' CheckBootstrapVersion rule requires (DefaultStackSynthesizer's;
#: tests/unit/test_preflight.py reads it back from the synthesized templates).
REQUIRED_BOOTSTRAP_VERSION = 6
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"


@dataclass
class Need:
    """How many instances one Service Quota must allow, and for what."""

    quota_name: str
    count: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, count: int, reason: str) -> None:
        self.count += count
        self.reasons.append(reason)


@dataclass
class Report:
    """The preflight's result: shortfalls fail it, notes and ok lines inform."""

    shortfalls: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ok: list[str] = field(default_factory=list)


def quota_needs(env: EnvironmentConfig) -> dict[str, Need]:
    """The peak instance count per SageMaker quota name that deploying and running this environment needs."""
    needs: dict[str, Need] = {}

    def need(instance_type: str, usage: str, count: int, reason: str) -> None:
        name = f"{instance_type} for {usage}"
        needs.setdefault(name, Need(name)).add(count, reason)

    for model in env.models.values():
        at = f"models.{model.name}"
        training = model.training
        parallel = training.tuning.max_parallel_jobs if training.tuning.enabled else 1
        usage = "spot training job usage" if training.spot else "training job usage"
        for instance_type in training.instance_types:  # an execution may pick any of them
            why = f"{at}.training: {training.instance_count} instance(s)" + (
                f" x {parallel} parallel tuning jobs" if training.tuning.enabled else "")
            need(instance_type, usage, training.instance_count * parallel, why)
        for instance_type in model.processing_instance_types:
            need(instance_type, "processing job usage", 1, f"{at}: preprocess and evaluate steps")
        for instance_type in model.transform_instance_types:
            need(instance_type, "transform job usage", 1, f"{at}: batch transform step")
        serving = model.serving
        if serving.mode == "instances":
            fleet = max(serving.autoscaling.max_instances, serving.initial_instance_count)
            when = "" if serving.model_package_arn else " once it serves a version"
            need(serving.instance_type, "endpoint usage", 2 * fleet,
                 f"{at}.serving{when}: up to {fleet} instance(s), doubled during a blue/green deployment")
            if serving.data_capture.enabled and serving.monitoring.enabled:
                need(serving.monitoring.instance_type, "processing job usage", 1, f"{at}.serving.monitoring: the schedule's job")
    for notebook in env.notebooks:
        need(notebook.instance_type, "notebook instance usage", 1, f"notebooks: {notebook.name}")
    return needs


def check_account(env: EnvironmentConfig, sts, report: Report) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        account = sts.get_caller_identity()["Account"]
    except (ClientError, BotoCoreError) as exc:
        report.shortfalls.append(f"credentials: cannot call STS GetCallerIdentity ({exc}); use {env.name}'s account's credentials")
        return False
    if account != env.account:
        report.shortfalls.append(f"credentials: they are for account {account}, {env.name} is account {env.account} "
                                 f"({env.source_file}); use that account's credentials")
        return False
    report.ok.append(f"credentials for {account}")
    return True


def check_bootstrap(env: EnvironmentConfig, ssm, report: Report, required: int = REQUIRED_BOOTSTRAP_VERSION,
                    region: str | None = None) -> None:
    """``region``: another region the environment deploys a stack to (data.replication's), read with ``ssm`` of it."""
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"aws://{env.account}/{region or env.region}"
    try:
        version = int(ssm.get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)["Parameter"]["Value"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            report.shortfalls.append(f"CDK bootstrap: {where} is not bootstrapped ({BOOTSTRAP_VERSION_PARAMETER} is "
                                     f"missing); run: npx cdk bootstrap {where}")
            return
        report.shortfalls.append(f"CDK bootstrap: cannot read {BOOTSTRAP_VERSION_PARAMETER} in {where}: {exc}")
        return
    except (BotoCoreError, ValueError) as exc:
        report.shortfalls.append(f"CDK bootstrap: cannot read {BOOTSTRAP_VERSION_PARAMETER} in {where}: {exc}")
        return
    if version < required:
        report.shortfalls.append(f"CDK bootstrap: {where} has bootstrap version {version}, the templates need "
                                 f"{required} or newer; run: npx cdk bootstrap {where}")
    else:
        report.ok.append(f"CDK bootstrap version {version} in {where} (need {required})")


def listed_quotas(service_quotas, service_code: str, region: str, report: Report, what: str) -> dict[str, dict] | None:
    """The account's quotas of a service by name, or None with a shortfall line saying why not."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return {q["QuotaName"]: q for page in service_quotas.get_paginator("list_service_quotas").paginate(
            ServiceCode=service_code) for q in page["Quotas"]}
    except (ClientError, BotoCoreError) as exc:
        report.shortfalls.append(f"{what}: cannot list the account's {service_code} quotas in {region}: {exc}")
        return None


def check_quotas(env: EnvironmentConfig, service_quotas, report: Report) -> None:
    listed = listed_quotas(service_quotas, "sagemaker", env.region, report, "Service Quotas")
    if listed is None:
        return
    for name, need in sorted(quota_needs(env).items()):
        why = "; ".join(need.reasons)
        quota = listed.get(name)
        if quota is None:
            report.shortfalls.append(f"Service Quotas: no quota '{name}' in {env.region} (the instance type is not "
                                     f"offered there for that use); needed: {need.count} for {why}")
        elif quota["Value"] < need.count:
            report.shortfalls.append(
                f"Service Quotas: '{name}' is {quota['Value']:g} in {env.account}/{env.region}, needs {need.count} "
                f"({why}); request it: aws service-quotas request-service-quota-increase --service-code sagemaker "
                f"--quota-code {quota['QuotaCode']} --desired-value {need.count} --region {env.region}")
        else:
            report.ok.append(f"Service Quotas: '{name}' is {quota['Value']:g}, needs {need.count}")


#: AWS keeps at least this much of an account's Lambda concurrency unreserved (Lambda developer guide,
#: "Configuring reserved concurrency").
UNRESERVED_MINIMUM = 10
LAMBDA_CONCURRENCY_QUOTA = "Concurrent executions"


def check_lambda_concurrency(env: EnvironmentConfig, service_quotas, report: Report) -> None:
    per_gate = env.gate_function.reserved_concurrency
    if not per_gate or not env.models:
        return
    reserved = per_gate * len(env.models)
    listed = listed_quotas(service_quotas, "lambda", env.region, report, "Lambda")
    if listed is None:
        return
    quota = listed.get(LAMBDA_CONCURRENCY_QUOTA)
    if quota is None:
        report.shortfalls.append(f"Lambda: no quota '{LAMBDA_CONCURRENCY_QUOTA}' listed in {env.region}")
        return
    left = quota["Value"] - reserved
    if left < UNRESERVED_MINIMUM:
        wanted = reserved + UNRESERVED_MINIMUM
        report.shortfalls.append(
            f"Lambda: '{LAMBDA_CONCURRENCY_QUOTA}' is {quota['Value']:g} in {env.account}/{env.region}; reserving "
            f"{reserved} for the gates ({per_gate} x {len(env.models)} models, gate_function.reserved_concurrency) leaves "
            f"{left:g}, and AWS keeps at least {UNRESERVED_MINIMUM} unreserved; request it: aws service-quotas "
            f"request-service-quota-increase --service-code lambda --quota-code {quota['QuotaCode']} --desired-value {wanted} "
            f"--region {env.region} (or unset gate_function.reserved_concurrency)")
    else:
        report.ok.append(f"Lambda: '{LAMBDA_CONCURRENCY_QUOTA}' is {quota['Value']:g}; {reserved} reserved for the gates leaves {left:g}")


def check_zones(env: EnvironmentConfig, ec2, report: Report) -> None:
    """The configured zones exist and are available to the account: the loader checks their spelling and that no letter
    lies past the region's last (which zones an account has differs, us-west-1b or us-west-1a), and CDK takes them from
    the config (app.py fills its zone lookup), so a zone the account lacks fails at the subnets."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        zones = ec2.describe_availability_zones(Filters=[{"Name": "region-name", "Values": [env.region]}])["AvailabilityZones"]
    except (ClientError, BotoCoreError) as exc:
        report.shortfalls.append(f"availability zones: cannot call EC2 DescribeAvailabilityZones in {env.region} ({exc})")
        return
    available = sorted(z["ZoneName"] for z in zones if z.get("State") == "available")
    missing = [zone for zone in env.network.availability_zones if zone not in available]
    if missing:
        report.shortfalls.append(
            f"network.availability_zones: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not available to "
            f"{env.account} in {env.region} ({env.source_file}; available: {', '.join(available) or 'none'})")
    else:
        report.ok.append(f"availability zones {', '.join(env.network.availability_zones)} in {env.region}")


def check_images(env: EnvironmentConfig, report: Report) -> None:
    for model in env.models.values():
        images = [xgboost_image(env.region, model.framework_version)]
        if model.training.debugger.rules:
            images.append(debugger_rules_image(env.region))
        if model.serving.mode == "instances" and model.serving.monitoring.enabled:
            images.append(model_monitor_image(env.region))
        for image in images:
            report.ok.append(f"image for {model.name}: {image} (published for {env.region})")
        if model.serving.model_package_arn and model.serving.mode == "instances" and model.serving.monitoring.enabled:
            report.notes.append(
                f"models.{model.name}.serving.monitoring: a data-quality schedule is declared; SageMaker Model Monitor "
                f"takes no new customers since 2026-07-30 and AWS has no call that tells whether {env.account} may use it: "
                "confirm it does, or set monitoring.enabled: false (data capture keeps recording requests)")
        if model.training.debugger.profiler:
            report.notes.append(
                f"models.{model.name}.training.debugger: the profiler is on; SageMaker Debugger takes no new customers "
                f"since 2026-07-30 and AWS has no call that tells whether {env.account} may use it: confirm it does")


def check_served_versions(env: EnvironmentConfig, sagemaker, report: Report) -> None:
    """Each version the config serves exists, is approved and keeps its model data where the endpoint's own role may
    read it (this model's pipeline runs): promote checks that when it writes the version, but a hand edit of the config
    skips promote, and the deploy would fail only once the new fleet cannot load the model, then roll back."""
    from delivery.promote import PromotionRefused, describe, unreadable_model_data

    for model in env.models.values():
        arn = model.serving.model_package_arn
        if not arn:
            continue
        try:
            version = describe(arn, sagemaker)
        except PromotionRefused as exc:
            report.shortfalls.append(f"models.{model.name}.serving.model_package_arn: {exc} ({env.source_file})")
            continue
        problem = unreadable_model_data(version, env.name, model.name) or (
            f"{arn} is {version.status}, not Approved" if version.status != "Approved" else None)
        if problem:
            report.shortfalls.append(f"models.{model.name}.serving.model_package_arn: {problem} ({env.source_file})")
        else:
            report.ok.append(f"{model.name} serves {arn}: approved, its model data under this model's pipeline runs")


def preflight(env: EnvironmentConfig, *, sts, ssm, service_quotas, ec2, replica_ssm=None, sagemaker=None) -> Report:
    """Every check; the account's own ones only with that account's credentials (others would mislead).
    ``replica_ssm``: SSM in data.replication's region, where the DataReplica stack deploys (needed when set).
    ``sagemaker``: to read the versions the config serves (needed when one is named)."""
    report = Report()
    if check_account(env, sts, report):
        check_bootstrap(env, ssm, report)
        if env.data.replication is not None:
            if replica_ssm is None:
                raise ValueError(f"{env.name} replicates to {env.data.replication.region}: pass replica_ssm for that region")
            check_bootstrap(env, replica_ssm, report, region=env.data.replication.region)
        check_zones(env, ec2, report)
        check_quotas(env, service_quotas, report)
        check_lambda_concurrency(env, service_quotas, report)
        if any(m.serving.model_package_arn for m in env.models.values()):
            if sagemaker is None:
                raise ValueError(f"{env.name} serves a model version: pass sagemaker to read it")
            check_served_versions(env, sagemaker, report)
    check_images(env, report)
    return report
