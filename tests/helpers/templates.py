"""Queries on a template's JSON that the tests share: resources of a type, the only one, its properties."""

from __future__ import annotations

from typing import Any


def resources(template: dict, kind: str) -> dict[str, dict]:
    """Logical id -> resource, for every resource of CloudFormation type ``kind``."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def only(template: dict, kind: str) -> tuple[str, dict]:
    """(logical id, resource) of the one resource of type ``kind``; fails if there are none or several."""
    found = resources(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}: {sorted(found)}"
    ((logical_id, resource),) = found.items()
    return logical_id, resource


def props(template: dict, kind: str) -> dict:
    """Properties of the one resource of type ``kind``."""
    return dict(only(template, kind)[1]["Properties"])


def as_list(value: Any) -> list:
    """IAM's "one or a list" fields (Action, Resource) as a list."""
    return value if isinstance(value, list) else [value]


def statements(policy_document: dict) -> list[dict]:
    return as_list(policy_document["Statement"])
