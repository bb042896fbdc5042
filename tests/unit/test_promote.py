"""`python -m delivery promote`: an approved version from the emulator's Model Registry is written into
config/<env>.yaml (comments kept, result valid for synth); every refusal is one line and edits nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from config.loader import load_environment
from delivery.promote import ModelVersion, PromotionRefused, baseline_prefix_of, edited_text, promote, without_versions
from tests.helpers.configs import EXAMPLE
from tests.helpers.paths import CONFIG_DIR, ROOT

BASELINE = f"pipelines/dev/{EXAMPLE}/exec-42/preprocess/baseline"
AT = f"models.{EXAMPLE}.serving"


@pytest.fixture(scope="module")
def registry(emulator):
    """Versions as the training pipeline registers them: with a data-quality baseline, approved or not."""
    sm = emulator.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="dev-direct-marketing")
    def register(status: str, baseline: str | None = BASELINE, group: str = f"dev-{EXAMPLE}",
                 model_data: str = f"s3://dev-model-artifacts/pipelines/dev/{EXAMPLE}/exec-42/train/job/output/model.tar.gz") -> str:
        container = [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5", "ModelDataUrl": model_data}]
        metrics = {"ModelDataQuality": {"Statistics": {"ContentType": "application/json",
                                                       "S3Uri": f"s3://dev-model-artifacts/{baseline}/statistics.json"}}} if baseline else {}
        return sm.create_model_package(
            ModelPackageGroupName=group, ModelApprovalStatus=status,
            InferenceSpecification={"Containers": container, "SupportedContentTypes": ["text/csv"],
                                    "SupportedResponseMIMETypes": ["text/csv"]},
            **({"ModelMetrics": metrics} if metrics else {}),
        )["ModelPackageArn"]

    versions = {"approved": register("Approved"), "pending": register("PendingManualApproval"),
                "no_baseline": register("Approved", baseline=None),
                "by_hand": register("Approved", model_data="s3://dev-model-artifacts/notebooks/mine/model.tar.gz"),
                "other_models": register("Approved", model_data="s3://dev-model-artifacts/pipelines/dev/health-utilization/e/model.tar.gz"),
                "other_bucket": register("Approved", model_data=f"s3://elsewhere/pipelines/dev/{EXAMPLE}/e/model.tar.gz")}
    # staging's group in dev's account, holding a version whose baseline dev's pipeline wrote.
    sm.create_model_package_group(ModelPackageGroupName=f"staging-{EXAMPLE}")
    versions["staging_with_devs_baseline"] = register(
        "Approved", group=f"staging-{EXAMPLE}", model_data=f"s3://dev-model-artifacts/pipelines/staging/{EXAMPLE}/e/model.tar.gz")
    return versions


@pytest.fixture
def config_dir(tmp_path):
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


def test_an_approved_version_is_written_with_its_baseline_and_the_file_stays_valid(config_dir, registry, emulator):
    before = (config_dir / "dev.yaml").read_text()
    changes = promote(config_dir, "dev", EXAMPLE, registry["approved"], emulator.client("sagemaker"))
    assert changes == [f"{AT}.model_package_arn: (none) -> {registry['approved']}",
                       f"{AT}.monitoring.baseline_prefix: (none) -> {BASELINE}"]
    after = (config_dir / "dev.yaml").read_text()
    env = load_environment(config_dir / "dev.yaml")
    assert env.models[EXAMPLE].serving.model_package_arn == registry["approved"]
    assert env.models[EXAMPLE].serving.monitoring.baseline_prefix == BASELINE
    # A reviewed diff: every comment and every other line of the file survives the edit.
    assert [line for line in before.splitlines() if line.lstrip().startswith("#")] == \
           [line for line in after.splitlines() if line.lstrip().startswith("#")]
    added = set(after.splitlines()) - set(before.splitlines())
    assert added == {f"      model_package_arn: {registry['approved']}", f"        baseline_prefix: {BASELINE}"}
    assert set(before.splitlines()) <= set(after.splitlines())
    # Promoting the same version again changes nothing.
    assert promote(config_dir, "dev", EXAMPLE, registry["approved"], emulator.client("sagemaker")) == []
    assert (config_dir / "dev.yaml").read_text() == after


@pytest.mark.parametrize("env, arn_key, message", [
    ("qa", "approved", "unknown environment 'qa' (allowed: dev, prod, staging)"),
    ("delivery", "approved", "unknown environment 'delivery' (allowed: dev, prod, staging)"),
    ("dev", "pending", "is PendingManualApproval, not Approved (approve it in SageMaker Studio or with "),
    # The endpoint's own role reads this model's pipeline runs only: a version with its artifact elsewhere would
    # fail to load after the deploy started.
    ("dev", "by_hand", "'s model data s3://dev-model-artifacts/notebooks/mine/model.tar.gz is not under "
     f"s3://dev-model-artifacts/pipelines/dev/{EXAMPLE}/, which is all the endpoint's role may read (allowed: a "
     f"version registered by {EXAMPLE}'s training pipeline)"),
    ("dev", "other_bucket", f"'s model data s3://elsewhere/pipelines/dev/{EXAMPLE}/e/model.tar.gz is not under "
     f"s3://dev-model-artifacts/pipelines/dev/{EXAMPLE}/"),
    ("dev", "other_models", "'s model data s3://dev-model-artifacts/pipelines/dev/health-utilization/e/model.tar.gz is not under"),
])
def test_unknown_environments_and_unapproved_versions_are_refused(config_dir, registry, emulator, env, arn_key, message):
    before = (config_dir / "dev.yaml").read_text()
    with pytest.raises(PromotionRefused, match=None) as refused:
        promote(config_dir, env, EXAMPLE, registry[arn_key], emulator.client("sagemaker"))
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert (config_dir / "dev.yaml").read_text() == before


@pytest.mark.parametrize("arn, message", [
    ("dev-direct-marketing/3", "is not a model package version ARN (allowed: arn:aws:sagemaker:<region>:<12-digit account>"),
    ("arn:aws:sagemaker:us-east-1:123456789012:model-package-group/dev-direct-marketing", "is not a model package version ARN"),
    ("arn:aws:sagemaker:us-east-1:123456789012:model-package/dev-direct-marketing/0", "is not a model package version ARN"),
    ("arn:aws:sagemaker:eu-west-1:123456789012:model-package/dev-direct-marketing/1",
     "is registered in 123456789012/eu-west-1; dev is 123456789012/us-east-1"),
    ("arn:aws:sagemaker:us-east-1:999999999999:model-package/dev-direct-marketing/1", "is registered in 999999999999/us-east-1"),
    ("arn:aws:sagemaker:us-east-1:123456789012:model-package/dev-churn/1",
     "is a version of dev-churn, not of direct-marketing's group dev-direct-marketing in dev (allowed: a version of dev-direct-marketing)"),
    ("arn:aws:sagemaker:us-east-1:123456789012:model-package/dev-direct-marketing/77",
     "cannot read arn:aws:sagemaker:us-east-1:123456789012:model-package/dev-direct-marketing/77 from the Model Registry"),
])
def test_malformed_foreign_and_missing_versions_are_refused(config_dir, registry, emulator, arn, message):
    before = (config_dir / "dev.yaml").read_text()
    with pytest.raises(PromotionRefused) as refused:
        promote(config_dir, "dev", EXAMPLE, arn, emulator.client("sagemaker"))
    assert message in str(refused.value)
    assert (config_dir / "dev.yaml").read_text() == before


def test_a_monitored_environment_refuses_a_version_without_a_baseline(config_dir, registry, emulator):
    text = (config_dir / "dev.yaml").read_text()
    # dev as a monitored fleet: the edited file would have no baseline for the monitor.
    text = text.replace("      mode: serverless\n", "      mode: instances\n      instance_type: ml.m5.large\n").replace(
        "      data_capture:\n        enabled: false\n      monitoring:\n        enabled: false\n",
        "      data_capture:\n        enabled: true\n      monitoring:\n        enabled: true\n        account_uses_model_monitor: true\n")
    (config_dir / "dev.yaml").write_text(text)
    assert load_environment(config_dir / "dev.yaml").models[EXAMPLE].serving.monitoring.enabled
    with pytest.raises(PromotionRefused, match="has no data-quality baseline"):
        promote(config_dir, "dev", EXAMPLE, registry["no_baseline"], emulator.client("sagemaker"))
    assert (config_dir / "dev.yaml").read_text() == text


def test_an_edit_that_would_not_synthesize_is_refused_and_the_file_kept(config_dir, registry, emulator):
    # staging moved into dev's account: the version passes the account and group checks, but its baseline was
    # written by dev's pipeline, which staging's schema refuses. The edited file is validated before it replaces anything.
    text = (config_dir / "staging.yaml").read_text().replace("222222222222", "123456789012")
    (config_dir / "staging.yaml").write_text(text)
    with pytest.raises(PromotionRefused, match=rf"the edited staging.yaml would not synthesize: {AT}.monitoring.baseline_prefix"):
        promote(config_dir, "staging", EXAMPLE, registry["staging_with_devs_baseline"], emulator.client("sagemaker"))
    assert (config_dir / "staging.yaml").read_text() == text
    assert sorted(p.name for p in config_dir.glob("*.yaml")) == ["dev.yaml", "prod.yaml", "staging.yaml"]
    assert not [p for p in config_dir.iterdir() if p.is_dir() and p.name != "__pycache__"]  # scratch copy removed


def test_a_file_without_a_serving_block_gets_one(config_dir, registry, emulator):
    text = (config_dir / "dev.yaml").read_text()
    (config_dir / "dev.yaml").write_text(text[: text.index("    # The real-time endpoint")])
    assert promote(config_dir, "dev", EXAMPLE, registry["approved"], emulator.client("sagemaker"))
    env = load_environment(config_dir / "dev.yaml")
    assert (env.models[EXAMPLE].serving.model_package_arn, env.models[EXAMPLE].serving.monitoring.baseline_prefix) == (registry["approved"], BASELINE)


def test_baseline_prefix_is_read_from_the_registered_statistics_uri():
    package = {"ModelMetrics": {"ModelDataQuality": {"Statistics": {"S3Uri": f"s3://bucket/{BASELINE}/statistics.json"}}}}
    assert baseline_prefix_of(package) == BASELINE
    assert baseline_prefix_of({}) is None
    assert baseline_prefix_of({"ModelMetrics": {"ModelDataQuality": {"Statistics": {"S3Uri": "s3://bucket/other/stats.json"}}}}) is None


def test_cli_prints_one_line_and_exits_2_on_refusal(config_dir, registry, emulator):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "delivery", "promote", "--config-dir", str(config_dir),
                               "--endpoint-url", emulator.endpoint_url, *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=60, env=emulator.env())

    refused = cli("--env", "qa", "--model", EXAMPLE, "--model-package", registry["approved"])
    assert refused.returncode == 2
    assert refused.stderr == "promote: unknown environment 'qa' (allowed: dev, prod, staging)\n"
    refused = cli("--env", "dev", "--model", EXAMPLE, "--model-package", "not-an-arn")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    relative = subprocess.run([sys.executable, "-m", "delivery", "promote", "--config-dir", "config", "--env", "qa",
                               "--model", EXAMPLE, "--model-package", registry["approved"]], cwd=config_dir.parent, capture_output=True,
                              text=True, timeout=60, env=emulator.env())
    assert (relative.returncode, relative.stderr) == (2, "promote: unknown environment 'qa' (allowed: dev, prod, staging)\n")
    wrong_model = cli("--env", "dev", "--model", "churn", "--model-package", registry["approved"])
    names = ", ".join(load_environment(config_dir / "dev.yaml").models)
    assert (wrong_model.returncode, wrong_model.stderr) == (
        2, f"promote: --model: no model 'churn' in {config_dir / 'dev.yaml'} (allowed: {names})\n")
    done = cli("--env", "dev", "--model", EXAMPLE, "--model-package", registry["approved"])
    assert done.returncode == 0, done.stderr
    assert f"{AT}.model_package_arn: (none) -> {registry['approved']}" in done.stdout
    # Pointed at the emulator by the flag, the next step is a deploy there (make diff would ask AWS) ...
    # (naming the directory the edit is in: cdk synthesizes config/ unless told otherwise)
    assert (f"Next: `npx cdk deploy 'dev/*' --require-approval never --context config_dir={config_dir.resolve()}` with the "
            "emulator's exports") in done.stdout
    assert "make diff" not in done.stdout
    # ... and without it (the SDK's own AWS_ENDPOINT_URL, as in a pipeline's shell), the pull request's diff.
    again = subprocess.run([sys.executable, "-m", "delivery", "promote", "--config-dir", str(config_dir), "--env", "dev",
                            "--model", EXAMPLE, "--model-package", registry["no_baseline"]], cwd=ROOT, capture_output=True,
                           text=True, timeout=60, env={**emulator.env(), "AWS_ENDPOINT_URL": emulator.endpoint_url})
    assert again.returncode == 0, again.stderr
    assert f"{AT}.model_package_arn: {registry['approved']} -> {registry['no_baseline']}" in again.stdout
    # (a config directory of its own: make diff reads config/, so the hint is cdk diff with that directory)
    assert f"Next: `npx cdk diff 'dev/*' --context config_dir={config_dir.resolve()}` shows" in again.stdout


VERSION = ModelVersion(f"arn:aws:sagemaker:us-east-1:123456789012:model-package/dev-{EXAMPLE}/3", "Approved", BASELINE)
ADDED = ["    serving:", f"      model_package_arn: {VERSION.arn}", "      monitoring:", f"        baseline_prefix: {BASELINE}"]
NEXT = ["# The next section's heading,", "# two lines of it.", "", "studio:", "  enabled: false"]


@pytest.mark.parametrize("last", [
    ["    description: scalar last"],
    ["    description: scalar last  # with its own end-of-line comment"],
    ["    dataset:", "      drop_columns:", "        - a", "        - b"],  # a block sequence last
    ["    dataset:", "      drop_columns: [a, b]"],  # flow style: ruamel keeps the comment elsewhere
    ["    training:", "      hyperparameters:", "        max_depth: 3", ""],  # a blank line before the comments
    ["    description: |", "      a literal block", "      of two lines"],  # ruamel keeps the comments after it differently
    ["    description: >-", "      a folded block"],
])
def test_comment_lines_below_a_model_stay_below_the_block_promote_adds(last):
    """ruamel attaches the comment lines below a block to its deepest last value, so a block added to the model
    was written below them: the next section's heading then sat above the new serving block (a diff a reviewer
    of the promotion pull request reads wrong). The added lines now end the model's block, above those lines."""
    before = ["models:", f"  {EXAMPLE}:", *last, *NEXT]
    text, changes = edited_text("\n".join(before) + "\n", EXAMPLE, VERSION)
    assert len(changes) == 2
    end = len(before) - len(NEXT) - (1 if last[-1] == "" else 0)
    assert text.splitlines() == before[:end] + ADDED + before[end:]


