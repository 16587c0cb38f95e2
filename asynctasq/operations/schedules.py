"""Operations on schedules (repeatable and cron jobs): list them with their next
fire times, pause, resume, remove, and run one now. The CLI (``asynctasq schedule``)
and ``Queue``'s repeatable methods call these."""

from __future__ import annotations

import datetime as dt
from typing import Any

from asynctasq.clock import SYSTEM_CLOCK, Clock
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Schedules, require
from asynctasq.jobs import new_job_id
from asynctasq.schedules import Schedule

__all__ = [
    "ScheduleNotFound",
    "list_schedules",
    "pause_schedule",
    "remove_schedule",
    "resume_schedule",
    "run_schedule_now",
    "schedule_record",
]


class ScheduleNotFound(LookupError):
    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"no schedule {schedule_id!r} (asynctasq schedule list shows them)")
        self.schedule_id = schedule_id


async def list_schedules(driver: Driver) -> list[Schedule]:
    return await require(driver, Schedules, "listing schedules").list_schedules()


async def pause_schedule(driver: Driver, schedule_id: str) -> None:
    """Stop firing ``schedule_id``; its slots pass unfired while it is paused."""
    if not await require(driver, Schedules, "pausing a schedule").pause_schedule(schedule_id, True):
        raise ScheduleNotFound(schedule_id)


async def resume_schedule(driver: Driver, schedule_id: str) -> None:
    """Fire ``schedule_id`` again (slots missed while paused follow its missed policy)."""
    if not await require(driver, Schedules, "resuming a schedule").pause_schedule(
        schedule_id, False
    ):
        raise ScheduleNotFound(schedule_id)


async def remove_schedule(driver: Driver, schedule_id: str) -> None:
    """Delete ``schedule_id``; jobs it already enqueued stay. A schedule defined in
    code (``@task(cron=...)``) comes back when a worker next starts with that code."""
    if not await require(driver, Schedules, "removing a schedule").remove_schedule(schedule_id):
        raise ScheduleNotFound(schedule_id)


async def run_schedule_now(driver: Driver, schedule_id: str, *, clock: Clock = SYSTEM_CLOCK) -> str:
    """Enqueue one job of ``schedule_id`` now, outside its slots (its next slot is
    unchanged, and a paused schedule stays paused); the job's id."""
    store = require(driver, Schedules, "running a schedule now")
    schedule = await store.get_schedule(schedule_id)
    if schedule is None:
        raise ScheduleNotFound(schedule_id)
    [job_id] = await driver.enqueue(
        [schedule.job_for(clock.time(), clock.time(), job_id=new_job_id())]
    )
    return job_id


def schedule_record(schedule: Schedule) -> dict[str, Any]:
    """One schedule as the CLI's JSON output shows it (next_run: ISO 8601, UTC)."""
    return {
        "id": schedule.id,
        "task": schedule.task,
        "queue": schedule.queue,
        "cron": schedule.cron,
        "every": schedule.every,
        "timezone": schedule.timezone,
        "missed": schedule.missed.value,
        "paused": schedule.paused,
        "next_run": dt.datetime.fromtimestamp(schedule.next_at, dt.UTC).isoformat(),
    }
