"""Every name the platform gives, in one place: stacks, resources, exports, S3 keys and commands.

The bottom of the dependency graph: config, stacks, Lambda code, the local runner, the
delivery tools and the tests may import it, and it imports nothing of ours (nor CDK), so
a name read by one layer and written by another cannot drift apart. Changing a function
here renames a deployed resource: the snapshot and logical-ID tests show which.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

#: Prefix of every export, alias and project-wide name (one AWS account may hold several environments).
PROJECT = "sagemaker-platform"

# -- stacks ---------------------------------------------------------------------------------------
#: Construct ids of an environment's stacks, in deployment order; CDK names a stage's stack
#: "<stage>-<id>" (dev-Data, dev-Network, ...), and `cdk deploy 'dev/*'` selects them all.
DATA_STACK = "Data"
NETWORK_STACK = "Network"
ROLES_STACK = "Roles"
NOTEBOOKS_STACK = "Notebooks"
STUDIO_STACK = "Studio"
#: In the disaster-recovery region, when the environment replicates its model artifacts.
DATA_REPLICA_STACK = "DataReplica"
#: Each model of an environment's catalog has its own two stacks: "<model>-TrainingPipeline" and
#: "<model>-Serving" (dev-churn-TrainingPipeline), so adding a model adds stacks and removing one
#: removes only its own.
TRAINING_STACK = "TrainingPipeline"
SERVING_STACK = "Serving"
#: The delivery pipeline's stack (a child of the app, not of a stage).
DELIVERY_STACK = "Delivery"


def model_stack_id(model: str, stack_id: str) -> str:
    """The construct id of one model's stack in a stage: 'churn-TrainingPipeline'."""
    return f"{model}-{stack_id}"


def model_stack_name(env: str, model: str, stack_id: str) -> str:
    """The CloudFormation name of one model's stack: 'dev-churn-TrainingPipeline'."""
    return stack_name(env, model_stack_id(model, stack_id))


def stack_name(env: str, stack_id: str) -> str:
    """The CloudFormation stack name CDK gives a stage's stack: dev-TrainingPipeline."""
    return f"{env}-{stack_id}"


def stage_selector(env: str) -> str:
    """The CDK CLI selector of every stack of one environment: 'dev/*'."""
    return f"{env}/*"


# -- resources --------------------------------------------------------------------------------------
def pipeline_name(env: str, model: str) -> str:
    """A model's SageMaker training pipeline in one environment."""
    return f"{env}-{model}"


def model_package_group_name(env: str, model: str) -> str:
    """The Model Registry group every pipeline run of a model registers into."""
    return f"{env}-{model}"


def endpoint_name(env: str, model: str) -> str:
    """A model's real-time endpoint in one environment."""
    return f"{env}-{model}"


def pascal_case(name: str) -> str:
    """A hyphenated name as an ID part: health-utilization -> HealthUtilization (construct IDs, policy Sids)."""
    return "".join(part.capitalize() for part in name.split("-"))


def registry_logical_id(model: str) -> str:
    """Logical ID of a model's Model Package Group in the data stack: ModelPackageGroupChurn.
    Stable for a model name whatever else the catalog holds (see docs/configuration.md, migration)."""
    return "ModelPackageGroup" + pascal_case(model)


def dashboard_name(endpoint: str) -> str:
    return f"{endpoint}-endpoint"


def monitoring_schedule_name(endpoint: str) -> str:
    return f"{endpoint}-data-quality"


def smoke_test_role_name(env: str, model: str) -> str:
    """Fixed, so that the delivery pipeline in another account can name the role it assumes (one per endpoint)."""
    return f"{env}-{model}-smoke-test"


def smoke_test_role_arn(account: str, env: str, model: str) -> str:
    return f"arn:aws:iam::{account}:role/{smoke_test_role_name(env, model)}"


def pipeline_jobs_role_name(env: str, model: str) -> str:
    """The role every step of a model's pipeline runs as: named, so that it reads as what it is in CloudTrail and in a
    job's description (at most 15 + 1 + 32 + 14 = 62 of IAM's 64 characters)."""
    return f"{env}-{model}-pipeline-jobs"


