"""The embedded emulator for tests: a fresh moto server per module that needs one."""

from __future__ import annotations

import socket
from collections.abc import Iterator

from local.emulator import Emulator


def running_emulator() -> Iterator[Emulator]:
    """Yield a started emulator and stop it afterwards (the body of the `emulator` fixture)."""
    with Emulator() as emulator:
        yield emulator


def answers(port: int | None) -> bool:
    """Whether something listens on 127.0.0.1:port (the emulator, or a server it left behind)."""
    assert port is not None, "the emulator was never started"
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
