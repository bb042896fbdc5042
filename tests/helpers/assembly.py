"""The synthesized cloud assembly that template tests read, built the way `cdk synth` builds it.

`Template.from_stack` would synthesize the whole app on every call; instead an app is
synthesized once into a directory and templates are read from there by stage and stack.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers.paths import ROOT


def cdk_context() -> dict:
    """cdk.json's context (feature flags included): a bare cdk.App() would ignore it."""
    return dict(json.loads((ROOT / "cdk.json").read_text())["context"])


class Assembly:
    """A synthesized cloud assembly, with templates looked up by stage and stack name."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self._templates: dict[tuple[str, str], Any] = {}

    def manifest(self, env: str) -> dict:
        return dict(json.loads((self.outdir / f"assembly-{env}" / "manifest.json").read_text()))

    def template_path(self, env: str, stack: str) -> Path:
        for artifact in self.manifest(env)["artifacts"].values():
            if artifact.get("type") == "aws:cloudformation:stack" and artifact.get("displayName") == f"{env}/{stack}":
                return self.outdir / f"assembly-{env}" / artifact["properties"]["templateFile"]
        raise KeyError(f"no stack {env}/{stack} in the assembly")

    def template_json(self, env: str, stack: str) -> dict:
        return dict(json.loads(self.template_path(env, stack).read_text()))

    def template(self, env: str, stack: str) -> Any:
        """An assertions Template, built once per stack: each one is a round trip through jsii."""
        from aws_cdk.assertions import Template

        if (env, stack) not in self._templates:
            self._templates[env, stack] = Template.from_json(self.template_json(env, stack))
        return self._templates[env, stack]

    def stack_names(self, env: str) -> list[str]:
        return sorted(
            a["displayName"].split("/", 1)[1]
            for a in self.manifest(env)["artifacts"].values()
            if a.get("type") == "aws:cloudformation:stack"
        )

    @property
    def notices_file(self) -> Path:
        """Beside the assembly, not in it: the cloud assembly stays exactly what `cdk synth` writes."""
        return self.outdir.with_name(f"{self.outdir.name}.notices.json")

    def notices(self) -> list[str]:
        """What the app printed for whoever runs synth (written by synth_app)."""
        return list(json.loads(self.notices_file.read_text()))


def synth_app(outdir: Path, config_dir: Path | None = None) -> Assembly:
    """The app (app.py's build_app) synthesized into outdir, from config_dir (default config/)."""
    import app as app_module

    context = cdk_context()
    if config_dir is not None:
        context["config_dir"] = str(config_dir)
    app = app_module.new_app(context=context, outdir=str(outdir))
    app_module.build_app(app)
    app.synth()
    notices = [notice for child in app.node.children for notice in getattr(child, "notices", ())]
    assembly = Assembly(outdir)
    assembly.notices_file.write_text(json.dumps(notices))
    return assembly


def shared_synth(shared_root: Path, name: str, make_config: Callable[[Path], Path] | None = None) -> Assembly:
    """One synth per test session, whichever pytest-xdist worker asks first; the others wait for it
    and read the same assembly (shared_root is common to all workers of a session). ``make_config``
    writes the config directory it is given (default: the repository's config/)."""
    outdir = shared_root / name
    with (shared_root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not Assembly(outdir).notices_file.is_file():
            config_dir = make_config(shared_root / f"{name}.config") if make_config else None
            outdir.mkdir(parents=True, exist_ok=True)
            synth_app(outdir, config_dir)
    return Assembly(outdir)