def monitor_role_name(env: str, model: str) -> str:
    """The role a model's data-quality monitoring jobs run as: named, as the endpoint's role is (at most 15 + 1 + 32 + 8
    = 56 of IAM's 64 characters)."""
    return f"{env}-{model}-monitor"


def endpoint_role_name(env: str, model: str) -> str:
    """The role a model's endpoint runs as (its SageMaker model's execution role): named, so that it reads as what it is
    in CloudTrail and on the model (at most 15 + 1 + 32 + 9 = 57 of IAM's 64 characters)."""
    return f"{env}-{model}-endpoint"


def smoke_test_runner_role_name(env: str, model: str) -> str:
    """The delivery pipeline's CodeBuild role that runs one endpoint's smoke test, in the tooling account: named, so
    that the environment's smoke-test role can trust it alone (at most 15 + 1 + 32 + 13 = 61 of IAM's 64 characters)."""
    return f"{env}-{model}-smoke-runner"


def smoke_test_runner_role_arn(tooling_account: str, env: str, model: str) -> str:
    return f"arn:aws:iam::{tooling_account}:role/{smoke_test_runner_role_name(env, model)}"


def notebook_instance_name(env: str, notebook: str) -> str:
    """Instance names carry the environment, so roles can be scoped to notebook-instance/<env>-*."""
    return f"{env}-{notebook}"


def mlflow_tracking_server_name(env: str) -> str:
    """The environment's SageMaker MLflow tracking server: 'dev-mlflow'. TrackingServerName's pattern is
    ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$ (CreateMlflowTrackingServer); environment names have no hyphen, so
    '<env>-*' patterns never reach another environment's server."""
    return f"{env}-mlflow"


def mlflow_tracking_server_arn(env: str, region: str, account: str) -> str:
    """What the sagemaker-mlflow plugin takes as MLFLOW_TRACKING_URI, and what its IAM actions are authorized on
    (resource type mlflow-tracking-server, Service Authorization Reference)."""
    return f"arn:aws:sagemaker:{region}:{account}:mlflow-tracking-server/{mlflow_tracking_server_name(env)}"


def mlflow_experiment_name(env: str, model: str) -> str:
    """One MLflow experiment per environment and model; each pipeline execution is a run in it."""
    return f"{env}-{model}"


def studio_domain_name(env: str) -> str:
    """The environment's SageMaker Studio domain (DomainName: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})."""
    return f"{env}-studio"


def studio_lifecycle_config_prefix(env: str, team: str) -> str:
    """What every JupyterLab lifecycle config of a team starts with, whatever its script: 'dev-marketing-jupyterlab-'."""
    return f"{env}-{team}-jupyterlab-"


def studio_lifecycle_config_name(env: str, team: str, content: str, tags: Mapping[str, str] | None = None) -> str:
    """A team's JupyterLab lifecycle configuration: 'dev-marketing-jupyterlab-<8 hex digits of a SHA-256>' of its script
    and its tags. Both are create-only (CloudFormation's resource schema: StudioLifecycleConfigContent and Tags), and a
    named resource can only be replaced under a new name: the digest gives a changed script, or a tag edited in config,
    a new one, so CloudFormation creates it, points the team's profiles and spaces at it, and deletes the old one. At
    most 15 + 16 + 20 characters (StudioLifecycleConfigName: 63)."""
    text = content if not tags else content + "\0" + json.dumps(dict(tags), sort_keys=True)
    return f"{studio_lifecycle_config_prefix(env, team)}{hashlib.sha256(text.encode()).hexdigest()[:8]}"


#: The tag every Studio user profile and space carries, whose value is its team: the team roles' conditions read it.
STUDIO_TEAM_TAG = "studio-team"
#: The tag a user profile carries whose value is its member: who may open it (the team's access policy) reads it.
STUDIO_USER_TAG = "studio-user"
#: A Studio team's own read-write prefix in the model-artifacts bucket: studio/<team>/.
STUDIO_SCRATCH_PREFIX = "studio"


def data_key_alias(env: str) -> str:
    return f"alias/{PROJECT}/{env}/data"


def replica_key_alias(env: str) -> str:
    """The replica bucket's key in the disaster-recovery region (replication names it by alias: no cross-region reference)."""
    return f"alias/{PROJECT}/{env}/replica"


