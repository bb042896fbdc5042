"""The pipeline definition's expression language, evaluated as SageMaker evaluates it.

Property paths (`Steps.Train.ModelArtifacts.S3ModelArtifacts`, `Outputs['train']` by name),
`Get`, `Std:Join`, `Std:JsonGet` on property files, and the condition types. An Expressions
object holds one execution's state (parameters, execution fields, step properties) and
reads property files through a callable, so it needs neither S3 nor the emulator itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

PATH_TOKEN = re.compile(r"\.?(?:([A-Za-z_][\w-]*)|\[(-?\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\])")
#: Fields whose value names a list element, so Outputs['train'] finds {"OutputName": "train", ...}.
NAME_FIELDS = ("OutputName", "InputName", "ChannelName", "Name", "MetricName", "PropertyFileName")


class PipelineError(RuntimeError):
    """The definition, a parameter or the deployment cannot be run; one line naming what and why."""



def parse_path(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    position = 0
    while position < len(path):
        match = PATH_TOKEN.match(path, position)
        if not match or match.end() == position:
            raise PipelineError(f"cannot parse property path {path!r} at {path[position:]!r}")
        name, index, quoted, double = match.groups()
        tokens.append(int(index) if index is not None else (name or quoted or double or ""))
        position = match.end()
    return tokens


def lookup(value: Any, tokens: list[str | int], what: str) -> Any:
    for depth, token in enumerate(tokens):
        where = f"{what}: {'.'.join(map(str, tokens[:depth + 1]))}"
        if isinstance(token, int):
            if not isinstance(value, list) or not -len(value) <= token < len(value):
                raise PipelineError(f"{where} is out of range")
            value = value[token]
        elif isinstance(value, dict):
            if token not in value:
                raise PipelineError(f"{where} does not exist (there: {', '.join(sorted(map(str, value))) or 'nothing'})")
            value = value[token]
        elif isinstance(value, list):
            named = [v for v in value if isinstance(v, dict) and any(v.get(f) == token for f in NAME_FIELDS)]
            if len(named) != 1:
                names = [next((v[f] for f in NAME_FIELDS if f in v), "?") for v in value if isinstance(v, dict)]
                raise PipelineError(f"{where} does not exist (there: {', '.join(map(str, names)) or 'nothing'})")
            value = named[0]
        else:
            raise PipelineError(f"{where}: cannot look into a {type(value).__name__}")
    return value


def referenced_steps(value: Any) -> set[str]:
    """Names of the steps whose properties an expression reads."""
    found: set[str] = set()
    if isinstance(value, dict):
        if set(value) == {"Get"} and isinstance(value["Get"], str) and value["Get"].startswith("Steps."):
            found.add(str(parse_path(value["Get"])[1]))
        for item in value.values():
            found |= referenced_steps(item)
    elif isinstance(value, list):
        for item in value:
            found |= referenced_steps(item)
    return found



def _numbers(*values: Any) -> bool:
    for value in values:
        if isinstance(value, bool):
            return False
        try:
            float(value)
        except (TypeError, ValueError):
            return False
    return True




def processing_output_uri(properties: dict[str, dict], step: str, output: str) -> str:
    """S3 URI of a processing step's named output (ProcessingOutputConfig.Outputs['<output>'])."""
    outputs = properties[step]["ProcessingOutputConfig"]["Outputs"]
    return str(lookup(outputs, [output], f"Steps.{step}.ProcessingOutputConfig.Outputs")["S3Output"]["S3Uri"])


def render(value: Any) -> str:
    """A value as the pipeline puts it into a string (Std:Join, String output parameters)."""
    return json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)


