"""Task instance -> Job -> driver.

A process has one default dispatcher per event loop, built lazily from the global
settings; a worker installs its own driver as the default so tasks it runs can
dispatch more tasks through the same connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from asynctasq.config import Config, get_global_config
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.drivers.base import Driver
from asynctasq.jobs import Job, validate_name
from asynctasq.serialization.msgpack import Serializer, default_serializer
from asynctasq.serialization.payload import encode_payload
from asynctasq.tasks.base import BaseTask

__all__ = ["Dispatcher", "dispatch_many", "get_dispatcher", "set_dispatcher"]


_valid_queues: set[str] = set()


def _valid_queue(name: str) -> str:
    validate_name("queue", name)
    _valid_queues.add(name)
    return name


class Dispatcher:
    def __init__(
        self,
        driver: Driver,
        config: Config | None = None,
        *,
        serializer: Serializer | None = None,
        event_emitter: Any = None,
    ) -> None:
        self.driver = driver
        self.config = config or get_global_config()
        self.serializer = serializer or default_serializer
        self.event_emitter = event_emitter

    def build_job(self, task: BaseTask[Any], now: float | None = None) -> Job:
        now = time.time() if now is None else now
        cls, cfg, opts, config = type(task), type(task).task_config, task._options, self.config
        queue = opts.get("queue") or cfg.get("queue") or config.default_queue
        max_attempts = opts.get("max_attempts") or cfg.get("max_attempts")
        timeout = (
            opts["timeout"] if "timeout" in opts else cfg.get("timeout", config.default_timeout)
        )
        carried = {"retry_delay": opts["retry_delay"]} if "retry_delay" in opts else {}
        return Job(
            task=cls.task_name,
            payload=encode_payload(task._args, carried, self.serializer),
            queue=queue if queue in _valid_queues else _valid_queue(queue),
            priority=opts.get("priority", cfg.get("priority", config.default_priority)),
            max_attempts=max_attempts or config.default_max_retries + 1,
            run_at=task._run_at(now),
            created_at=now,
            timeout=timeout,
            unique_key=opts.get("unique_key"),
        )

    async def dispatch(self, task: BaseTask[Any], *, connection: Any = None) -> str:
        return (await self.dispatch_many([task], connection=connection))[0]

    async def dispatch_many(
        self, tasks: Iterable[BaseTask[Any]], *, connection: Any = None
    ) -> list[str]:
        """Enqueue many tasks in one round trip; returns their job ids in order."""
        now = time.time()
        tasks = list(tasks)
        jobs = [self.build_job(task, now) for task in tasks]
        ids = await self.driver.enqueue(jobs, connection=connection)
        for task, job_id in zip(tasks, ids, strict=True):
            task._task_id = job_id
        if self.event_emitter is not None and self.event_emitter.enabled:
            from asynctasq.core.events.types import Event

            for job in jobs:
                self.event_emitter.emit(Event.for_job("task_enqueued", job))
        return ids


_dispatchers: dict[asyncio.AbstractEventLoop, Dispatcher] = {}
_lock: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


async def get_dispatcher() -> Dispatcher:
    """The default dispatcher of the running loop, connected on first use."""
    loop = asyncio.get_running_loop()
    found = _dispatchers.get(loop)
    if found is not None:
        return found
    lock = _lock.setdefault(loop, asyncio.Lock())
    async with lock:
        if loop not in _dispatchers:
            config = get_global_config()
            driver = DriverFactory.create_from_config(config)
            await driver.connect()
            from asynctasq.core.events import create_event_emitter

            emitter = create_event_emitter(config)
            _dispatchers[loop] = Dispatcher(driver, config, event_emitter=emitter)
            for stale in [lp for lp in _dispatchers if lp.is_closed()]:
                _dispatchers.pop(stale, None)
                _lock.pop(stale, None)
    return _dispatchers[loop]


def set_dispatcher(dispatcher: Dispatcher | None) -> None:
    """Make ``dispatcher`` the default of the running loop (None: forget it)."""
    loop = asyncio.get_running_loop()
    if dispatcher is None:
        _dispatchers.pop(loop, None)
    else:
        _dispatchers[loop] = dispatcher


async def dispatch_many(tasks: Iterable[BaseTask[Any]], *, connection: Any = None) -> list[str]:
    """Enqueue many tasks in one round trip through the default dispatcher."""
    dispatcher = await get_dispatcher()
    return await dispatcher.dispatch_many(list(tasks), connection=connection)
