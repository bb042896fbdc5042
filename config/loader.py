"""Load config/<env>.yaml files into EnvironmentConfig objects, or fail with one line.

The line names the file, the field, the bad value and what is allowed, e.g.::

    config/dev.yaml: notebooks[0].volume_size_gb = 2: must be an integer in 5..16384 GB
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from config.delivery import DELIVERY_FILE, DeliveryConfig, delivery_file
from config.environment import ENV_NAME, EnvironmentConfig

ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigError(Exception):
    """A configuration problem, described in one line fit for a terminal."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys: PyYAML would silently keep the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be a plain value, not {type(key).__name__}", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
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
    "int_type": "must be an integer (a quoted YAML value is text)",
    "int_parsing": "must be an integer",
    "string_type": "must be text (quote it in YAML)",
    "list_type": "must be a list",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "bool_type": "must be true or false",
}
_PATTERN_MESSAGES = {
    "name": "must be 1-40 lowercase letters, digits or inner hyphens (e.g. data-science)",
}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"<{type(value).__name__} of {len(value)}>"


def _allowed_keys(model: type, loc: tuple) -> list[str]:
    """Walk the schema along loc (minus its last part) to list the keys allowed there."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        current = next((a for a in args if hasattr(a, "model_fields")), annotation)
    return sorted(getattr(current, "model_fields", {}))


def _describe(error: dict, model: type) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    field = _field_path(loc)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc)
        return f"{field}: unknown key (allowed: {', '.join(allowed)})"
    if kind == "missing":
        return f"{field}: required field is missing"
    if kind == "value_error" and isinstance(error.get("input"), dict):
        # A whole-model rule: its message starts with the field it judges and shows the value.
        return f"{field}.{message}" if field else message
    if kind in _TYPE_MESSAGES:
        message = _TYPE_MESSAGES[kind]
    elif kind == "string_pattern_mismatch":
        message = _PATTERN_MESSAGES.get(str(loc[-1]), message)
    return f"{field} = {_shown(error.get('input'))}: {message}"


def _read_mapping(path: Path, shown: Path, expected: str) -> dict:
    """The file's YAML mapping, or a one-line ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read file ({exc.strerror})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{shown}: not valid YAML{where}: {problem}") from None
    if data is None:
        raise ConfigError(f"{shown}: file is empty (expected a mapping of {expected})")
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}: top level must be a mapping, not {type(data).__name__}")
    return data


def _validate(model: type[ModelT], data: dict, shown: Path) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        line = _describe(dict(errors[0]), model)
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise ConfigError(f"{shown}: {line}{more}") from None


def _shown_path(path: Path, display_root: Path | None) -> Path:
    return path.relative_to(display_root) if display_root and path.is_relative_to(display_root) else path


def load_environment(path: Path | str, display_root: Path | None = None) -> EnvironmentConfig:
    """Parse and validate one environment file; the environment is named after the file."""
    path = Path(path)
    shown = _shown_path(path, display_root)
    if path.name == DELIVERY_FILE:
        raise ConfigError(f"{shown}: holds the delivery pipeline's settings, not an environment (pick another name)")
    data = _read_mapping(path, shown, "account, region, network, ...")
    if "name" in data:
        raise ConfigError(f"{shown}: name: unknown key (the environment is named after its file: {path.stem})")
    if not ENV_NAME.fullmatch(path.stem):
        raise ConfigError(
            f"{shown}: the file name must be an environment name: a lowercase letter, then up to 14 lowercase "
            "letters or digits (e.g. dev.yaml, prod.yaml)"
        )
    return _validate(EnvironmentConfig, {"name": path.stem, **data}, shown)


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
    return [load_environment(f, display_root) for f in files]


def load_delivery(
    config_dir: Path | str, environments: list[EnvironmentConfig], display_root: Path | None = None
) -> DeliveryConfig | None:
    """config/delivery.yaml validated against the environments it deploys; None when there is no such file."""
    path = delivery_file(Path(config_dir))
    if not path.exists():
        return None
    shown = _shown_path(path, display_root)
    delivery = _validate(DeliveryConfig, _read_mapping(path, shown, "account, region, repository, branch, ..."), shown)
    try:
        delivery.check_environments(environments)
    except ValueError as exc:
        raise ConfigError(f"{shown}: {exc}") from None
    return delivery
