"""Template snapshots: one JSON file per stack, asset hashes masked (they change with any code edit)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from syrupy.extensions.json import JSONSnapshotExtension

ASSET_HASH = re.compile(r"[0-9a-f]{64}")


class TemplateSnapshot(JSONSnapshotExtension):
    """Snapshots under tests/snapshots/<test module name>/."""

    @classmethod
    def dirname(cls, *, test_location: Any) -> str:
        return str(Path(test_location.filepath).parents[1] / "snapshots" / test_location.basename)


def mask_asset_hashes(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: mask_asset_hashes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_asset_hashes(v) for v in value]
    if isinstance(value, str):
        return ASSET_HASH.sub("<asset-hash>", value)
    return value
