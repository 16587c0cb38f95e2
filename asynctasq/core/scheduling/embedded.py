"""The scheduler every worker runs: no extra beat process to deploy.

At start a worker stores the schedules its code defines (``@task(cron=...)``,
``repeat_every=``) for the queues it serves, then fires due slots of every schedule
in the broker. Many workers do this at once safely: a slot fires once whoever wins
(``scheduler.py``). On a broker without the Schedules capability a worker whose code
defines schedules logs why they will not fire, once, and serves jobs as usual.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from asynctasq.clock import Clock
from asynctasq.core.scheduling.scheduler import Scheduler, register
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import CapabilityMissing, Schedules
from asynctasq.schedules import Schedule
from asynctasq.serialization.msgpack import Serializer
from asynctasq.serialization.payload import encode_payload
from asynctasq.tasks.registry import TaskRegistry

__all__ = ["code_schedules", "start_embedded_scheduler"]

log = logging.getLogger("asynctasq.scheduler")


def code_schedules(
    registry: TaskRegistry, queues: Sequence[str], default_queue: str, serializer: Serializer
) -> list[Schedule]:
    """The schedules of the registered tasks (``cron``/``repeat_every`` in their
    config) whose queue is in ``queues``; each named after its task."""
    found = []
    for name in registry:
        config = registry.get(name).task_config
        if "cron" not in config and "repeat_every" not in config:
            continue
        queue = config.get("queue") or default_queue
        if queue not in queues:
            continue  # a worker serving that queue stores it
        found.append(
            Schedule(
                id=name,
                task=name,
                payload=encode_payload({}, None, serializer),
                queue=queue,
                cron=config.get("cron"),
                every=config.get("repeat_every"),
                timezone=config.get("timezone") or "UTC",
                priority=config.get("priority", 0),
                max_attempts=config.get("max_attempts", 1),
                timeout=config.get("timeout"),
            )
        )
    return found


def start_embedded_scheduler(
    driver: Driver, schedules: list[Schedule], clock: Clock, serializer: Serializer
) -> asyncio.Task[None] | None:
    """A task storing ``schedules`` and then firing due slots until cancelled; None
    when the broker cannot store schedules."""
    if not isinstance(driver, Schedules):
        if schedules:
            reason = CapabilityMissing(driver, Schedules, "@task(cron=/repeat_every=)")
            log.warning("%d schedule(s) will not fire: %s", len(schedules), reason)
        return None

    async def run() -> None:
        await register(driver, schedules, clock.time())
        await Scheduler(driver, clock=clock, serializer=serializer).run()

    return asyncio.create_task(run(), name="asynctasq-scheduler")