class Expressions:
    """Evaluates expressions against one execution: its parameters, its fields (Execution.*),
    the properties of the steps that ran, and the property files they declared. ``read_json``
    fetches a property file's document by S3 URI."""

    def __init__(self, *, parameters: dict[str, Any], execution: dict[str, str], properties: dict[str, dict],
                 property_files: dict[str, dict[str, dict]], read_json: Callable[[str], Any]) -> None:
        self.parameters = parameters
        self.execution = execution
        self.properties = properties
        self.property_files = property_files  # step -> property file name -> declaration
        self.read_json = read_json

    def value(self, expr: Any) -> Any:
        if isinstance(expr, list):
            return [self.value(v) for v in expr]
        if not isinstance(expr, dict):
            return expr
        if set(expr) == {"Get"}:
            return self.get(expr["Get"])
        if set(expr) == {"Std:Join"}:
            spec = expr["Std:Join"]
            return str(spec.get("On", "")).join(render(v) for v in self.value(spec["Values"]))
        if set(expr) == {"Std:JsonGet"}:
            return self.json_get(expr["Std:JsonGet"])
        return {k: self.value(v) for k, v in expr.items()}

    def get(self, path: str) -> Any:
        tokens = parse_path(path)
        head = tokens[0]
        if head == "Parameters" and len(tokens) == 2:
            if tokens[1] not in self.parameters:
                raise PipelineError(f"{path}: the pipeline has no parameter {tokens[1]!r}")
            return self.parameters[str(tokens[1])]
        if head == "Execution" and len(tokens) == 2:
            return lookup(self.execution, tokens[1:], "Execution")
        if head == "Steps" and len(tokens) >= 3:
            step = str(tokens[1])
            if step not in self.properties:
                raise PipelineError(f"{path}: step {step} has not run (or failed)")
            return lookup(self.properties[step], tokens[2:], f"Steps.{step}")
        raise PipelineError(f"cannot resolve {path!r} (expected Parameters.<name>, Execution.<field> or Steps.<step>.<property>)")

    def json_get(self, spec: dict) -> Any:
        ref = spec.get("PropertyFile")
        ref_path = ref["Get"] if isinstance(ref, dict) and "Get" in ref else str(ref)
        tokens = parse_path(ref_path)
        if len(tokens) != 4 or tokens[0] != "Steps" or tokens[2] != "PropertyFiles":
            raise PipelineError(f"Std:JsonGet: PropertyFile {ref!r} is not Steps.<step>.PropertyFiles.<name>")
        step, name = str(tokens[1]), str(tokens[3])
        files = self.property_files.get(step)
        if files is None or name not in files:
            raise PipelineError(f"Std:JsonGet: step {step} has no property file {name!r} (or has not run)")
        declaration = files[name]
        uri = f"{processing_output_uri(self.properties, step, declaration['OutputName']).rstrip('/')}/{declaration['FilePath']}"
        try:
            document = self.read_json(uri)
        except Exception as error:  # noqa: BLE001 - any reason the file is unusable is one message
            raise PipelineError(f"Std:JsonGet: cannot read property file {name} at {uri}: {error}") from None
        return lookup(document, parse_path(spec["Path"]), f"{name} ({uri})")

    def condition(self, cond: dict) -> bool:
        kind = cond.get("Type")
        if kind == "Not":
            return not self.condition(cond["Expression"])
        if kind == "Or":
            return any([self.condition(c) for c in cond["Conditions"]])  # every one evaluated: a bad reference fails
        if kind == "In":
            return self.value(cond["QueryValue"]) in self.value(cond["Values"])
        left, right = self.value(cond.get("LeftValue")), self.value(cond.get("RightValue"))
        if kind == "Equals":
            return bool(left == right) if not _numbers(left, right) else float(left) == float(right)
        compare = {"GreaterThan": float.__gt__, "GreaterThanOrEqualTo": float.__ge__,
                   "LessThan": float.__lt__, "LessThanOrEqualTo": float.__le__}.get(str(kind))
        if compare is None:
            raise PipelineError(f"condition type {kind!r} is not supported (Equals, GreaterThan[OrEqualTo], LessThan[OrEqualTo], In, Not, Or)")
        if not _numbers(left, right):
            raise PipelineError(f"condition {kind}: {left!r} and {right!r} are not both numbers")
        return compare(float(left), float(right))
