"""Task instance -> Job -> driver.

A process has one default dispatcher per event loop, built lazily from the global
settings; a worker installs its own driver as the default so tasks it runs can
dispatch more tasks through the same connection.

``dispatch()`` calls made at the same time from many coroutines share round trips
(coalescing.py): one goes out at once, what arrives meanwhile follows as one batch.
``dispatch(connection=...)`` (your transaction) and ``dispatch_many()`` go alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Iterable
from typing import Any

from asynctasq.config import Config, get_global_config
from asynctasq.core.coalescing import DEFAULT_MAX_BATCH, EnqueueCoalescer
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.core.events import create_event_emitter
from asynctasq.core.events.types import Event
from asynctasq.core.propagation import HEADERS_OPTION, outgoing_headers
from asynctasq.dedup import DEBOUNCE, check_unique
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import (
    CapabilityMissing,
    ConcurrencyKeys,
    Deduplication,
    Dependencies,
    WorkerRegistry,
    require,
)
from asynctasq.expiry import expiry
from asynctasq.jobs import Job, validate_name
from asynctasq.serialization.msgpack import Serializer, serializer_for
from asynctasq.serialization.payload import encode_payload
from asynctasq.tasks.base import BaseTask
from asynctasq.tasks.dispatching import install_dispatcher_source
from asynctasq.tasks.handle import JobHandle

__all__ = ["Dispatcher", "close_dispatcher", "dispatch_many", "get_dispatcher", "set_dispatcher"]


log = logging.getLogger("asynctasq.dispatcher")

_valid_queues: set[str] = set()


def _valid_queue(name: str) -> str:
    validate_name("queue", name)
    _valid_queues.add(name)
    return name


_warned_main: set[str] = set()


def _warn_main_task(name: str) -> None:
    """Once per task: a task defined in the script that runs (``__main__``) has a
    name no worker can resolve (a worker's ``__main__`` is asynctasq itself)."""
    if name in _warned_main:
        return
    _warned_main.add(name)
    log.warning(
        "task %s is defined in __main__ (the script you ran): a worker cannot import it by "
        "that name and will dead-letter its jobs. Move it into a module the worker imports "
        "(--import), or give it an explicit name (name=...) and define it in that module",
        name,
    )


class Dispatcher:
    def __init__(
        self,
        driver: Driver,
        config: Config | None = None,
        *,
        serializer: Serializer | None = None,
        event_emitter: Any = None,
        coalesce: bool = True,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        """``coalesce``: concurrent ``dispatch()`` calls share round trips, at most
        ``max_batch`` jobs each (False: every call is a round trip of its own)."""
        self.driver = driver
        self.config = config or get_global_config()
        self.serializer = serializer or serializer_for(self.config)
        self.event_emitter = event_emitter
        self.coalescer = EnqueueCoalescer(driver.enqueue, max_batch=max_batch) if coalesce else None
        #: queues looked up in the worker registry (once each: one warning, not one a job)
        self._served_checked: set[str] = set()
        self._checks: set[asyncio.Task[None]] = set()

    def build_job(self, task: BaseTask[Any], now: float | None = None) -> Job:
        now = time.time() if now is None else now
        cls, cfg, opts, config = type(task), type(task).task_config, task._options, self.config
        queue = opts.get("queue") or cfg.get("queue") or config.default_queue
        max_attempts = opts.get("max_attempts") or cfg.get("max_attempts")
        timeout = (
            opts["timeout"] if "timeout" in opts else cfg.get("timeout", config.default_timeout)
        )
        if cls.task_name.startswith("__main__."):
            _warn_main_task(cls.task_name)
        if queue not in self._served_checked:
            self._check_served(_valid_queue(queue))
        carried: dict[str, Any] = (
            {"retry_delay": opts["retry_delay"]} if "retry_delay" in opts else {}
        )
        if headers := outgoing_headers(cls.task_name, queue):
            carried[HEADERS_OPTION] = headers
        if "concurrency_key" in opts or "max_concurrency" in opts or _CONCURRENT & cfg.keys():
            self._carry_concurrency(task, carried)
        run_at = task._run_at(now)
        ttl = opts["ttl"] if "ttl" in opts else cfg.get("ttl")
        unique_key, unique_mode, unique_for = self._unique(task)
        if unique_mode == DEBOUNCE:  # the first job waits one window for its duplicates
            if opts.get("depends_on"):
                raise ValueError("unique_mode='debounce' cannot be combined with depends_on")
            assert unique_for is not None
            run_at = max(run_at, now + unique_for)
        return Job(
            task=cls.task_name,
            payload=encode_payload(task._args, carried, self.serializer),
            queue=queue if queue in _valid_queues else _valid_queue(queue),
            priority=opts.get("priority", cfg.get("priority", config.default_priority)),
            max_attempts=max_attempts or config.default_max_retries + 1,
            run_at=run_at,
            created_at=now,
            timeout=timeout,
            unique_key=unique_key,
            depends_on=opts.get("depends_on", ()),
            on_parent_failure=opts.get("on_parent_failure", "fail"),
            expires_at=expiry(run_at, ttl),
            unique_mode=unique_mode,
            unique_for=unique_for,
        )

    def _carry_concurrency(self, task: BaseTask[Any], carried: dict[str, Any]) -> None:
        """The job's concurrency key and limit, into the options it carries (the
        worker's concurrency_keys middleware reads them; docs/flow-control.md)."""
        cls, opts = type(task), task._options
        cfg = cls.task_config
        key: Any = opts.get("concurrency_key") or cfg.get("concurrency_key")
        if callable(key):
            key = key(task if task._args.keys() <= vars(task).keys() else _Arguments(task))
        limit = opts.get("max_concurrency", cfg.get("max_concurrency"))
        carried.update(self.concurrency_of(key, limit, cls.task_name))

    def concurrency_of(self, key: Any, limit: int | None, task_name: str) -> dict[str, Any]:
        """The options that carry a concurrency key (the task's name when only a limit
        is given) and its limit (default 1); CapabilityMissing without slots."""
        if key is None and limit is None:
            return {}
        if key is None:
            key = f"task:{task_name}"
        if not isinstance(key, str) or not key:
            raise ValueError(f"{task_name}: concurrency_key is {key!r}, not some text")
        require(self.driver, ConcurrencyKeys, f"concurrency_key={key!r}")
        # the options core/worker/middleware/concurrency.py reads
        return {"concurrency_key": key, "max_concurrency": 1 if limit is None else limit}

    def _unique(self, task: BaseTask[Any]) -> tuple[str | None, str | None, float | None]:
        """The job's unique key, its mode (None: until finished) and window, from the
        task's options over its config (docs/flow-control.md)."""
        cfg, opts = type(task).task_config, task._options
        key: Any = opts.get("unique_key") or cfg.get("unique_key")
        mode = opts.get("unique_mode", cfg.get("unique_mode"))
        window = opts.get("unique_for", cfg.get("unique_for"))
        if callable(key):  # a function of the task: a @task's arguments are in _args
            key = key(task if task._args.keys() <= vars(task).keys() else _Arguments(task))
        return self.unique_of(key, mode, window, type(task).__qualname__)

    def unique_of(
        self, key: Any, mode: str | None, window: float | None, owner: str
    ) -> tuple[str | None, str | None, float | None]:
        """A key, mode and window checked (the mode against the driver)."""
        if key is None:
            if mode is not None or window is not None:
                raise ValueError(f"{owner}: unique_mode needs a unique_key")
            return None, None, None
        if not isinstance(key, str) or not key:
            raise ValueError(f"{owner}: unique_key is {key!r}, not some text")
        if mode is None and window is None:
            return key, None, None
        mode, window = check_unique(mode, window)
        if mode is not None:
            self._require_dedup(mode)
        return key, mode, window

    def _require_dedup(self, mode: str) -> None:
        driver = require(self.driver, Deduplication, f"unique_mode={mode!r}")
        if mode not in driver.dedup_modes:
            raise CapabilityMissing(driver, Deduplication, f"unique_mode={mode!r}")

    def _check_served(self, queue: str) -> None:
        """Warn, once, when no live worker serves ``queue`` (brokers with a worker
        registry): jobs sent to a queue nobody serves wait forever, silently. Checked
        beside the dispatch, never holding it up."""
        self._served_checked.add(queue)
        if not isinstance(self.driver, WorkerRegistry):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        check = loop.create_task(self._warn_if_unserved(queue), name="asynctasq-served-check")
        self._checks.add(check)
        check.add_done_callback(self._checks.discard)

    async def _warn_if_unserved(self, queue: str) -> None:
        registry = self.driver
        assert isinstance(registry, WorkerRegistry)
        try:
            workers = await registry.list_workers()
        except Exception:  # only a hint: a broker hiccup here is the dispatch's to report
            return
        if not any(queue in worker.queues for worker in workers):
            log.warning(
                "no live worker serves queue %r (checked at its first dispatch from this "
                "process): its jobs wait until one does, e.g. python -m asynctasq worker "
                "--queues %s",
                queue,
                queue,
            )

    async def dispatch(self, task: BaseTask[Any], *, connection: Any = None) -> JobHandle[Any]:
        """Send one job; its id. Concurrent calls share round trips; one inside your
        transaction (``connection``) never does."""
        coalescer = self.coalescer
        # a job with parents goes alone: its UnknownParent must not fail a shared batch
        if connection is not None or coalescer is None or "depends_on" in task._options:
            return (await self.dispatch_many([task], connection=connection))[0]
        job = self.build_job(task)
        task._task_id = job_id = await coalescer.enqueue(job)
        emitter = self.event_emitter
        if emitter is not None and emitter.enabled:
            emitter.emit(Event.for_job("task_enqueued", job))
        return JobHandle(job_id, self.driver)

    async def dispatch_many(
        self, tasks: Iterable[BaseTask[Any]], *, connection: Any = None
    ) -> list[JobHandle[Any]]:
        """Enqueue many tasks in one round trip; returns their job ids in order
        (``JobHandle``: ids that can wait for their results)."""
        now = time.time()
        tasks = list(tasks)
        jobs = [self.build_job(task, now) for task in tasks]
        if any(job.depends_on for job in jobs):
            require(self.driver, Dependencies, "depends_on")
        ids = await self.driver.enqueue(jobs, connection=connection)
        for task, job_id in zip(tasks, ids, strict=True):
            task._task_id = job_id
        if self.event_emitter is not None and self.event_emitter.enabled:
            for job in jobs:
                self.event_emitter.emit(Event.for_job("task_enqueued", job))
        return [JobHandle(job_id, self.driver) for job_id in ids]


#: task config keys that give its jobs a concurrency key
_CONCURRENT = frozenset({"concurrency_key", "max_concurrency"})


class _Arguments:
    """A task's arguments as attributes (a @task keeps them apart), for key functions."""

    def __init__(self, task: BaseTask[Any]) -> None:
        self.__dict__.update(task._args)


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
            emitter = create_event_emitter(config)
            _dispatchers[loop] = created = Dispatcher(driver, config, event_emitter=emitter)
            await _close_with_the_loop(loop, created)
            for stale in [lp for lp in _dispatchers if lp.is_closed()]:
                _dispatchers.pop(stale, None)
                _lock.pop(stale, None)
                _closers.pop(stale, None)
    return _dispatchers[loop]


async def close_dispatcher() -> None:
    """Close the default dispatcher of the running loop, if ``get_dispatcher()`` built
    one: send the events it buffered, then disconnect its driver. The next dispatch
    opens a new one."""
    closer = _closers.pop(asyncio.get_running_loop(), None)
    if closer is not None:
        await closer.aclose()


async def _close(dispatcher: Dispatcher) -> None:
    try:
        if dispatcher.event_emitter is not None:
            await dispatcher.event_emitter.close()  # flushes what the producer emitted
    finally:
        await dispatcher.driver.disconnect()


#: the default dispatchers get_dispatcher() built (a worker's own is not ours to close)
_owned: dict[asyncio.AbstractEventLoop, Dispatcher] = {}
_closers: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}


async def _close_with_the_loop(loop: asyncio.AbstractEventLoop, dispatcher: Dispatcher) -> None:
    """Close ``dispatcher`` when its loop shuts down, while the loop still runs: an
    async generator started on the loop is finalised by ``loop.shutdown_asyncgens()``,
    which ``asyncio.run()`` (and every runner) awaits before closing the loop. So a
    script that never calls ``aclose()`` still sends its events and closes its
    connections, with no "Event loop is closed" at exit."""
    _owned[loop] = dispatcher

    async def close_at_shutdown() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            if _owned.pop(loop, None) is dispatcher:  # not closed yet
                if _dispatchers.get(loop) is dispatcher:
                    _dispatchers.pop(loop, None)
                await _close(dispatcher)

    closer = close_at_shutdown()
    await anext(closer)
    _closers[loop] = closer


def set_dispatcher(dispatcher: Dispatcher | None) -> Dispatcher | None:
    """Make ``dispatcher`` the default of the running loop (None: forget it); the
    default it replaces, for whoever wants to put it back."""
    loop = asyncio.get_running_loop()
    if dispatcher is None:
        return _dispatchers.pop(loop, None)
    previous, _dispatchers[loop] = _dispatchers.get(loop), dispatcher
    return previous


async def dispatch_many(
    tasks: Iterable[BaseTask[Any]], *, connection: Any = None
) -> list[JobHandle[Any]]:
    """Enqueue many tasks in one round trip through the default dispatcher."""
    dispatcher = await get_dispatcher()
    return await dispatcher.dispatch_many(list(tasks), connection=connection)


# BaseTask.dispatch() finds the default dispatcher through this (tasks cannot import us)
install_dispatcher_source(get_dispatcher)
