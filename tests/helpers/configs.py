"""Config files for tests: the shipped ones to change one thing in, written where a test wants them,
and the one-line error a bad one gives."""

from __future__ import annotations

import contextlib
import copy
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import ConfigError, environment_files, load_environment
from tests.helpers.paths import CONFIG_DIR, ROOT, SCRIPTS

#: The environments the repository ships.
ENVIRONMENTS = ("dev", "staging", "prod")
#: The example model of the fixture config's catalog (tests/fixtures/config), and its stacks' ids in a stage.
EXAMPLE = "direct-marketing"
TRAINING = f"{EXAMPLE}-TrainingPipeline"
SERVING = f"{EXAMPLE}-Serving"


def example(data: dict) -> dict:
    """The example model's block in an environment file's data."""
    return data["models"][EXAMPLE]


def like_example(data: dict, **changes: Any) -> dict:
    """A new model's block: the example's settings, without what only the example may have (the registry
    group's logical ID and description it kept from the single-model layout), with changes on top."""
    block = {k: v for k, v in copy.deepcopy(example(data)).items() if k not in ("registry_logical_id", "description")}
    return {**block, **changes}


def shipped(env: str = "dev") -> dict:
    """A fresh deep copy of a shipped environment file's data, to change one thing in."""
    return copy.deepcopy(_shipped(env))


def _shipped(env: str, _cache: dict[str, dict] = {}) -> dict:  # noqa: B006 - a deliberate per-process cache
    if env not in _cache:
        _cache[env] = yaml.safe_load((CONFIG_DIR / f"{env}.yaml").read_text())
    return _cache[env]


def write_config(directory: Path, data: Any, name: str = "dev") -> Path:
    """``data`` (a mapping, or YAML text as is) as directory/<name>.yaml."""
    path = directory / f"{name}.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))  # keys in the given order
    return path


def config_errors(directory: Path, data: Any, name: str = "dev") -> list[str]:
    """The problems (one line each, naming the file) that loading ``data`` as <name>.yaml gives."""
    with pytest.raises(ConfigError) as excinfo:
        load_environment(write_config(directory, data, name))
    problems = excinfo.value.problems
    assert str(excinfo.value) == "\n".join(problems)
    for problem in problems:
        assert "\n" not in problem, "each problem is one line"
        assert problem.startswith(str(directory / f"{name}.yaml") + ": ")
    return problems


def config_error(directory: Path, data: Any, name: str = "dev") -> str:
    """The one problem that loading ``data`` as <name>.yaml gives (fails if it loads, or gives several)."""
    problems = config_errors(directory, data, name)
    assert len(problems) == 1, problems
    return problems[0]


def copy_environments(target: Path) -> Path:
    """The shipped environment files (not a user's delivery.yaml) copied into target."""
    target.mkdir(parents=True, exist_ok=True)
    for source in environment_files(CONFIG_DIR):
        shutil.copy(source, target / source.name)
    return target


def model_package_arn(env: str, account: str, version: int = 3, model: str = EXAMPLE) -> str:
    """A version of a model's group in the environment, as a promotion would name it."""
    import naming

    return f"arn:aws:sagemaker:us-east-1:{account}:model-package/{naming.model_package_group_name(env, model)}/{version}"


def serving_config_dir(target: Path) -> Path:
    """config/ with a model named in every environment, plus `sandbox`: a CPU fleet of one instance."""
    target.mkdir(parents=True, exist_ok=True)
    for source in environment_files(CONFIG_DIR):  # not a user's delivery.yaml
        data = yaml.safe_load(source.read_text())
        serving = example(data).setdefault("serving", {})
        serving["model_package_arn"] = model_package_arn(source.stem, data["account"])
        if serving.get("mode", "instances") == "instances":
            # Monitored, as an account that already uses Model Monitor may (it takes no new customers since 2026-07-30).
            serving.setdefault("monitoring", {}).update(
                enabled=True, account_uses_model_monitor=True,
                baseline_prefix=f"pipelines/{source.stem}/{EXAMPLE}/exec-1/preprocess/baseline")
        (target / source.name).write_text(yaml.safe_dump(data, sort_keys=False))
        if source.stem == "dev":
            example(data)["serving"] = {
                "model_package_arn": model_package_arn("sandbox", data["account"]),
                "instance_type": "ml.m5.large",
                "initial_instance_count": 1,
                "autoscaling": {"min_instances": 1, "max_instances": 2},
                "rollout": {"strategy": "linear", "step_percent": 50, "wait_seconds": 60, "termination_wait_seconds": 0,
                            "max_execution_seconds": 1200},
                "monitoring": {"enabled": True, "account_uses_model_monitor": True,
                               "baseline_prefix": f"pipelines/sandbox/{EXAMPLE}/exec-1/preprocess/baseline", "schedule": "daily"},
            }
            data["notebooks"] = []
            data["network"]["cidr"] = "10.40.0.0/16"
            data["tags"]["environment"] = "sandbox"
            (target / "sandbox.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def expected_stack_count(config_dir: Path = CONFIG_DIR) -> int:
    """How many stacks the environments of config_dir synthesize: Data, Network, Roles, Notebooks when there
    are notebooks, Studio when it is enabled, DataReplica when it replicates, and per model a training stack plus a serving stack once it
    names a version."""
    from config import load_environments

    return sum(
        3 + bool(env.notebooks) + env.studio.enabled + bool(env.data.replication) + len(env.models)
        + sum(bool(m.serving.model_package_arn) for m in env.models.values())
        for env in load_environments(config_dir)
    )


@contextlib.contextmanager
def own_code_dir(change: str = "") -> Iterator[Path]:
    """A team's own training-code folder: the bundled scripts (``change`` appended to train.py), in the repo as
    code_dir must be, under build/ (which git ignores), removed afterwards. Yields the folder's absolute path."""
    (ROOT / "build").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="team-code-", dir=ROOT / "build") as folder:
        code = Path(folder) / "code"
        shutil.copytree(SCRIPTS, code, ignore=shutil.ignore_patterns("__pycache__"))
        if change:
            (code / "train.py").write_text((code / "train.py").read_text() + change)
        yield code
