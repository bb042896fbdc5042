"""The error lines the README and docs/ show are the lines the code prints.

Every `config/<file>.yaml: ...` line in README.md and docs/*.md is looked up here by the
field it names; the mistake registered for that field is made in a copy of the shipped
config, loaded as synth loads it, and the printed line must equal the documented one. A
documented line with no registered mistake fails too: the docs show only messages a test
reproduces.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from config import ConfigError, load_delivery, load_environments
from tests.helpers.configs import copy_environments
from tests.helpers.delivery import DELIVERY
from tests.helpers.paths import ROOT

DOCUMENTED = re.compile(r"^(?:`?config error: )?(config/(\w+)\.yaml: ([\w.\[\]]+)(?: = |: ).*?)`?\.?$")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _notebook(**changes: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        data["notebooks"][0].update(changes)
    return change


def _rename_idle_minutes(data: dict) -> None:
    data["notebooks"][0]["idle_minuts"] = data["notebooks"][0].pop("idle_minutes")


def _set(key: str, value: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        data[key] = value
    return change


def _churn_with_a_misspelt_label(data: dict) -> None:
    """The README's catalog example: a team's model whose label column is misspelt."""
    import tempfile

    csv = Path(tempfile.mkdtemp()) / "customers.csv"
    csv.write_text("customer_id,plan,region,tenure_months,monthly_spend,churned\n1,basic,north,3,20,no\n")
    data["models"]["churn"] = {"dataset": {"data_file": str(csv), "label_column": "churn", "positive_label": "yes",
                                           "categorical_columns": ["plan"], "drop_columns": ["customer_id"]}}


def _single_model_layout(data: dict) -> None:
    """A file from before the model catalog: one pipeline: and one serving: block."""
    model = data.pop("models")["direct-marketing"]
    data["serving"] = model.pop("serving")
    data["pipeline"] = model


def _tracking(**changes: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        data.setdefault("tracking", {}).update(changes)
    return change


def _studio_team(team: str, **changes: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        data["studio"]["teams"][team].update(changes)
    return change


def _studio_idle(**changes: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        data["studio"]["idle_shutdown"].update(changes)
    return change


def _without_approval(delivery: dict) -> None:
    delivery["stages"] = [{**stage, "approval": False} for stage in delivery["stages"]]


#: (file, field) -> the mistake that makes the loader report that field.
MISTAKES: dict[tuple[str, str], Callable[[dict], None]] = {
    ("dev", "notebooks[0].instance_type"): _notebook(instance_type="ml.t3.mediun"),
    ("dev", "notebooks[0].volume_size_gb"): _notebook(volume_size_gb=2),
    ("dev", "notebooks[0].idle_minuts"): _rename_idle_minutes,
    ("prod", "removal_policy"): _set("removal_policy", "destroy"),
    ("dev", "models.churn.dataset.label_column"): _churn_with_a_misspelt_label,
    ("dev", "pipeline"): _single_model_layout,
    ("delivery", "stages[2].approval"): _without_approval,
    ("dev", "tracking.size"): _tracking(size="Tiny"),
    ("dev", "tracking.mlflow_version"): _tracking(mlflow_version=3.0),
    ("dev", "studio.teams.health.members"): _studio_team("health", members=["alice"]),
    ("dev", "studio.teams.marketing.models"): _studio_team("marketing", models=["churn"]),
    ("dev", "studio.idle_shutdown.default_minutes"): _studio_idle(default_minutes=30),
    ("dev", "studio.teams.marketing.instance_types[0]"): _studio_team("marketing", instance_types=["system"]),
}


def documented_lines() -> list[tuple[str, str, str, Path]]:
    """(line, file, field, page) for every documented error line."""
    found = []
    for page in PAGES:
        for line in page.read_text().splitlines():
            match = DOCUMENTED.match(line.strip())
            if match:
                found.append((match.group(1), match.group(2), match.group(3), page))
    return found


def printed(tmp_path: Path, file: str, field: str) -> list[str]:
    """What loading the shipped config with the mistake for (file, field) reports, paths as synth shows them."""
    config_dir = copy_environments(tmp_path / "config")
    mistake = MISTAKES[file, field]
    if file == "delivery":
        delivery = yaml.safe_load(yaml.safe_dump(DELIVERY))
        mistake(delivery)
        (config_dir / "delivery.yaml").write_text(yaml.safe_dump(delivery, sort_keys=False))
    else:
        path = config_dir / f"{file}.yaml"
        data = yaml.safe_load(path.read_text())
        mistake(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as excinfo:
        environments = load_environments(config_dir, display_root=tmp_path)
        load_delivery(config_dir, environments, display_root=tmp_path)
    return excinfo.value.problems


def test_the_docs_show_error_lines_at_all():
    assert {(file, field) for _, file, field, _ in documented_lines()} >= {("dev", "notebooks[0].volume_size_gb"),
                                                                          ("dev", "notebooks[0].idle_minuts")}


@pytest.mark.parametrize("line, file, field, page", documented_lines(), ids=lambda v: v.name if isinstance(v, Path) else None)
def test_every_documented_error_line_is_what_the_code_prints(tmp_path, line, file, field, page):
    assert (file, field) in MISTAKES, f"{page.name} shows an error for {file}: {field} that no test reproduces: {line}"
    assert line in printed(tmp_path, file, field), f"{page.name} shows a line the code does not print"
