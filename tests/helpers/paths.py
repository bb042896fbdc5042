"""Paths the tests read: the repository, its shipped config and the training scripts."""

from __future__ import annotations

from local.paths import REPO_ROOT as ROOT

CONFIG_DIR = ROOT / "config"
SCRIPTS = ROOT / "training_scripts"
