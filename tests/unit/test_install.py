"""The editable install (`make install`, pyproject.toml) puts the repository itself on the path, from anywhere."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.paths import ROOT


def test_modules_import_from_the_repository_outside_its_root(tmp_path):
    """Run from another directory (as `python -m delivery promote --config-dir ...` may be), every module is the
    repository's file, not a copy the install left in site-packages that would go stale on the next edit."""
    code = "import naming, config, delivery, local, stacks, catalog; print('\\n'.join(m.__file__ for m in " \
           "(naming, config, delivery, local, stacks, catalog)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True)
    for path in out.stdout.split():
        assert path.startswith(str(ROOT) + "/") and "site-packages" not in path, path
