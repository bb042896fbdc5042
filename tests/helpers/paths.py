"""Paths the tests read: the repository, the example config, the user's config and the training scripts.

Example-specific assertions and snapshots read the example config under tests/fixtures/config
(a copy of what the repository ships), so that a user's edit of config/ never breaks them; the
platform's invariants (tests/unit/test_platform_invariants.py) run over config/, whatever it holds.
"""

from __future__ import annotations

from local.paths import REPO_ROOT as ROOT

#: The example environments (dev, staging, prod as the repository ships them), for example-specific tests.
CONFIG_DIR = ROOT / "tests" / "fixtures" / "config"
#: The config a user deploys: only the invariant tests read it.
USER_CONFIG_DIR = ROOT / "config"
SCRIPTS = ROOT / "training_scripts"
