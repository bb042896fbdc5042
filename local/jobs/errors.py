"""The one exception a local job raises: its container failed, with the reason in one line."""

from __future__ import annotations


class JobFailed(RuntimeError):
    """A job's container failed; the message is its one-line reason."""

