"""The embedded emulator for tests: a fresh moto server per module that needs one."""

from __future__ import annotations

from collections.abc import Iterator

from local.emulator import Emulator


def running_emulator() -> Iterator[Emulator]:
    """Yield a started emulator and stop it afterwards (the body of the `emulator` fixture)."""
    with Emulator() as emulator:
        yield emulator
