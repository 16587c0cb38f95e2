"""``worker --processes``: how many worker processes are asked for, and how a child
knows the supervisor that started it. Apart from supervisor.py, which a single
worker process never imports (its start-up stays lean)."""

from __future__ import annotations

import os

__all__ = ["SUPERVISOR_ENV", "processes_wanted"]

#: the variable that tells a child the id of its supervisor (its group)
SUPERVISOR_ENV = "ASYNCTASQ_SUPERVISOR_ID"


def processes_wanted(value: str) -> int:
    """``--processes``: a number from 1, or ``auto`` (one per core)."""
    if value.strip().lower() == "auto":
        return os.cpu_count() or 1
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"--processes {value!r}: expected a number from 1, or auto (one per core)")
    return count
