"""Snapshot of every stack template, asset hashes masked, beside the fine-grained assertions.

A snapshot diff is a review prompt, not a verdict: when a change is intended, run
`make snapshot-update` and review the JSON diff in the pull request.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.conftest import ENVIRONMENTS

ASSET_HASH = re.compile(r"[0-9a-f]{64}")


class TemplateSnapshot(JSONSnapshotExtension):
    """One JSON file per stack under tests/snapshots/test_snapshots/."""

    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(Path(test_location.filepath).parents[1] / "snapshots" / test_location.basename)


def mask_asset_hashes(value):
    if isinstance(value, dict):
        return {k: mask_asset_hashes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_asset_hashes(v) for v in value]
    if isinstance(value, str):
        return ASSET_HASH.sub("<asset-hash>", value)
    return value


STACKS = [(env, stack) for env in ENVIRONMENTS for stack in ("Data", "Network", "Roles", "Notebooks", "TrainingPipeline")
          if not (env == "prod" and stack == "Notebooks")]


@pytest.mark.parametrize("env, stack", STACKS)
def test_template_snapshot(assembly, snapshot, env, stack):
    template = mask_asset_hashes(assembly.template_json(env, stack))
    assert template == snapshot(extension_class=TemplateSnapshot)


def test_masking_hides_only_hashes():
    masked = mask_asset_hashes({"S3Key": "a" * 64 + ".zip", "Name": "dev-data-science"})
    assert masked == {"S3Key": "<asset-hash>.zip", "Name": "dev-data-science"}
