"""Lifecycle scripts of notebook instances and of Studio JupyterLab spaces, rendered from the real files next to this module.

No CDK imports: the stacks put the rendered text into
AWS::SageMaker::NotebookInstanceLifecycleConfig (base64), and tests can render and run it.
Rendering is deterministic, so an unchanged config synthesizes an unchanged template.
"""

from __future__ import annotations

import base64
import re
import shlex
from pathlib import Path

#: SageMaker's limit per lifecycle script. It applies to the base64-encoded Content,
#: so the plain script may use only about three quarters of it.
MAX_SCRIPT_CHARS = 16384

_HERE = Path(__file__).resolve().parent
_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
_HEREDOC_END = "AUTOSTOP_PY"


def _read(name: str) -> str:
    # newline="" keeps the bytes exact, so the embedded autostop.py equals the file.
    with open(_HERE / name, encoding="utf-8", newline="") as handle:
        return handle.read()


def _section(script: str, name: str, *, keep: bool) -> str:
    pattern = re.compile(rf"^# >>> {name}\n.*?^# <<< {name}\n", re.M | re.S)
    if len(pattern.findall(script)) != 1:
        raise ValueError(f"lifecycle template: expected one '{name}' section")
    return script if keep else pattern.sub("", script)


def _fill(script: str, values: dict[str, str]) -> str:
    # One pass, so placeholder-like text inside a value is never substituted again.
    found = set(_PLACEHOLDER.findall(script))
    if found != set(values):
        raise ValueError(f"lifecycle template placeholders {sorted(found)} do not match {sorted(values)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], script)


def _checked(name: str, script: str) -> str:
    size = len(base64.b64encode(script.encode("utf-8")))
    if size > MAX_SCRIPT_CHARS:
        raise ValueError(
            f"{name} is {size} characters base64-encoded; SageMaker allows at most {MAX_SCRIPT_CHARS} "
            "(configure fewer or shorter packages)"
        )
    return script


def render_on_create() -> str:
    """The OnCreate script: lays out the persistent volume once."""
    return _checked("on_create.sh", _read("on_create.sh"))


def render_on_start(*, idle_minutes: int, packages: list[str]) -> str:
    """The OnStart script: background package install and, unless idle_minutes is 0, auto-stop."""
    if isinstance(idle_minutes, bool) or not isinstance(idle_minutes, int) or idle_minutes < 0:
        raise ValueError(f"idle_minutes must be an integer >= 0 (0 turns auto-stop off), got {idle_minutes!r}")
    if not all(isinstance(package, str) and package for package in packages):
        raise ValueError(f"packages must be non-empty strings, got {packages!r}")
    autostop = _read("autostop.py")
    if not autostop.endswith("\n") or _HEREDOC_END in autostop.splitlines():
        raise ValueError(f"autostop.py must end with a newline and never contain a line {_HEREDOC_END}")

    script = _section(_read("on_start.sh"), "packages", keep=bool(packages))
    script = _section(script, "autostop", keep=idle_minutes > 0)
    values = {"IDLE_SECONDS": str(idle_minutes * 60)}
    if packages:
        values["PACKAGES"] = " ".join(shlex.quote(package) for package in packages)
    if idle_minutes > 0:
        # The heredoc adds the final newline back.
        values["AUTOSTOP_PY"] = autostop[:-1]
    return _checked("on_start.sh", _fill(script, values))


def render_jupyterlab_on_start(*, packages: list[str]) -> str:
    """The Studio JupyterLab lifecycle script of a team: installs its packages in the background at app start.
    The same MAX_SCRIPT_CHARS limit applies (StudioLifecycleConfigContent: base64, at most 16384 characters)."""
    if not all(isinstance(package, str) and package for package in packages):
        raise ValueError(f"packages must be non-empty strings, got {packages!r}")
    values = {"PACKAGES": " ".join(shlex.quote(package) for package in packages)}
    return _checked("jupyterlab_on_start.sh", _fill(_read("jupyterlab_on_start.sh"), values))
