"""The worker's pulse: lease renewal, its heartbeat record, and crash recovery.

Leases are renewed every third of their length, so a renewal can be missed twice
before a job is considered abandoned: here on the loop, or from a RenewalThread
(renewal.py) when the worker has one. The same tick returns jobs of dead workers
(expired leases) to the queue, so recovery needs no separate process; the jobs a
sweep dead-letters go to ``on_dead``, which runs their failed() hooks. It also moves
waiting jobs past their ttl to ``expired`` (capability Expiry).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from asynctasq.clock import SYSTEM_CLOCK, Clock
from asynctasq.core.worker.renewal import AttemptKey, HeldLeases, RenewalThread, renew_leases
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import EXPIRY_SWEEP, Expiry, WorkerRegistry
from asynctasq.jobs import Job, WorkerInfo
from asynctasq.tasks.registry import TaskRegistry

__all__ = ["LeaseKeeper", "LeaseLengths"]

log = logging.getLogger("asynctasq.worker")

#: most sweep_expired() batches one maintenance tick runs
EXPIRY_ROUNDS = 4


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
        on_dead: Callable[[Sequence[Job]], None] | None = None,
        on_lost: Callable[[list[AttemptKey]], Awaitable[None]] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.driver = driver
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.heartbeat_interval = heartbeat_interval
        self.leases = leases
        self.worker_info = worker_info
        self.on_heartbeat = on_heartbeat
        self.renewal_thread = renewal_thread
        self.on_dead = on_dead
        #: leases renewal found lost (the job recovered elsewhere, or cancelled while
        #: it ran): checked on every tick, whichever thread renewed
        self.on_lost = on_lost
        #: paces the ticks: a test's ManualClock renews and sweeps when moved
        self.clock = clock
        self.tick = min(heartbeat_interval, lease_seconds / 3)
        #: cleared by a stopping worker: the hooks of what it would dead-letter could
        #: not run, so it leaves recovery to the workers that stay
        self.recovering = True

    async def run(self) -> None:
        clock = self.clock
        next_beat = clock.monotonic() + self.heartbeat_interval  # start() beat already
        while True:
            try:
                if self.renewal_thread is None or not self.renewal_thread.healthy:
                    await self.renew()
                if clock.monotonic() >= next_beat:
                    next_beat = clock.monotonic() + self.heartbeat_interval
                    await self.beat()
                if self.recovering:
                    await self.recover()
                if self.on_lost is not None and (lost := self.leases.take_lost()):
                    await self.on_lost(lost)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("heartbeat failed (%s: %s); retrying", type(exc).__name__, exc)
            await clock.sleep(self.tick)

    async def renew(self) -> None:
        held = self.leases.snapshot()
        if held:
            await renew_leases(self.driver, self.worker_id, self.leases, held, self.lease_seconds)

    async def recover(self) -> None:
        """Sweep lapsed leases; the jobs this sweep dead-lettered go to ``on_dead``."""
        recovery = await self.driver.recover_expired()
        if recovery.requeued:
            log.warning(
                "recovered %d job(s) whose worker stopped renewing its lease: back to pending",
                recovery.requeued,
            )
        if recovery.dead and self.on_dead is not None:
            self.on_dead(recovery.dead)
        if isinstance(self.driver, Expiry):
            await self.expire()

    async def expire(self) -> int:
        """Move waiting jobs past their ttl to ``expired`` (capability Expiry), a
        batch per step, so they do not sit in the queue; how many moved."""
        assert isinstance(self.driver, Expiry)
        moved = 0
        for _ in range(EXPIRY_ROUNDS):  # bounded: the next tick takes the rest
            swept = await self.driver.sweep_expired(EXPIRY_SWEEP)
            moved += swept
            if swept < EXPIRY_SWEEP:
                break
        if moved:
            log.info("expired %d waiting job(s) whose ttl ran out", moved)
        return moved

    async def beat(self) -> None:
        info = self.worker_info()
        if isinstance(self.driver, WorkerRegistry):
            await self.driver.heartbeat(info, ttl=self.heartbeat_interval * 3)
        if self.on_heartbeat is not None:
            self.on_heartbeat(info)


class LeaseLengths:
    """The lease a job is claimed with: its task's ``visibility_timeout`` when longer
    than the worker's lease, read once per task (every claimed job asks)."""

    def __init__(self, registry: TaskRegistry, lease_seconds: float) -> None:
        self.registry = registry
        self.lease_seconds = lease_seconds
        self._by_task: dict[str, float] = {}

    def __call__(self, job: Job) -> float:
        try:
            return self._by_task[job.task]
        except KeyError:
            pass
        cls = self.registry._tasks.get(job.task)
        if cls is None:  # unknown here (poison): the worker's own lease, not remembered
            return self.lease_seconds
        visibility = cls.task_config.get("visibility_timeout") or 0.0
        lease = self._by_task[job.task] = max(visibility, self.lease_seconds)
        return lease
