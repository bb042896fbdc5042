"""Snapshot of every stack template, asset hashes masked, beside the fine-grained assertions.

A snapshot diff is a review prompt, not a verdict: when a change is intended, run
`make snapshot-update` and review the JSON diff in the pull request.
"""

from __future__ import annotations

import pytest

from tests.helpers.configs import ENVIRONMENTS, TRAINING
from tests.helpers.snapshots import TemplateSnapshot, mask_asset_hashes

STACKS = [(env, stack) for env in ENVIRONMENTS for stack in ("Data", "Network", "Roles", "Notebooks", "Studio", TRAINING)
          if not (env == "prod" and stack in ("Notebooks", "Studio"))]


@pytest.mark.parametrize("env, stack", STACKS)
def test_template_snapshot(assembly, snapshot, env, stack):
    template = mask_asset_hashes(assembly.template_json(env, stack))
    assert template == snapshot(extension_class=TemplateSnapshot)


def test_masking_hides_only_hashes():
    masked = mask_asset_hashes({"S3Key": "a" * 64 + ".zip", "Name": "dev-data-science"})
    assert masked == {"S3Key": "<asset-hash>.zip", "Name": "dev-data-science"}
