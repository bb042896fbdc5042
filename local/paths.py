"""Where local mode keeps things on this machine: the repository, its cloud assembly, the demo's files."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The cloud assembly `cdk synth` and `cdk deploy` write by default.
CDK_OUT = REPO_ROOT / "cdk.out"
#: The demo's work files: executions, served models, logs.
DEMO_DIR = REPO_ROOT / ".demo"


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (for messages)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
