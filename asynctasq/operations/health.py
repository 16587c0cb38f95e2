"""The health check behind ``asynctasq health`` and container probes: does the
broker answer, and (for a queue) does a live worker serve it?"""

from __future__ import annotations

import time
from dataclasses import dataclass

from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection, WorkerRegistry, require

__all__ = ["Health", "check_health"]


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    #: one line for a person or a probe's log
    message: str
    queue: str | None = None
    workers: int = 0


async def check_health(
    driver: Driver, *, queue: str | None = None, max_age: float = 60.0
) -> Health:
    """Healthy when the (connected) broker answers a read and, with ``queue``, at
    least one worker serving ``queue`` sent a heartbeat in the last ``max_age`` s."""
    if isinstance(driver, Inspection):
        await driver.queues()  # a round trip: connect() alone may be lazy
    if queue is None:
        return Health(True, f"ok: the {driver.name} broker answers")
    registry = require(driver, WorkerRegistry, "a health check of a queue's workers")
    now = time.time()
    serving = [
        w
        for w in await registry.list_workers()
        if queue in w.queues and now - w.last_seen <= max_age
    ]
    if not serving:
        return Health(
            False,
            f"unhealthy: no worker serving queue {queue!r} sent a heartbeat in the last "
            f"{max_age:g}s",
            queue,
        )
    return Health(
        True, f"ok: {len(serving)} live worker(s) serve queue {queue!r}", queue, len(serving)
    )
