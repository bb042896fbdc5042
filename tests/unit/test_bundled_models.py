"""The bundled example models of the fixture catalog: their data installs offline from PyPI, carries
categorical columns and missing values, and preprocesses as each model's config declares.

The sources and licences are stated in requirements-data.txt: Caravan (CoIL 2000, in the ISLP wheel)
and the RAND Health Insurance Experiment (public domain, in the statsmodels wheel). Each model's
hyperparameters were chosen by benchmarks/cv.py; its config says so and the evaluation report repeats it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from config import load_environment
from tests.helpers.paths import CONFIG_DIR, ROOT, SCRIPTS

DEV = load_environment(CONFIG_DIR / "dev.yaml")


def test_two_bundled_models_on_different_public_datasets_installed_from_pypi():
    sources = {model.name: model.dataset.source for model in DEV.models.values()}
    assert len(sources) >= 2
    for name, source in sources.items():
        assert source.value.startswith("package:"), name  # a file of a pinned distribution, read offline
        distribution = source.value.removeprefix("package:").split("/", 1)[0]
        assert f"{distribution}==" in (ROOT / "requirements-data.txt").read_text(), name
    assert len({source.path for source in sources.values()}) == len(sources)


@pytest.mark.parametrize("name", list(DEV.models))
def test_each_bundled_model_preprocesses_as_its_config_says(tmp_path, name):
    model = DEV.models[name]
    data = model.dataset
    raw = tmp_path / "raw"
    raw.mkdir()
    assert data.source.path is not None
    shutil.copy(data.source.path, raw / data.source.file_name)
    result = subprocess.run(
        [sys.executable, "preprocess.py", "--input-dir", str(raw), "--output-dir", str(tmp_path / "out"),
         "--label-column", data.label_column, "--positive-label", data.positive_label,
         "--categorical-columns", ",".join(data.categorical_columns), "--drop-columns", ",".join(data.drop_columns)],
        cwd=SCRIPTS, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    features = json.loads((tmp_path / "out" / "metadata" / "features.json").read_text())
    assert features["dropped_columns"] == data.drop_columns
    assert not set(data.drop_columns) & set(features["features"])
    for column in data.categorical_columns:  # one-hot encoded, one feature per level
        assert [f for f in features["features"] if f.startswith(f"{column}=")], column
    assert model.training.hyperparameters_chosen_by and "CV" in model.training.hyperparameters_chosen_by


def test_the_second_example_has_missing_values_and_reports_them_per_column(tmp_path):
    """RAND HIE: a health index missing for about a quarter of the rows, imputed and counted per split."""
    model = DEV.models["health-utilization"]
    raw = tmp_path / "raw"
    raw.mkdir()
    assert model.dataset.source.path is not None
    shutil.copy(model.dataset.source.path, raw / "randhie.csv")
    data = model.dataset
    subprocess.run(
        [sys.executable, "preprocess.py", "--input-dir", str(raw), "--output-dir", str(tmp_path / "out"),
         "--label-column", data.label_column, "--positive-label", data.positive_label,
         "--categorical-columns", ",".join(data.categorical_columns), "--drop-columns", ",".join(data.drop_columns)],
        cwd=SCRIPTS, check=True, capture_output=True, timeout=300,
    )
    imputed = json.loads((tmp_path / "out" / "metadata" / "features.json").read_text())["imputed"]
    assert sum(imputed["ghindx"].values()) == 5223  # every missing value of the column, over the three splits
    assert set(imputed) == {"educdec", "ghindx", "mdeoff", "pioff"}
