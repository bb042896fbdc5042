"""config/delivery.yaml: absent, no pipeline; incomplete or malformed, one line from synth naming what is wrong."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from config import ConfigError, DeliveryConfig, environment_files, load_delivery, load_environments
from tests.helpers.delivery import CONNECTION, DELIVERY
from tests.helpers.paths import CONFIG_DIR, ROOT


@pytest.fixture
def config_dir(tmp_path):
    target = tmp_path / "config"
    target.mkdir()
    for source in environment_files(CONFIG_DIR):  # not the repository's own delivery.yaml, if committed
        shutil.copy(source, target / source.name)
    return target


def load(config_dir, delivery) -> DeliveryConfig | None:
    (config_dir / "delivery.yaml").write_text(delivery if isinstance(delivery, str) else yaml.safe_dump(delivery))
    return load_delivery(config_dir, load_environments(config_dir))


def test_no_file_no_pipeline_and_the_file_is_not_an_environment(config_dir):
    assert load_delivery(config_dir, load_environments(config_dir)) is None
    delivery = load(config_dir, DELIVERY)
    assert delivery is not None and [s.environment for s in delivery.stages] == ["dev", "staging", "prod"]
    assert delivery.log_retention_days == 90
    unset = load(config_dir, {k: v for k, v in DELIVERY.items() if k != "log_retention_days"})
    assert unset is not None and unset.log_retention_days == 365  # build logs kept a year unless the file says
    assert [env.name for env in load_environments(config_dir)] == ["dev", "prod", "staging"]


def without(key: str) -> dict:
    return {k: v for k, v in DELIVERY.items() if k != key}


@pytest.mark.parametrize("delivery, message", [
    (without("connection_arn"), "delivery.yaml: connection_arn: required field is missing"),
    (without("repository"), "delivery.yaml: repository: required field is missing"),
    (without("stages"), "delivery.yaml: stages: required field is missing"),
    ({**DELIVERY, "connection_arn": "arn:aws:codeconnections:us-east-1:111111111111:connection/TODO"},
     "connection_arn = 'arn:aws:codeconnections:us-east-1:111111111111:connection/TODO': not a connection ARN (allowed: "),
    ({**DELIVERY, "connection_arn": CONNECTION.replace("111111111111", "222222222222")},
     "connection_arn: the connection belongs to account 222222222222, the pipeline runs in 111111111111"),
    ({**DELIVERY, "repository": "https://github.com/my-org/sagemaker-platform.git"},
     "repository = 'https://github.com/my-org/sagemaker-platform.git': must be owner/name of the repository"),
    ({**DELIVERY, "branch": "feature..x"}, "branch = 'feature..x': not a git branch name"),
    ({**DELIVERY, "account": 111111111111}, "account = 111111111111: must be a quoted string of 12 digits"),
    ({**DELIVERY, "region": "us-east-9"}, "region = 'us-east-9': not a region where SageMaker is available"),
    ({**DELIVERY, "stages": []}, "stages = []: must hold at least 1"),
    ({**DELIVERY, "stages": [{"environment": "dev"}, {"environment": "dev"}]},
     "stages: each environment is deployed once; repeated: dev"),
    ({**DELIVERY, "stages": [{"environment": "qa"}]},
     "stages[0].environment = 'qa': no such environment (allowed: dev, prod, staging)"),
    ({**DELIVERY, "region": "eu-west-1", "connection_arn": CONNECTION.replace("us-east-1", "eu-west-1"),
      "stages": [{"environment": "dev"}]},
     "stages[0].environment: dev is in us-east-1, the pipeline in eu-west-1 (allowed: environments in the pipeline's region"),
    ({**DELIVERY, "stages": [{"environment": "prod", "smoke_test": True}]},
     "stages[0].approval: prod deploys to production and must wait for a person (allowed: true)"),
    ({**DELIVERY, "stages": [{"environment": "dev", "aproval": True}]},
     "stages[0].aproval: unknown key; did you mean approval? (allowed: approval, environment, smoke_test)"),
    ({**DELIVERY, "log_retention_days": 100}, "log_retention_days = 100: allowed: one of 1, 3, 5, 7, 14, 30, 60, 90, 120"),
    ("", "delivery.yaml: file is empty (expected a mapping of account, region, repository, branch, ...)"),
    ("stages: [\n", "delivery.yaml: not valid YAML"),
])
def test_incomplete_or_malformed_delivery_config_fails_with_one_line(config_dir, delivery, message):
    with pytest.raises(ConfigError) as error:
        load(config_dir, delivery)
    assert message in str(error.value), str(error.value)
    assert "\n" not in str(error.value)


def test_every_bad_stage_is_reported_at_once_in_stage_order(config_dir):
    """As an environment file reports every problem, delivery.yaml reports every stage's, one line each: a user
    fixing the first of three bad stages does not find the next one only at the next synth."""
    with pytest.raises(ConfigError) as error:
        load(config_dir, {**DELIVERY, "stages": [{"environment": "qa"}, {"environment": "dev"},
                                                 {"environment": "prod"}, {"environment": "stagging"}]})
    assert [line.replace(f"{config_dir}/", "") for line in error.value.problems] == [
        "delivery.yaml: stages[0].environment = 'qa': no such environment (allowed: dev, prod, staging)",
        "delivery.yaml: stages[2].approval: prod deploys to production and must wait for a person (allowed: true)",
        "delivery.yaml: stages[3].environment = 'stagging': no such environment (allowed: dev, prod, staging)",
    ]


def test_an_environment_file_named_delivery_is_not_an_environment(config_dir):
    from config import load_environment

    (config_dir / "delivery.yaml").write_text(yaml.safe_dump(DELIVERY))
    with pytest.raises(ConfigError, match="holds the delivery pipeline's settings, not an environment"):
        load_environment(config_dir / "delivery.yaml")


def test_synth_prints_one_line_and_writes_nothing_for_a_placeholder_connection(config_dir, tmp_path):
    (config_dir / "delivery.yaml").write_text(yaml.safe_dump({**DELIVERY, "connection_arn": "<your connection>"}))
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "CDK_OUTDIR": str(tmp_path / "out"),
             "CDK_CONTEXT_JSON": json.dumps({"config_dir": str(config_dir)})},
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("config error")]
    assert lines == [f"config error: {config_dir}/delivery.yaml: connection_arn = '<your connection>': not a connection ARN "
                     "(allowed: arn:aws:codeconnections:<region>:<12-digit account>:connection/<uuid>, from the console's "
                     "Developer Tools > Settings > Connections)"]
    assert not list((tmp_path / "out").rglob("*.json"))  # no template, no manifest: nothing half-synthesized
