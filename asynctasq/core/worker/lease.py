"""The worker's pulse: lease renewal, its heartbeat record, and crash recovery.

Leases are renewed every third of their length, so a renewal can be missed twice
before a job is considered abandoned: here on the loop, or from a RenewalThread
(renewal.py) when the worker has one. The same tick returns jobs of dead workers
(expired leases) to the queue, so recovery needs no separate process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from asynctasq.core.worker.renewal import HeldLeases, RenewalThread, renew_leases
from asynctasq.drivers.base import Driver
from asynctasq.jobs import WorkerInfo

__all__ = ["LeaseKeeper"]

log = logging.getLogger("asynctasq.worker")


class LeaseKeeper:
    def __init__(
        self,
        driver: Driver,
        *,
        worker_id: str,
        lease_seconds: float,
        heartbeat_interval: float,
        leases: HeldLeases,
        worker_info: Callable[[], WorkerInfo],
        on_heartbeat: Callable[[WorkerInfo], None] | None = None,
        renewal_thread: RenewalThread | None = None,
    ) -> None:
        self.driver = driver
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.heartbeat_interval = heartbeat_interval
        self.leases = leases
        self.worker_info = worker_info
        self.on_heartbeat = on_heartbeat
        self.renewal_thread = renewal_thread
        self.tick = min(heartbeat_interval, lease_seconds / 3)

    async def run(self) -> None:
        next_beat = time.monotonic() + self.heartbeat_interval  # start() beat already
        while True:
            try:
                if self.renewal_thread is None or not self.renewal_thread.healthy:
                    await self.renew()
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.heartbeat_interval
                    await self.beat()
                moved = await self.driver.recover_expired()
                if moved:
                    log.warning(
                        "recovered %d job(s) whose worker stopped renewing its lease", moved
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("heartbeat failed (%s: %s); retrying", type(exc).__name__, exc)
            await asyncio.sleep(self.tick)

    async def renew(self) -> None:
        held = self.leases.snapshot()
        if held:
            await renew_leases(self.driver, self.worker_id, self.leases, held, self.lease_seconds)

    async def beat(self) -> None:
        info = self.worker_info()
        await self.driver.heartbeat(info, ttl=self.heartbeat_interval * 3)
        if self.on_heartbeat is not None:
            self.on_heartbeat(info)