def replica_bucket_name(env: str, account: str, region: str) -> str:
    """Fixed, so that the source bucket's replication rule can name it from another region (3-63 characters)."""
    return f"{PROJECT}-{env}-{account}-replica-{region}"


DELIVERY_PIPELINE = f"{PROJECT}-delivery"
DELIVERY_KEY_ALIAS = f"alias/{PROJECT}/delivery/artifacts"


# -- exports: the data stack's contract with the stacks that import its buckets and key ---------------
def data_key_export(env: str) -> str:
    return f"{PROJECT}-{env}-data-key-arn"


def raw_data_bucket_export(env: str) -> str:
    return f"{PROJECT}-{env}-raw-data-bucket-arn"


def model_artifacts_bucket_export(env: str) -> str:
    return f"{PROJECT}-{env}-model-artifacts-bucket-arn"


# -- S3 key layout of the model-artifacts bucket ---------------------------------------------------------
#: Every pipeline run writes under pipelines/<env>/<model>/<execution id>/<step>/<output>.
PIPELINES_PREFIX = "pipelines"
#: Endpoints capture requests under data-capture/<endpoint>/...
DATA_CAPTURE_PREFIX = "data-capture"
#: Model Monitor writes its reports under monitoring/<endpoint>/data-quality/...
MONITORING_REPORTS_PREFIX = "monitoring"
#: The tracking server's artifact store: s3://<model artifacts>/mlflow/<experiment id>/<run id>/artifacts/...
#: (the server chooses the keys below it; MLflow clients write there directly, not through the server).
MLFLOW_ARTIFACTS_PREFIX = "mlflow"
#: What notebooks and the jobs they start write (the SageMaker SDK's default key prefix on notebook instances):
#: they read the rest of the bucket but cannot rewrite what the pipelines wrote, which the gate and registry trust.
NOTEBOOKS_PREFIX = "notebooks"
#: The data-quality baseline of every run, as an IAM resource pattern (one per run).
BASELINE_KEYS = f"{PIPELINES_PREFIX}/*/preprocess/baseline/*"
#: What a baseline prefix looks like, for messages.
BASELINE_PREFIX_FORM = f"{PIPELINES_PREFIX}/<env>/<model>/<execution id>/preprocess/baseline"


def pipeline_runs_prefix(env: str, model: str) -> str:
    """The key prefix of one model's pipeline runs in an environment (the execution id follows)."""
    return f"{PIPELINES_PREFIX}/{env}/{model}"


def baseline_prefix(env: str, model: str, execution_id: str) -> str:
    """Where a run's preprocess step leaves the data-quality baseline (statistics.json, constraints.json)."""
    return f"{pipeline_runs_prefix(env, model)}/{execution_id}/preprocess/baseline"


def data_capture_prefix(endpoint: str) -> str:
    return f"{DATA_CAPTURE_PREFIX}/{endpoint}"


def monitoring_reports_prefix(endpoint: str) -> str:
    return f"{MONITORING_REPORTS_PREFIX}/{endpoint}/data-quality"


def input_data_key(model: str, file_name: str) -> str:
    """Where a model's dataset goes in the raw-data bucket (the pipeline's InputDataUri default): <model>/<file>."""
    return f"{model}/{file_name}"


# -- commands the platform prints -----------------------------------------------------------------------
#: The rows each model's smoke test sends, one CSV per model, relative to the repo root.
SMOKE_SAMPLES = "delivery/samples"


def promote_command(env: str, model: str, model_package_arn: str) -> str:
    """The command that makes ``env`` serve ``model_package_arn`` as ``model`` (a reviewed change to its config)."""
    return f"python -m delivery promote --env {env} --model {model} --model-package {model_package_arn}"


def smoke_test_command(env: str, model: str, region: str, account: str) -> str:
    """What the delivery pipeline runs after deploying an environment, once per model with an endpoint."""
    return (
        f"python -m delivery smoke-test --env {env} --region {region} --endpoint {endpoint_name(env, model)} "
        f"--sample {SMOKE_SAMPLES}/{model}.csv --role-arn {smoke_test_role_arn(account, env, model)}"
    )
