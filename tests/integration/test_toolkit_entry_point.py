"""train.py through the real script-mode toolkit of the XGBoost 3.0-5 image, offline.

The image starts a training job with `sagemaker_xgboost_container.training:main`, which for a user
entry point calls `framework.modules.run_module(env.module_dir, env.to_cmd_args(), env.to_env_vars(),
env.module_name, capture_error=False)` (src/sagemaker_xgboost_container/training.py in
github.com/aws/sagemaker-xgboost-container). That is sagemaker-containers 2.8.6.post2 from PyPI, the
image's version (its requirements.txt), with the image's own patch for Python 3.10+ (its Dockerfile's
sed of collections.Mapping); `make install` builds it in .venv-toolkit (requirements-toolkit.txt).

Here it runs exactly that call on an /opt/ml tree (SAGEMAKER_BASE_DIR) laid out as SageMaker lays it
out for the synthesized Train step: hyperparameters.json holds the step's HyperParameters as the
pipeline definition encodes them (plain strings), and again JSON-encoded as the SageMaker Python SDK
writes them; the code channel holds the training-code asset the stack ships; the data channels hold
preprocess.py's output. pip gets no index (PIP_NO_INDEX=1, no config, no find-links), as in a
network-isolated job: the toolkit's `pip install .` must succeed offline, then train.py must train
with the hyperparameters the definition names and write a servable model.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stacks.training.pipeline_definition import build_definition
from stacks.training.source_tarball import write_tarball
from tests.helpers.configs import own_code_dir
from tests.helpers.containers import CARAVAN
from tests.helpers.paths import ROOT, SCRIPTS
from tests.helpers.pipelines import RESOURCES, pipeline

import preprocess

pytestmark = pytest.mark.integration
TOOLKIT_PYTHON = ROOT / ".venv-toolkit" / "bin" / "python"
#: sagemaker_xgboost_container.training.train's call for a user entry point, verbatim.
ENTRY_POINT = ("import sagemaker_containers.beta.framework as framework; env = framework.training_env(); "
               "framework.modules.run_module(env.module_dir, env.to_cmd_args(), env.to_env_vars(), env.module_name, "
               "capture_error=False)")


@pytest.fixture(scope="module")
def splits(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toolkit-data")
    (root / "raw").mkdir()
    shutil.copy(CARAVAN, root / "raw" / "caravan.csv")
    with contextlib.redirect_stdout(io.StringIO()):
        preprocess.main(["--input-dir", str(root / "raw"), "--output-dir", str(root / "splits")])
    return root / "splits"


def train_step() -> dict:
    """The synthesized Train step of the example model, short: 12 rounds, so the test stays quick."""
    definition = build_definition(pipeline(training={"hyperparameters": {**pipeline().training.hyperparameters.model_dump(),
                                                                          "num_round": 12}}), RESOURCES)
    return next(s for s in definition["Steps"] if s["Name"] == "Train")["Arguments"]


def lay_out(base: Path, splits: Path, hyperparameters: dict, code: Path = SCRIPTS, arguments: dict | None = None) -> None:
    """/opt/ml as SageMaker writes it for a one-instance training job (input/config and input/data/<channel>)."""
    config = base / "input" / "config"
    config.mkdir(parents=True)
    arguments = arguments or train_step()
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    channels = {c["ChannelName"]: {k: v for k, v in (("ContentType", c.get("ContentType")),) if v} |
                {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
                for c in arguments["InputDataConfig"]}
    (config / "inputdataconfig.json").write_text(json.dumps(channels))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"],
                                                            "network_interface_name": "eth0"}))
    data = base / "input" / "data"
    for name in ("train", "validation", "metadata"):
        shutil.copytree(splits / name, data / name)
    (data / "code").mkdir(parents=True)
    write_tarball(code, data / "code" / RESOURCES.code_file)
    (base / "model").mkdir()  # SageMaker creates SM_MODEL_DIR before the program starts


def run_toolkit(base: Path) -> subprocess.CompletedProcess:
    assert TOOLKIT_PYTHON.is_file(), "the toolkit's venv is missing: run `make install` (it builds .venv-toolkit)"
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "",
           "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "SM_NUM_GPUS": "0"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(TOOLKIT_PYTHON), "-c", ENTRY_POINT], cwd=base, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("encoding", ["as the pipeline definition encodes them", "JSON-encoded, as the SageMaker SDK writes them"])
def test_train_py_runs_through_the_images_toolkit_offline_with_the_definitions_hyperparameters(splits, tmp_path, encoding):
    arguments = train_step()
    hyperparameters = dict(arguments["HyperParameters"])
    assert all(isinstance(v, str) for v in hyperparameters.values())  # what CreateTrainingJob takes: a map of strings
    # The definition names the code archive under the code channel's /opt/ml path; here /opt/ml is tmp_path.
    submit = hyperparameters["sagemaker_submit_directory"]
    assert submit.startswith("/opt/ml/input/data/code/")
    hyperparameters["sagemaker_submit_directory"] = str(tmp_path / "opt" / "ml" / submit.removeprefix("/opt/ml/"))
    if encoding.startswith("JSON"):
        hyperparameters = {name: json.dumps(value) for name, value in hyperparameters.items()}
    base = tmp_path / "opt" / "ml"
    lay_out(base, splits, hyperparameters)

    done = run_toolkit(base)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "Successfully installed training-code" in log or "Successfully installed training_code" in log  # pip install ., offline
    model = base / "model"
    assert {"xgboost-model.json", "metadata.json", "preprocessing.json", "code"} <= {p.name for p in model.iterdir()}
    params = json.loads((model / "metadata.json").read_text())["params"]
    chosen = arguments["HyperParameters"]
    for name in ("max_depth", "eta", "gamma", "min_child_weight", "subsample", "objective"):
        assert str(params[name]) == chosen[name] or float(params[name]) == float(chosen[name]), name
    assert json.loads((model / "metadata.json").read_text())["best_iteration"] == 11  # num_round 12, no early stopping


#: A team's own train.py that adds arguments of its own (and reads one of the standard ones), and writes what it
#: received into the model directory.
TEAM_TRAIN = """import argparse, json, os
parser = argparse.ArgumentParser()
parser.add_argument("--max_delta_step", type=float, required=True)
parser.add_argument("--feature_set", required=True)
parser.add_argument("--max_depth", type=int, required=True)
args, _ = parser.parse_known_args()
with open(os.path.join(os.environ["SM_MODEL_DIR"], "received.json"), "w") as out:
    json.dump(vars(args), out)
