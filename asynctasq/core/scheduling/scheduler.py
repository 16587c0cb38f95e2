"""The scheduler: fires the due slots of the schedules stored in the broker.

Any number of schedulers may run (every worker runs one; ``Scheduler.run`` runs one
anywhere else): each slot fires once, because firing is the broker's atomic compare-and-set of the
schedule's ``next_at`` together with the enqueue of the slot's jobs
(``Schedules.fire_schedule``). A scheduler that loses the race enqueues nothing.

A tick reads every schedule (one broker call) and fires nothing when none is due,
so schedules cost an idle worker one read per ``interval``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asynctasq.clock import SYSTEM_CLOCK, Clock
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Schedules, require
from asynctasq.errors import UndecodablePayloadError
from asynctasq.jobs import Job
from asynctasq.schedules import Schedule
from asynctasq.serialization.msgpack import Serializer, default_serializer
from asynctasq.serialization.payload import decode_payload, encode_payload

__all__ = ["DEFAULT_INTERVAL", "Scheduler", "register"]

logger = logging.getLogger("asynctasq.scheduler")

#: seconds between two reads of the schedules when none is due sooner
DEFAULT_INTERVAL = 1.0


class Scheduler:
    def __init__(
        self,
        driver: Driver,
        *,
        clock: Clock = SYSTEM_CLOCK,
        interval: float = DEFAULT_INTERVAL,
        serializer: Serializer = default_serializer,
    ) -> None:
        self.store = require(driver, Schedules, "repeatable and cron jobs")
        self.clock = clock
        self.interval = interval
        #: of the schedules' payloads (the workers' serializer)
        self.serializer = serializer

    async def tick(self) -> list[str]:
        """Fire every due slot now; the ids of the jobs this scheduler enqueued."""
        fired, _ = await self._tick()
        return fired

    async def _tick(self) -> tuple[list[str], float]:
        """The ids fired, and seconds until the next slot (at most ``interval``): one
        read of the schedules for both."""
        now = self.clock.time()
        fired: list[str] = []
        soonest = now + self.interval
        for schedule in await self.store.list_schedules():
            fired += await self.fire_due(schedule, now)
            if not schedule.paused:  # a slot just fired: its next one is after now
                upcoming = schedule.next_at if schedule.next_at > now else schedule.slot_after(now)
                soonest = min(soonest, upcoming)
        return fired, max(0.0, soonest - now)

    async def fire_due(self, schedule: Schedule, now: float) -> list[str]:
        if schedule.paused or schedule.next_at > now:
            return []
        jobs = [self._slot_job(schedule, slot, now) for slot in schedule.due_slots(now)]
        won = await self.store.fire_schedule(
            schedule, schedule.next_at, schedule.slot_after(now), jobs
        )
        if won and jobs:
            logger.info("schedule %s fired %d job(s)", schedule.id, len(jobs))
        return [job.id for job in jobs] if won else []

    def _slot_job(self, schedule: Schedule, slot: float, now: float) -> Job:
        """The job of ``slot``; its payload carries the slot (``task.scheduled_for``)."""
        job = schedule.job_for(slot, now)
        try:
            args, options = decode_payload(job.payload, self.serializer)
        except UndecodablePayloadError:
            return job  # sent as stored: the worker dead-letters it, naming the fault
        job.payload = encode_payload(args, {**options, "scheduled_for": slot}, self.serializer)
        return job

    async def run(self) -> None:
        """Tick until cancelled; a broker error is logged and retried next interval."""
        while True:
            try:
                _, wait = await self._tick()
            except Exception:  # a scheduler outlives a broker hiccup
                logger.exception("scheduler tick failed; retrying")
                wait = self.interval
            await self.clock.sleep(max(wait, 0.01))


async def register(driver: Driver, schedules: Iterable[Schedule], now: float) -> None:
    """Store ``schedules`` (those defined in code), each with its first slot after
    ``now``; an unchanged schedule already stored keeps its next slot and pause."""
    store = require(driver, Schedules, "repeatable and cron jobs")
    for schedule in schedules:
        if not schedule.next_at:
            schedule.next_at = schedule.slot_after(now)
        await store.save_schedule(schedule)
