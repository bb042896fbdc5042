"""Load config/<env>.yaml files into EnvironmentConfig objects, or fail naming every problem.

Each problem is one line that names the file, the field, the bad value and what is allowed,
in the order the file has them; a misspelt key says which key it probably meant, e.g.::

    config/dev.yaml: notebooks[0].volume_size_gb = 2: must be an integer in 5..16384 GB
    config/dev.yaml: notebooks[0].idle_minuts: unknown key; did you mean idle_minutes? (allowed: ...)
"""

from __future__ import annotations

import collections.abc
import difflib
import re
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from config.delivery import DELIVERY_FILE, DeliveryConfig, delivery_file
from config.environment import ENV_NAME, EnvironmentConfig

ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigError(Exception):
    """Configuration problems, one line each (file, field, bad value, what is allowed), in file order."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


#: The tag of YAML's merge key, `<<`.
MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys: PyYAML would silently keep the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:  # `<<: *defaults`: the keys written beside it override the merged ones
            key: Any = MERGE_TAG  # once: a second `<<` would silently replace the first (`<<: [*a, *b]` merges both)
        else:
            key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be a plain value, not {type(key).__name__}", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {'<<' if key == MERGE_TAG else key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _field_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the key of the mapping above", already named
            continue
        if isinstance(part, int):
            path += f"[{part}]" if path else f"key {part}"
        else:
            path += f".{part}" if path else str(part)
    return path


#: Plain-language versions of pydantic's type errors.
_TYPE_MESSAGES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be text (quote it in YAML)",
    "list_type": "must be a list",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "bool_type": "must be true or false",
}
_NO_COMMA = ("must be a column name without a comma (allowed: any other name; the Preprocess job takes the columns "
             "joined with commas, so rename such a column in the CSV)")
_PATTERN_MESSAGES = {
    "name": "must be 1-40 lowercase letters, digits or inner hyphens (e.g. data-science)",
    "label_column": _NO_COMMA,
    "categorical_columns": _NO_COMMA,
    "drop_columns": _NO_COMMA,
}


def _shown(value: Any) -> str:
    text = repr(value)
    if len(text) <= 80:
        return text
    size = (f"{len(value)} items" if isinstance(value, list | dict | tuple | set) else f"{len(value)} characters"
            if isinstance(value, str) else f"{len(text)} digits" if isinstance(value, int) else f"{len(text)} characters")
    return f"<{type(value).__name__} of {size}>"


def _allowed_keys(model: type, loc: tuple) -> list[str]:
    """Walk the schema along loc (minus its last part) to list the keys allowed there. A list item's index
    and a name-keyed block's name (models.<model>, studio.teams.<team>) are steps into the item's schema."""
    current: Any = model
    named = False  # the part before was a mapping of names to blocks: this part is a name
    for part in loc[:-1]:
        if isinstance(part, int) or named:
            named = False
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if field is None:
            return []
        current, named = _block_schema(field.annotation)
        if current is None:
            return []
    return sorted(getattr(current, "model_fields", {}))


def _block_schema(annotation: Any) -> tuple[Any, bool]:
    """The pydantic model a field's annotation holds (through Optional, list and Annotated), and whether it
    holds it as the values of a mapping keyed by name (dict[ModelName, ModelConfig])."""
    if hasattr(annotation, "model_fields"):
        return annotation, False
    if typing.get_origin(annotation) in (dict, collections.abc.Mapping):
        return _block_schema(typing.get_args(annotation)[1])[0], True
    for arg in typing.get_args(annotation):
        found, named = _block_schema(arg)
        if found is not None:
            return found, named
    return None, False


def _suggestion(key: object, allowed: list[str]) -> str | None:
    """The allowed key a misspelt one most likely meant (idle_minuts -> idle_minutes)."""
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    return close[0] if close else None


def _describe(error: dict, model: type) -> list[str]:
    """The lines one pydantic error becomes (a whole-model rule may report several problems)."""
    loc = tuple(error["loc"])
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    field = _field_path(loc)
    if kind == "extra_forbidden":
        # An environment's name comes from its file name, never from a key in it.
        allowed = [k for k in _allowed_keys(model, loc) if not (model is EnvironmentConfig and len(loc) == 1 and k == "name")]
        meant = _suggestion(loc[-1], allowed)
        did_you_mean = f"; did you mean {meant}?" if meant else ""
        own = ("; a hyperparameter only your own code_dir's train.py reads goes in training.extra_hyperparameters"
               if len(loc) > 1 and loc[-2] == "hyperparameters" else "")
        return [f"{field}: unknown key{did_you_mean} (allowed: {', '.join(allowed)}){own}"]
    if kind == "missing":
        return [f"{field}: required field is missing"]
    if kind == "value_error" and isinstance(error.get("input"), dict):
        # A whole-model rule: each line of its message starts with the field it judges and shows the value.
        return [f"{field}.{line}" if field else line for line in message.splitlines()]
    if kind == "literal_error":
        # pydantic's "Input should be 'a' or 'b'", in the house form: what is allowed, and the likely one.
        allowed = re.findall(r"'([^']*)'", str((error.get("ctx") or {}).get("expected", "")))
        meant = _suggestion(str(error.get("input")), allowed) if allowed else None
        did_you_mean = f"; did you mean {meant}?" if meant else ""
        return [f"{field} = {_shown(error.get('input'))}: not an allowed value{did_you_mean} (allowed: {', '.join(allowed)})"]
    if kind in _TYPE_MESSAGES:
        message = _TYPE_MESSAGES[kind] + _why_not_a_number(kind, error.get("input"))
    elif kind == "string_too_short":
        shortest = int((error.get("ctx") or {}).get("min_length", 1))
        message = "must not be empty" if shortest == 1 else f"must be at least {shortest} characters"
    elif kind == "string_pattern_mismatch":
        message = _PATTERN_MESSAGES.get(str(loc[-2] if isinstance(loc[-1], int) and len(loc) > 1 else loc[-1]), message)
    elif kind in _BOUND_MESSAGES:
        # pydantic's "List should have at least 1 item after validation, not 0", "Input should be greater than 0", in
        # the house form.
        template, bound = _BOUND_MESSAGES[kind]
        if kind in ("too_short", "too_long") and isinstance(error.get("input"), str):
            template += " characters"
        message = template.format((error.get("ctx") or {}).get(bound, "?"))
    return [f"{field} = {_shown(error.get('input'))}: {message}"]


#: A number with an exponent: YAML 1.1 (PyYAML) reads it as a number only with a dot and a signed exponent (1.0e-1,
#: 1.5e+3), so 1e-1, 1.5e3 or 1e3 arrive as text.
_EXPONENT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _yaml_number(number: float, integer: bool) -> str:
    """``number`` as YAML 1.1 reads it back as a number: 1000 for an integer, else a dot in the mantissa and a sign in
    the exponent (0.1, 1.5e-05, 2.5e+07)."""
    if integer:
        return str(int(number))
    mantissa, _, exponent = f"{number:g}".partition("e")
    if not exponent:
        return mantissa
    return f"{mantissa if '.' in mantissa else mantissa + '.0'}e{exponent}"


def _why_not_a_number(kind: str, value: Any) -> str:
    """What about the value YAML read made it not the number a field wants: the likely fix, in parentheses."""
    if kind not in ("int_type", "int_parsing", "float_type", "float_parsing"):
        return ""
    if value is None:
        return " (the key has no value)"
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return ""  # text, not a number in any spelling
        if kind.startswith("int") and not number.is_integer():
            return " (a whole number)"
        if _EXPONENT.fullmatch(value.strip()):
            return f" (YAML reads {value} as text, not as a number: write {_yaml_number(number, kind.startswith('int'))})"
        return " (a quoted YAML value is text: leave the quotes off)"
    if isinstance(value, float) and kind.startswith("int"):
        return f" (write {int(value)}, not {value})" if value.is_integer() else " (a whole number)"
    return ""


#: pydantic's bound errors -> (the house message, the ctx key holding the bound).
_BOUND_MESSAGES = {
    "too_short": ("must hold at least {}", "min_length"),
    "too_long": ("must hold at most {}", "max_length"),
    "string_too_long": ("must be at most {} characters", "max_length"),
    "greater_than": ("must be a number above {}", "gt"),
    "greater_than_equal": ("must be {} or more", "ge"),
    "less_than": ("must be a number below {}", "lt"),
    "less_than_equal": ("must be {} or less", "le"),
}


def _explained_by_a_typo(error: dict, errors: list[dict], model: type) -> bool:
    """A missing key that an unknown sibling key was meant to be: the typo's line already says so."""
    if error["type"] != "missing":
        return False
    loc = tuple(error["loc"])
    for other in errors:
        other_loc = tuple(other["loc"])
        if other["type"] == "extra_forbidden" and other_loc[:-1] == loc[:-1]:
            if _suggestion(other_loc[-1], _allowed_keys(model, other_loc)) == loc[-1]:
                return True
    return False


