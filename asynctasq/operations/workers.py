"""Operations on workers: who is running, from their heartbeats."""

from __future__ import annotations

from typing import Any

from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import WorkerRegistry, require
from asynctasq.operations.schema import worker_record

__all__ = ["list_workers"]


async def list_workers(driver: Driver, *, max_age: float = 60.0) -> list[dict[str, Any]]:
    """Every worker the registry still holds, by id. A worker whose last heartbeat is
    older than ``max_age`` seconds shows as ``dead`` until the registry forgets it."""
    registry = require(driver, WorkerRegistry, "listing workers")
    workers = sorted(await registry.list_workers(), key=lambda w: w.worker_id)
    return [worker_record(w, max_age=max_age) for w in workers]
