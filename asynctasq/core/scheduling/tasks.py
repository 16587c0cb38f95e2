"""``fn.schedule(cron=..., args=...)``: a schedule of a task with its arguments,
stored in the broker (the decorated function's side of ``Queue.add_repeatable``)."""

from __future__ import annotations

import time
from typing import Any

from asynctasq.core.backends import dispatcher_for
from asynctasq.core.scheduling.scheduler import register
from asynctasq.schedules import Missed, Schedule
from asynctasq.tasks.base import BaseTask

__all__ = ["schedule_task"]


async def schedule_task(
    task: BaseTask[Any],
    *,
    backend: Any = None,
    cron: str | None = None,
    every: float | None = None,
    timezone: str = "UTC",
    missed: Missed | str = Missed.SKIP,
    schedule_id: str | None = None,
) -> str:
    """Store a schedule firing ``task`` (its arguments, queue and options as a
    dispatch would send them); its id (default: the task's name)."""
    dispatcher = await dispatcher_for(backend)
    now = time.time()
    template = dispatcher.build_job(task, now)
    schedule = Schedule(
        id=schedule_id or template.task,
        task=template.task,
        payload=template.payload,
        queue=template.queue,
        cron=cron,
        every=every,
        timezone=timezone,
        missed=Missed(missed),
        priority=template.priority,
        max_attempts=template.max_attempts,
        timeout=template.timeout,
    )
    await register(dispatcher.driver, [schedule], now)
    return schedule.id