def _key_lines(node: yaml.Node, path: tuple = (), within: frozenset[int] = frozenset()) -> dict[tuple, int]:
    """Line (1-based) of every key and list item of a YAML document, by its path. Merge keys are not paths of the
    data, and a node an alias makes its own descendant (`a: &x {<<: *x}`) is not walked into again."""
    lines: dict[tuple, int] = {path: node.start_mark.line + 1}
    if id(node) in within:
        return lines
    within = within | {id(node)}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.tag == MERGE_TAG:
                continue
            child = (*path, key.value)
            lines[child] = key.start_mark.line + 1
            lines.update({k: v for k, v in _key_lines(value, child, within).items() if k != child})
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_key_lines(item, (*path, index), within))
    return lines


def _leading_path(text: str) -> tuple:
    """The field a rule's message starts with, as a path: 'notebooks[0].packages: ...' -> ('notebooks', 0, 'packages')."""
    head = text.split(":", 1)[0].split(" ", 1)[0]
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"\.|\[|\]\.?", head) if part)


def _line_of(loc: tuple, lines: dict[tuple, int]) -> int:
    """Where in the file an error's location is: the longest part of its path the file has."""
    path = tuple(part for part in loc if part != "[key]")
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 0)


def _read_mapping(path: Path, shown: Path, expected: str) -> tuple[dict, dict[tuple, int]]:
    """The file's YAML mapping and the line of each key in it, or a one-line ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:  # an editor's or a shell's other encoding: Windows-1252, UTF-16
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{shown}: not UTF-8 text (line {line}: byte 0x{exc.object[exc.start]:02x} is not UTF-8, "
                          f"{exc.reason}; allowed: a UTF-8 file, so save it again as UTF-8)") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        document = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{shown}: not valid YAML{where}: {problem}") from None
    if data is None:
        raise ConfigError(f"{shown}: file is empty (expected a mapping of {expected})")
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}: top level must be a mapping, not {type(data).__name__}")
    return data, _key_lines(document) if document is not None else {}


def _validate(model: type[ModelT], data: dict, shown: Path, lines: dict[tuple, int]) -> ModelT:
    """The validated model, or a ConfigError with every problem on its own line, in file order."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [dict(error) for error in exc.errors()]
        described: list[tuple[int, int, str]] = []
        for error in errors:
            if _explained_by_a_typo(error, errors, model):
                continue
            for text in _describe(error, model):
                # A whole-model rule's line names its field first: place it where that field is.
                loc = tuple(error["loc"]) + (_leading_path(text[len(_field_path(tuple(error["loc"]))):].lstrip("."))
                                              if error["type"] == "value_error" else ())
                described.append((_line_of(loc, lines), len(described), text))
        problems = [f"{shown}: {text}" for _, _, text in sorted(described)]
        raise ConfigError(list(dict.fromkeys(problems))) from None


