"""The embedded emulator for tests: a fresh moto server per module that needs one."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

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


def model_servers(emulator: Emulator) -> dict[int, int]:
    """The serve.py processes the emulator runs for its endpoints, as {pid: port} (read from Linux's /proc)."""
    assert emulator.process is not None, "the emulator was never started"
    servers = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])  # the command name may hold spaces
            argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        if parent == emulator.process.pid and any(arg.endswith(b"serve.py") for arg in argv):
            servers[int(stat.parent.name)] = int(argv[argv.index(b"--port") + 1])
    return servers
