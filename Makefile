# The commands the README shows. Each target installs what it needs on a fresh clone:
# a virtualenv with pinned Python packages (Node 24 comes with them) and the pinned CDK CLI.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
# The venv's bin first: jsii and the CDK CLI then run on the venv's Node 24.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true

PY_STAMP := $(VENV)/.installed
# Test files spread over one worker per core (pytest-xdist); a file's tests share a worker.
PYTEST := $(PY) -m pytest -n auto --dist loadfile
NODE_STAMP := node_modules/.installed

.PHONY: install install-tracking screenshot-mlflow bench-tracking lint preflight synth diff test unit integration demo bench bench-catalog bench-cv bench-studio bench-speed bench-training bench-serving serve snapshot-update constraints clean

TOOLKIT_VENV := .venv-toolkit
TOOLKIT_STAMP := $(TOOLKIT_VENV)/.installed
MLFLOW_VENV := .venv-mlflow
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed

install: $(PY_STAMP) $(NODE_STAMP) $(TOOLKIT_STAMP)

$(PY_STAMP): requirements.txt requirements-dev.txt training_scripts/requirements.txt requirements-data.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required, found " + sys.version.split()[0] + "; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements-data.txt
	# The project itself, editable: its packages and training_scripts/ import without sys.path edits.
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# SageMaker's script-mode toolkit in its own venv, the project's venv on its path behind it (requirements-toolkit.txt).
$(TOOLKIT_STAMP): requirements-toolkit.txt $(PY_STAMP)
	rm -rf $(TOOLKIT_VENV)
	$(PYTHON) -m venv $(TOOLKIT_VENV)
	$(TOOLKIT_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements-toolkit.txt
	# The image's own patch for Python 3.10+ (docker/3.0-5/final/Dockerfile.cpu: sed collections.Mapping).
	sed -i 's/collections\.Mapping/collections.abc.Mapping/g' $(TOOLKIT_VENV)/lib/python3*/site-packages/sagemaker_containers/_mapping.py
	$(PY) -c 'import site; print(site.getsitepackages()[0])' > $$(echo $(TOOLKIT_VENV)/lib/python3*/site-packages)/zz_project_venv.pth
	touch $@

## install-tracking: the local MLflow tracking server, in its own venv (requirements-tracking.txt); make demo
## and make test install it, make install does not
install-tracking: $(MLFLOW_STAMP)

$(MLFLOW_STAMP): requirements-tracking.txt $(PY_STAMP)
	rm -rf $(MLFLOW_VENV)
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(PY) -c 'import site; print(site.getsitepackages()[0])' > $$(echo $(MLFLOW_VENV)/lib/python3*/site-packages)/zz_project_venv.pth
	$(MLFLOW_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements-tracking.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json $(PY_STAMP)
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## synth: write cdk.out for every environment (cdk-nag and CloudFormation validation run
## during synth), then cfn-lint every template, stage assemblies included
synth: install
	rm -rf cdk.out
	$(CDK) synth --quiet --no-notices
	shopt -s nullglob; $(VENV)/bin/cfn-lint -- cdk.out/assembly-*/*.template.json cdk.out/*.template.json

## diff: what deploying an environment would change, against the stacks deployed in its account
## (needs that account's credentials; the pull-request workflow runs it per environment): make diff ENV=staging
diff: install
	@test -n "$(ENV)" || { echo "diff: set ENV to an environment name, e.g. make diff ENV=staging"; exit 2; }
	set -o pipefail; $(CDK) diff --no-notices '$(ENV)/*' 2>&1 | tee cdk-diff-$(ENV).txt

## preflight: check the target account before a deploy (with its credentials): CDK bootstrap version,
## SageMaker Service Quotas for every instance the config needs, images: make preflight ENV=staging
preflight: install
	@test -n "$(ENV)" || { echo "preflight: set ENV to an environment name, e.g. make preflight ENV=staging"; exit 2; }
	$(PY) -m delivery preflight --env $(ENV) $(ARGS)

## lint: ruff (style, imports, docstrings) and mypy (types), configured in pyproject.toml
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## test: lint, then unit tests, template assertions, compliance, and the emulator deploy
test: lint $(MLFLOW_STAMP)
	$(PYTEST) tests

unit: lint
	$(PYTEST) tests/unit

integration: install $(MLFLOW_STAMP)
	$(PYTEST) tests/integration

## demo: deploy the dev environment to the embedded AWS emulator, run its training pipeline end to
## end, serve the registered model and score the test split (ARGS="-p MinAuc=0.9" passes options;
## MODEL=name runs one model of dev's catalog; MODEL=name DATA=path/to.csv trains it on your CSV)
demo: install $(MLFLOW_STAMP)
	$(PY) -m local.demo $(if $(MODEL),--model "$(MODEL)") $(if $(DATA),--data "$(DATA)") $(ARGS)

## screenshot-mlflow: docs/images/mlflow-compare-runs.png, MLflow's UI comparing two runs of the example model,
## taken with a headless Chromium (install it with your system's packages)
screenshot-mlflow: install $(MLFLOW_STAMP)
	$(PY) -m local.screenshot $(ARGS)

## bench-tracking: the demo with and without its MLflow server, and the installs tracking adds
bench-tracking: install $(MLFLOW_STAMP)
	$(PY) benchmarks/tracking.py $(ARGS)

## bench: one table: synth, unit tests, the demo per phase, training, inference throughput ratio
bench: install
	$(PY) benchmarks/summary.py

## bench-speed: unit tests, `make test` and full-app synth, beside the MLOps Workload Orchestrator's synth
## when ARGS names its checkout (see benchmarks/speed.py): make bench-speed ARGS="--orchestrator ..."
bench-speed: install
	$(PY) benchmarks/speed.py $(ARGS)

## bench-catalog: full-app synth with one model per environment against two, and the demo per model and for all
bench-catalog: install
	$(PY) benchmarks/model_catalog.py $(ARGS)

## bench-studio: full-app synth with SageMaker Studio in every environment against none
bench-studio: install
	$(PY) benchmarks/studio.py $(ARGS)

## bench-cv: choose each dev model's hyperparameters by 5-fold cross-validation on its training split;
## print the grid as AUC mean ± sd and the lines to put in its config (ARGS="--model NAME --folds 10")
bench-cv: install
	$(PY) benchmarks/cv.py $(ARGS)

## bench-training: run the training scripts on the example data as the pipeline does; print step
## times and test metrics, and refresh the README's evaluation plots
bench-training: install
	$(PY) benchmarks/training.py --plots docs/evaluation

## bench-serving: train the example model, serve it with training_scripts/serve.py, and print
## requests per second and p50/p99 latency for 1-row and 1000-row requests next to in-process prediction
bench-serving: install
	$(PY) benchmarks/serving.py $(ARGS)

## serve: run the local inference server on a model directory: make serve MODEL_DIR=path/to/model
serve: install
	@test -n "$(MODEL_DIR)" || { echo "serve: set MODEL_DIR to a directory with xgboost-model.json (train.py's SM_MODEL_DIR)"; exit 2; }
	$(PY) training_scripts/serve.py --model-dir "$(MODEL_DIR)" --port $${PORT:-8080}

snapshot-update: install
	$(PY) -m pytest tests/unit/test_snapshots.py tests/unit/test_serving_stack.py --snapshot-update

constraints: install
	{ sed -n '1,2p' constraints.txt; $(VENV)/bin/pip freeze --disable-pip-version-check --exclude-editable; } > constraints.new && mv constraints.new constraints.txt

clean:
	rm -rf cdk.out .demo .pytest_cache .mypy_cache .ruff_cache
