"""Synth is deterministic and offline: a second synth, in a separate process whose AWS
endpoints point at a closed port, produces byte-identical templates and manifests."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers.configs import expected_stack_count
from tests.helpers.offline import CLOSED_ENDPOINT
from tests.helpers.paths import CONFIG_DIR, ROOT


def test_two_synths_are_byte_identical_and_need_no_aws(assembly, tmp_path):
    outdir = tmp_path / "second"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": CLOSED_ENDPOINT,
        "AWS_ACCESS_KEY_ID": "none",
        "AWS_SECRET_ACCESS_KEY": "none",
        # The same config as the session's assembly: the example's.
        "CDK_CONTEXT_JSON": json.dumps({**json.loads((ROOT / "cdk.json").read_text())["context"], "config_dir": str(CONFIG_DIR)}),
        "CDK_OUTDIR": str(outdir),
    }
    result = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    first = {p.relative_to(assembly.outdir): p for p in assembly.outdir.rglob("*") if p.is_file()}
    second = {p.relative_to(outdir): p for p in outdir.rglob("*") if p.is_file()}
    # Nothing was left for the CDK CLI to look up in AWS (context providers): synth is offline.
    for manifest in [p for p in first.values() if p.name == "manifest.json"]:
        assert "missing" not in json.loads(manifest.read_text()), f"{manifest} asks for a context lookup"
    assert set(first) == set(second)
    assert len([r for r in first if r.name.endswith(".template.json")]) == expected_stack_count()
    for relative in first:
        assert first[relative].read_bytes() == second[relative].read_bytes(), f"{relative} differs between synths"