#: In a directory of working copies of environment files (the demo's .demo/config, which names no model version in
#: dev), the directory the originals are in: messages, and the config source the pipeline's steps quote, name the
#: file a user edits, not a copy the next run overwrites.
COPY_OF_FILE = ".copy-of"


def mark_as_copy(copies: Path, originals: Path) -> None:
    """Say that the environment files in ``copies`` are working copies of those in ``originals``."""
    (copies / COPY_OF_FILE).write_text(f"{originals.resolve()}\n")


def _shown_path(path: Path, display_root: Path | None) -> Path:
    marker = path.parent / COPY_OF_FILE
    if marker.is_file():
        path = Path(marker.read_text().strip()) / path.name
    for root in (display_root, display_root.resolve()) if display_root else ():
        if path.is_relative_to(root):
            return path.relative_to(root)
    return path


def load_environment(path: Path | str, display_root: Path | None = None) -> EnvironmentConfig:
    """Parse and validate one environment file; the environment is named after the file."""
    path = Path(path)
    shown = _shown_path(path, display_root)
    if path.name == DELIVERY_FILE:
        raise ConfigError(f"{shown}: holds the delivery pipeline's settings, not an environment (pick another name)")
    data, lines = _read_mapping(path, shown, "account, region, network, ...")
    if "name" in data:
        raise ConfigError(f"{shown}: name: unknown key (the environment is named after its file: {path.stem})")
    if not ENV_NAME.fullmatch(path.stem):
        raise ConfigError(
            f"{shown}: the file name must be an environment name: a lowercase letter, then up to 14 lowercase "
            "letters or digits (e.g. dev.yaml, prod.yaml)"
        )
    moved = [key for key in ("pipeline", "serving") if key in data]
    if moved:  # the single-model layout before the model catalog
        raise ConfigError([
            f"{shown}: {key}: moved into the model catalog: models.<model name>.{'serving' if key == 'serving' else '<its keys>'} "
            "(see docs/configuration.md, \"From one model to a catalog\")" for key in moved
        ])
    environment = _validate(EnvironmentConfig, {"name": path.stem, **data}, shown, lines)
    environment._source = str(shown)
    return environment


