"""The worker's pulse: lease renewal, its heartbeat record, and crash recovery.

Leases are renewed every third of their length, so a renewal can be missed twice
before a job is considered abandoned. The same tick returns jobs of dead workers
(expired leases) to the queue, so recovery needs no separate process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

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
        held_jobs: Callable[[], Iterable[tuple[str, float]]],
        worker_info: Callable[[], WorkerInfo],
        on_heartbeat: Callable[[WorkerInfo], None] | None = None,
    ) -> None:
        self.driver = driver
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.heartbeat_interval = heartbeat_interval
        self.held_jobs = held_jobs
        self.worker_info = worker_info
        self.on_heartbeat = on_heartbeat
        self.tick = min(heartbeat_interval, lease_seconds / 3)
        self.lost: set[str] = set()

    async def run(self) -> None:
        next_beat = 0.0
        while True:
            try:
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
        by_lease: dict[float, list[str]] = {}
        for job_id, lease in self.held_jobs():
            by_lease.setdefault(max(lease, self.lease_seconds), []).append(job_id)
        for lease, ids in by_lease.items():
            held = set(await self.driver.renew(self.worker_id, ids, lease))
            for job_id in ids:
                if job_id not in held and job_id not in self.lost:
                    self.lost.add(job_id)
                    log.warning(
                        "lease of job %s was lost (it expired and the job was recovered); "
                        "its outcome will be rejected",
                        job_id,
                    )

    async def beat(self) -> None:
        info = self.worker_info()
        await self.driver.heartbeat(info, ttl=self.heartbeat_interval * 3)
        if self.on_heartbeat is not None:
            self.on_heartbeat(info)
