"""Shared test fixtures.

The whole app (every stage, with cdk-nag) is synthesized once per session and tests
read templates from that cloud assembly: `Template.from_stack` would re-synthesize
the app for every call. AWS endpoints point at a closed port so no test can reach AWS.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local.dataset import caravan_csv  # noqa: E402 - after ROOT is importable

#: Nothing listens on port 9 (discard) here: any accidental AWS call fails fast.
CLOSED_ENDPOINT = "http://127.0.0.1:9"
OFFLINE_ENV = {
    "AWS_ENDPOINT_URL": CLOSED_ENDPOINT,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    # Built-in CloudFormation validation costs ~1 s a synth; cfn-lint runs on the assembly instead.
    "CDK_VALIDATION": "false",
}
for _name, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_name, _value)
os.environ.pop("AWS_PROFILE", None)
# jsii runs Node: use the venv's pinned Node 24 rather than the system's end-of-life Node 20.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"

ENVIRONMENTS = ("dev", "staging", "prod")
SCRIPTS = ROOT / "training_scripts"
sys.path.insert(0, str(SCRIPTS))  # the training scripts import each other as SageMaker runs them: by file name
CARAVAN = caravan_csv()


def sm_env(root: Path, train_dir: Path, validation_dir: Path, **extra: str) -> dict:
    return {
        "SM_CHANNEL_TRAIN": str(train_dir),
        "SM_CHANNEL_VALIDATION": str(validation_dir),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_NUM_GPUS": "0",
        **extra,
    }




def cdk_context() -> dict:
    """cdk.json's context (feature flags included): a bare cdk.App() would ignore it."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


class Assembly:
    """A synthesized cloud assembly, with templates looked up by stage and stack name."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self._templates: dict[tuple[str, str], object] = {}

    def manifest(self, env: str) -> dict:
        return json.loads((self.outdir / f"assembly-{env}" / "manifest.json").read_text())

    def template_path(self, env: str, stack: str) -> Path:
        for artifact in self.manifest(env)["artifacts"].values():
            if artifact.get("type") == "aws:cloudformation:stack" and artifact.get("displayName") == f"{env}/{stack}":
                return self.outdir / f"assembly-{env}" / artifact["properties"]["templateFile"]
        raise KeyError(f"no stack {env}/{stack} in the assembly")

    def template_json(self, env: str, stack: str) -> dict:
        return json.loads(self.template_path(env, stack).read_text())

    def template(self, env: str, stack: str):
        """An assertions Template, built once per stack: each one is a round trip through jsii."""
        from aws_cdk.assertions import Template

        if (env, stack) not in self._templates:
            self._templates[env, stack] = Template.from_json(self.template_json(env, stack))
        return self._templates[env, stack]

    def stack_names(self, env: str) -> list[str]:
        return sorted(
            a["displayName"].split("/", 1)[1]
            for a in self.manifest(env)["artifacts"].values()
            if a.get("type") == "aws:cloudformation:stack"
        )


def synth_app(outdir: Path, config_dir: Path | None = None):
    import app as app_module

    context = cdk_context()
    if config_dir is not None:
        context["config_dir"] = str(config_dir)
    app = app_module.new_app(context=context, outdir=str(outdir))
    app_module.build_app(app)
    app.synth()
    return app


@pytest.fixture(scope="session")
def assembly(tmp_path_factory) -> Assembly:
    outdir = tmp_path_factory.mktemp("cdk.out")
    synth_app(outdir)
    return Assembly(outdir)


#: A model version per environment, and the baseline its pipeline run wrote, as a promotion would name them.
def model_package_arn(env: str, account: str, version: int = 3) -> str:
    return f"arn:aws:sagemaker:us-east-1:{account}:model-package/{env}-direct-marketing/{version}"


def serving_config_dir(target: Path) -> Path:
    """config/ with a model named in every environment, plus `sandbox`: a CPU fleet of one instance."""
    import yaml

    target.mkdir(parents=True, exist_ok=True)
    from config import environment_files

    for source in environment_files(ROOT / "config"):  # not a user's delivery.yaml
        data = yaml.safe_load(source.read_text())
        serving = data.setdefault("serving", {})
        serving["model_package_arn"] = model_package_arn(source.stem, data["account"])
        if serving.get("mode", "instances") == "instances":
            serving.setdefault("monitoring", {})["baseline_prefix"] = f"pipelines/{source.stem}/exec-1/preprocess/baseline"
        (target / source.name).write_text(yaml.safe_dump(data, sort_keys=False))
        if source.stem == "dev":
            data["serving"] = {
                "model_package_arn": model_package_arn("sandbox", data["account"]),
                "instance_type": "ml.m5.large",
                "initial_instance_count": 1,
                "autoscaling": {"min_instances": 1, "max_instances": 2},
                "rollout": {"strategy": "linear", "step_percent": 50, "wait_seconds": 60, "termination_wait_seconds": 0,
                            "max_execution_seconds": 1200},
                "monitoring": {"baseline_prefix": "pipelines/sandbox/exec-1/preprocess/baseline", "schedule": "daily"},
            }
            data["notebooks"] = []
            data["network"]["cidr"] = "10.40.0.0/16"
            data["tags"]["environment"] = "sandbox"
            (target / "sandbox.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return target


@pytest.fixture(scope="session")
def serving_assembly(tmp_path_factory) -> Assembly:
    """The app synthesized with a model version named in each environment (config/ names none yet)."""
    outdir = tmp_path_factory.mktemp("cdk.out.serving")
    synth_app(outdir, serving_config_dir(tmp_path_factory.mktemp("config")))
    return Assembly(outdir)