@pytest.mark.parametrize("serving", [["    serving:", "      instance_type: ml.m5.large"],
                                     ["    serving:", "      monitoring:", "        enabled: true"]])
def test_comment_lines_below_a_serving_block_that_is_not_the_models_last_stay_above_the_next_key(serving):
    text, _ = edited_text("\n".join(["models:", f"  {EXAMPLE}:", *serving, "    # Training: chosen by CV.", "    training:",
                                      "      spot: false"]) + "\n", EXAMPLE, VERSION)
    lines = text.splitlines()
    assert lines[-3:] == ["    # Training: chosen by CV.", "    training:", "      spot: false"]
    assert lines[-4] == f"        baseline_prefix: {BASELINE}" and f"      model_package_arn: {VERSION.arn}" in lines


def test_a_monitoring_block_added_to_an_existing_serving_block_keeps_the_comments_below_it():
    before = ["models:", f"  {EXAMPLE}:", "    serving:", "      instance_type: ml.m5.large  # kept", *NEXT]
    text, _ = edited_text("\n".join(before) + "\n", EXAMPLE, VERSION)
    assert text.splitlines() == ["models:", f"  {EXAMPLE}:", "    serving:", f"      model_package_arn: {VERSION.arn}",
                                 "      instance_type: ml.m5.large  # kept", "      monitoring:",
                                 f"        baseline_prefix: {BASELINE}", *NEXT]


def test_removing_the_version_that_ends_a_model_keeps_the_comments_below_it():
    """The demo's copy of the first environment drops every named version (without_versions); before, the comment
    lines below went with the removed key."""
    model = ["models:", f"  {EXAMPLE}:", "    description: d"]
    before = [*model, "    serving:", "      instance_type: ml.m5.large", f"      model_package_arn: {VERSION.arn}", *NEXT]
    assert without_versions("\n".join(before) + "\n").splitlines() == [*model, *before[3:5], *NEXT]
    # The version was all its serving block held: the block goes (the same defaults), the comments stay.
    before = [*model, "    serving:", f"      model_package_arn: {VERSION.arn}", *NEXT]
    assert without_versions("\n".join(before) + "\n").splitlines() == [*model, *NEXT]
    literal = ["models:", f"  {EXAMPLE}:", "    description: |", "      d"]
    before = [*literal, "    serving:", f"      model_package_arn: {VERSION.arn}", *NEXT]
    assert without_versions("\n".join(before) + "\n").splitlines() == [*literal, *NEXT]