"""


def test_a_teams_own_train_py_gets_its_extra_hyperparameters_through_the_toolkit(splits, tmp_path):
    """training.extra_hyperparameters (with a code_dir of the team's own) reach its train.py as the image's toolkit
    passes hyperparameters: `--name value` on the command line, beside the standard ones."""
    with own_code_dir() as code:
        (code / "train.py").write_text(TEAM_TRAIN)
        config = pipeline(code_dir=str(code.relative_to(ROOT)),
                          training={"extra_hyperparameters": {"max_delta_step": 2, "feature_set": "v2 (no ids)"}})
        arguments = next(s for s in build_definition(config, RESOURCES)["Steps"] if s["Name"] == "Train")["Arguments"]
        hyperparameters = dict(arguments["HyperParameters"])
        submit = hyperparameters["sagemaker_submit_directory"]
        hyperparameters["sagemaker_submit_directory"] = str(tmp_path / "opt" / "ml" / submit.removeprefix("/opt/ml/"))
        base = tmp_path / "opt" / "ml"
        lay_out(base, splits, hyperparameters, code=code, arguments=arguments)
    done = run_toolkit(base)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    received = json.loads((base / "model" / "received.json").read_text())
    assert received == {"max_delta_step": 2.0, "feature_set": "v2 (no ids)", "max_depth": config.training.hyperparameters.max_depth}


def test_the_local_training_job_writes_the_command_line_the_toolkit_writes(tmp_path):
    """local/jobs/training.py runs the program with the arguments the image's toolkit would give it: each value read
    as JSON where it parses (_env.read_hyperparameters), then _mapping.to_cmd_args; compared on values a team might
    set in training.extra_hyperparameters (which the pipeline definition carries as text)."""
    from local.jobs.training import command_args

    hyperparameters = {"max_depth": "5", "eta": "0.2", "objective": "binary:logistic", "flag": "True", "json_true": "true",
                       "none": "null", "exp": "1e5", "mapping": '{"b": 2, "a": 1}', "listed": "[1, 2]", "text": "v2 (no ids)",
                       "quoted": '"x"', "n": "3"}
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    code = ("import json; from sagemaker_containers import _env, _mapping; "
            "print(json.dumps(_mapping.to_cmd_args(_env.read_hyperparameters())))")
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(tmp_path)}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([str(TOOLKIT_PYTHON), "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert command_args(hyperparameters) == json.loads(done.stdout.strip().splitlines()[-1])