def environment_files(config_dir: Path | str) -> list[Path]:
    """The <env>.yaml files of config_dir, sorted: every .yaml file but the delivery pipeline's."""
    return sorted(f for f in Path(config_dir).glob("*.yaml") if f.name != DELIVERY_FILE)


def load_environments(config_dir: Path | str, display_root: Path | None = None) -> list[EnvironmentConfig]:
    """Load every <env>.yaml in config_dir, sorted by name; at least one must exist."""
    config_dir = Path(config_dir)
    misnamed = sorted(config_dir.glob("*.yml"))
    if misnamed:
        raise ConfigError(f"{misnamed[0]}: environment files end in .yaml (rename it to {misnamed[0].stem}.yaml)")
    files = environment_files(config_dir)
    if not files:
        raise ConfigError(f"{config_dir}: no environment files (*.yaml) found")
    environments, problems = [], []
    for file in files:  # every file's problems at once, not only the first file's
        try:
            environments.append(load_environment(file, display_root))
        except ConfigError as error:
            problems += error.problems
    if problems:
        raise ConfigError(problems)
    return environments


def load_delivery(
    config_dir: Path | str, environments: list[EnvironmentConfig], display_root: Path | None = None
) -> DeliveryConfig | None:
    """config/delivery.yaml validated against the environments it deploys; None when there is no such file."""
    path = delivery_file(Path(config_dir))
    if not path.exists():
        return None
    shown = _shown_path(path, display_root)
    data, lines = _read_mapping(path, shown, "account, region, repository, branch, ...")
    delivery = _validate(DeliveryConfig, data, shown, lines)
    problems = delivery.check_environments(environments)
    if problems:  # every stage's, as an environment file reports every problem at once
        raise ConfigError([f"{shown}: {text}" for text in problems])
    return delivery
