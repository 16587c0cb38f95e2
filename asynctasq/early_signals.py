"""Signals that arrive while the command line is still starting up.

A worker takes a few hundred milliseconds to import its tasks and reach the broker. A
SIGTERM in that window (a deploy, an autoscaler, a supervisor restarting it) would kill
the process with Python's default action, before its own handlers exist. The entry
point records such signals instead, first thing; the worker's handlers take them over
when they are installed and stop the worker as if the signal came then.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

__all__ = ["install", "release", "take"]

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_received: list[signal.Signals] = []


def _record(signum: int, frame: FrameType | None) -> None:
    _received.append(signal.Signals(signum))


def install() -> None:
    """Record SIGTERM/SIGINT until the worker installs its own handlers."""
    if threading.current_thread() is threading.main_thread():
        for sig in _SIGNALS:
            signal.signal(sig, _record)


def take() -> list[signal.Signals]:
    """The signals received so far (each returned once)."""
    taken = list(_received)
    _received.clear()
    return taken


def release() -> None:
    """Back to Python's own handling, for commands that are not a worker; a signal
    recorded meanwhile is delivered again now."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in take():
        signal.raise_signal(sig)
