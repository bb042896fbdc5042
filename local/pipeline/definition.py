"""Checks on a pipeline definition before anything runs: step types, references, order, parameters."""

from __future__ import annotations

import math
from typing import Any

from local.pipeline.expressions import PipelineError, referenced_steps

SUPPORTED = ("Processing", "Training", "Lambda", "Condition", "RegisterModel", "Model", "Transform", "Fail")


def parameter_value(spec: dict, raw: Any, source: str) -> Any:
    name, kind = spec["Name"], spec.get("Type", "String")
    try:
        if kind == "Float":
            value: Any = float(raw)
            if not math.isfinite(value):
                raise ValueError
        elif kind == "Integer":
            value = int(raw)
        elif kind == "Boolean":
            if str(raw).lower() not in ("true", "false"):
                raise ValueError
            value = str(raw).lower() == "true"
        else:
            value = str(raw)
    except (TypeError, ValueError):
        raise PipelineError(f"parameter {name} ({source}) is {raw!r}; expected a {kind}") from None
    allowed = spec.get("EnumValues")
    if allowed and value not in allowed:
        raise PipelineError(f"parameter {name} ({source}) is {raw!r}; allowed: {', '.join(map(str, allowed))}")
    return value


def resolve_parameters(definition: dict, overrides: dict[str, str]) -> dict[str, Any]:
    specs = {p["Name"]: p for p in definition.get("Parameters", [])}
    unknown = sorted(set(overrides) - set(specs))
    if unknown:
        raise PipelineError(f"unknown pipeline parameter {unknown[0]!r}; the pipeline has: {', '.join(specs)}")
    values = {}
    for name, spec in specs.items():
        if name in overrides:
            values[name] = parameter_value(spec, overrides[name], "given")
        elif "DefaultValue" in spec:
            values[name] = parameter_value(spec, spec["DefaultValue"], "default")
        else:
            raise PipelineError(f"parameter {name} has no default; give it with -p {name}=VALUE")
    return values


def order(steps: list[dict], known: set[str]) -> list[dict]:
    """``steps`` in dependency order (definition order among independent ones). ``known`` are
    steps that ran before these (the parents of a condition branch)."""
    names = {s["Name"] for s in steps}
    deps = {}
    for step in steps:
        refs = referenced_steps({k: v for k, v in step.items() if k not in ("IfSteps", "ElseSteps")})
        if step["Type"] == "Condition":
            refs = referenced_steps(step["Arguments"].get("Conditions", []))
        refs |= set(step.get("DependsOn", []))
        missing = refs - names - known
        if missing:
            raise PipelineError(f"step {step['Name']} references step {sorted(missing)[0]!r}, which is not in the pipeline or runs after it")
        deps[step["Name"]] = (refs & names) - {step["Name"]}
    ordered: list[dict] = []
    done: set[str] = set()
    while len(ordered) < len(steps):
        ready = [s for s in steps if s["Name"] not in done and deps[s["Name"]] <= done]
        if not ready:
            raise PipelineError(f"steps {', '.join(sorted(names - done))} depend on each other in a cycle")
        ordered.append(ready[0])
        done.add(ready[0]["Name"])
    return ordered


def all_steps(steps: list[dict]) -> list[dict]:
    out = []
    for step in steps:
        out.append(step)
        if step.get("Type") == "Condition":
            out += all_steps(step["Arguments"].get("IfSteps", []) + step["Arguments"].get("ElseSteps", []))
    return out


def check_definition(definition: dict) -> None:
    steps = all_steps(definition.get("Steps", []))
    seen: set[str] = set()
    for step in steps:
        name, kind = str(step.get("Name")), step.get("Type")
        if name in seen:
            raise PipelineError(f"step name {name!r} is used twice; step names must be unique")
        seen.add(name)
        if kind not in SUPPORTED:
            raise PipelineError(
                f"step {name}: type {kind!r} is not supported by the local runner (supported: {', '.join(SUPPORTED)})"
            )
    for step in steps:
        body = {k: v for k, v in step.items() if k not in ("IfSteps", "ElseSteps")}
        if step.get("Type") == "Condition":
            body = step["Arguments"].get("Conditions", [])
        for ref in sorted((referenced_steps(body) | set(step.get("DependsOn", []))) - seen):
            raise PipelineError(f"step {step['Name']} references step {ref!r}, which the pipeline does not have")


def input_uri(definition: dict, parameter: str = "InputDataUri") -> str:
    """The default of the pipeline's input-data parameter: where the dataset must be."""
    for spec in definition.get("Parameters", []):
        if spec["Name"] == parameter and "DefaultValue" in spec:
            return str(spec["DefaultValue"])
    raise PipelineError(f"the pipeline has no parameter {parameter} with a default value")


def parse_assignments(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise PipelineError(f"-p {item!r}: expected NAME=VALUE, e.g. -p MinAuc=0.8")
        out[name] = value
    return out
