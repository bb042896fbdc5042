"""Fixtures and hooks only; what they are built on lives in tests/helpers/.

The whole app (every stage, with cdk-nag) is synthesized once per test session, shared by
all pytest-xdist workers, and tests read templates from that cloud assembly. AWS endpoints
point at a closed port so no test can reach AWS.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.emulator import Emulator
from tests.helpers.assembly import Assembly, shared_synth
from tests.helpers.configs import serving_config_dir
from tests.helpers.emulator import running_emulator
from tests.helpers.offline import use_offline_environment
from tests.helpers.paths import CONFIG_DIR


def pytest_configure(config: pytest.Config) -> None:
    use_offline_environment()


def _session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every xdist worker of this session sees (each worker's basetemp is below it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    """The app as the example config (tests/fixtures/config) defines it: what example-specific tests read."""
    return shared_synth(_session_root(tmp_path_factory), "cdk.out", lambda _: CONFIG_DIR)


@pytest.fixture(scope="session")
def serving_assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    """The app synthesized with a model version named in each environment (config/ names none yet)."""
    return shared_synth(_session_root(tmp_path_factory), "cdk.out.serving", serving_config_dir)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """A moto server of the module's own."""
    yield from running_emulator()
