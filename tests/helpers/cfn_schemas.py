"""CloudFormation's registry schemas of resource types, as cfn-lint ships them: createOnlyProperties (a change
replaces the resource), tagging, name patterns. A reference we did not write, read offline."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path


@cache
def resource_schema(cfn_type: str) -> dict:
    """The registry schema of a resource type (us-east-1's provider list names each type's file)."""
    import cfnlint.data.schemas

    schemas = Path(cfnlint.data.schemas.__file__).parent
    reference = json.loads((schemas / "providers" / "us-east-1.json").read_text())[cfn_type]
    return dict(json.loads((schemas / "resources" / f"{reference}.json").read_text()))
