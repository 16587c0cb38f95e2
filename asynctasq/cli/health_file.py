"""``worker --health-file PATH``: the worker rewrites PATH at every heartbeat (after
the broker took it), and removes it when it stops. ``asynctasq health --file PATH``
(or any ``exec`` probe reading the file's age) then checks the worker without a
broker round trip."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from asynctasq.core.events import Event, EventEmitter

__all__ = ["HealthFile", "file_age"]

_BEATS = ("worker_online", "worker_heartbeat")


class HealthFile(EventEmitter):
    """An event consumer that only reads the worker's own presence events."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def emit(self, event: Event) -> None:
        if event.event_type in _BEATS:
            record = {"worker_id": event.worker_id, "at": event.at, "active": event.active}
            # whole or not at all: a probe never reads half a file
            partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            partial.write_text(json.dumps(record), "utf-8")
            os.replace(partial, self.path)
        elif event.event_type == "worker_offline":
            self.path.unlink(missing_ok=True)


def file_age(path: str | Path) -> float | None:
    """Seconds since the worker last wrote ``path``; None when there is no file."""
    try:
        return max(0.0, time.time() - Path(path).stat().st_mtime)
    except FileNotFoundError:
        return None
