"""``Queue``: one queue's jobs and its worker, as AsyncMQ users know it.

from asynctasq.queues import Queue

queue = Queue("emails", backend="redis://localhost:6379/0", concurrency=5)
job_id = await queue.add("myapp.tasks.send_email", kwargs={"to": "a@b.c"}, delay=5)
print(await queue.queue_stats())        # {"waiting": 0, "delayed": 1, ...}
await queue.run()                       # a worker for this queue, until cancelled

State names as AsyncMQ writes them work here: ``waiting`` is our ``pending``,
``delayed`` our ``scheduled`` (``asynctasq.jobs.JobState`` takes both). Priority:
lower runs first, as everywhere in asynctasq. The mapping and what differs:
docs/asyncmq-users.md.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from asynctasq.checks import check_attempts, check_priority, check_seconds
from asynctasq.config import Config, get_global_config
from asynctasq.core.backends import Backend, connect_backend
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.propagation import HEADERS_OPTION, outgoing_headers
from asynctasq.core.scheduling import register
from asynctasq.core.worker import Worker
from asynctasq.dedup import DEBOUNCE
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import (
    Dependencies,
    Inspection,
    Management,
    Pausing,
    RunningCancellation,
    require,
)
from asynctasq.expiry import expiry
from asynctasq.jobs import Job, JobState, parent_ids, parent_policy, validate_name
from asynctasq.operations.rate_limits import queue_rate_limits, set_queue_rate_limit
from asynctasq.operations.schedules import (
    list_schedules,
    pause_schedule,
    remove_schedule,
    resume_schedule,
)
from asynctasq.ratelimit import DEFAULT_RATE_INTERVAL, RateLimit
from asynctasq.schedules import Missed, Schedule
from asynctasq.serialization.payload import encode_payload
from asynctasq.tasks.base import BaseTask
from asynctasq.tasks.registry import registry

__all__ = ["ASYNCMQ_STATE_NAMES", "Queue"]

#: the keys of ``queue_stats()``: AsyncMQ's state names -> ours
ASYNCMQ_STATE_NAMES: dict[str, JobState] = {
    "waiting": JobState.PENDING,
    "delayed": JobState.SCHEDULED,
    "active": JobState.ACTIVE,
    "completed": JobState.COMPLETED,
    "failed": JobState.FAILED,
    "cancelled": JobState.CANCELLED,
}
#: what one entry of ``add_bulk`` may hold (the keyword arguments of ``add``)
_JOB_KEYS = frozenset(
    {
        "task_id",
        "args",
        "kwargs",
        "retries",
        "delay",
        "priority",
        "timeout",
        "ttl",
        "depends_on",
        "on_parent_failure",
        "unique_key",
        "unique_mode",
        "unique_for",
        "concurrency_key",
        "max_concurrency",
    }
)
_PAGE = 500


def job_state(state: str | JobState) -> JobState:
    """Our state for a name of ours or of AsyncMQ's; ValueError listing both."""
    try:
        return JobState(state)
    except ValueError:
        names = sorted({*JobState, *ASYNCMQ_STATE_NAMES})
        raise ValueError(
            f"unknown job state {state!r}: expected one of {', '.join(names)}"
        ) from None


class Queue:
    def __init__(
        self,
        name: str,
        backend: Backend = None,
        concurrency: int = 3,
        rate_limit: int | None = None,
        rate_interval: float = DEFAULT_RATE_INTERVAL,
        scan_interval: float | None = None,
        *,
        rate_burst: int | None = None,
        config: Config | None = None,
    ) -> None:
        """``backend``: a driver or a broker URL (default: the configured broker);
        ``concurrency``: jobs ``run()`` runs at once; ``rate_limit``: at most that
        many job starts per ``rate_interval`` seconds across every worker of the
        queue (0 blocks it), stored in the broker on this object's first use (None:
        the stored limit is left as it is; ``set_rate_limit(None)`` removes it);
        ``scan_interval``: most seconds ``run()``'s worker waits before looking for
        due delayed jobs again; ``config``: the settings of ``run()``'s worker and of
        new jobs' defaults (default: the global ones)."""
        self.name = validate_name("queue", name)
        self.backend = backend
        self.concurrency = check_attempts("concurrency", concurrency)
        self.rate_limit = (
            None if rate_limit is None else RateLimit(rate_limit, rate_interval, rate_burst)
        )
        self.scan_interval = (
            None
            if scan_interval is None
            else check_seconds("scan_interval", scan_interval, positive=True)
        )
        self.config = config
        self._limit_stored = rate_limit is None  # nothing to store

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"

    async def driver(self) -> Driver:
        """The connected driver this queue's jobs live on, on the running event loop
        (looked up each time, not kept: ``start()`` runs a loop of its own)."""
        driver = await connect_backend(self.backend)
        if not self._limit_stored:
            limit = self.rate_limit
            assert limit is not None
            await set_queue_rate_limit(driver, self.name, limit.limit, limit.interval,
                                       burst=limit.burst)  # fmt: skip
            self._limit_stored = True
        return driver

    # -- its rate limit (docs/flow-control.md) -----------------------------------------

    async def set_rate_limit(
        self,
        limit: int | None,
        interval: float = DEFAULT_RATE_INTERVAL,
        *,
        burst: int | None = None,
    ) -> None:
        """Store this queue's limit in the broker: ``limit`` starts per ``interval``
        seconds across every worker (0 blocks the queue), a bucket of ``burst``
        tokens (default: the limit); None removes it. Workers pick it up within
        seconds, however they were started."""
        self.rate_limit = None if limit is None else RateLimit(limit, interval, burst)
        self._limit_stored = True
        await set_queue_rate_limit(await self.driver(), self.name, limit, interval, burst=burst)

    async def get_rate_limit(self) -> RateLimit | None:
        """The limit stored for this queue (None: none)."""
        return (await queue_rate_limits(await self.driver())).get(self.name)

    # -- adding jobs -------------------------------------------------------------------

    async def add(
        self,
        task_id: str,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        *,
        retries: int | None = None,
        delay: float | None = None,
        priority: int | None = None,
        timeout: float | None = None,
        ttl: float | None = None,
        depends_on: Sequence[str] | None = None,
        on_parent_failure: str | None = None,
        unique_key: str | None = None,
        unique_mode: str | None = None,
        unique_for: float | None = None,
        concurrency_key: str | None = None,
        max_concurrency: int | None = None,
    ) -> str:
        """Enqueue a job of task ``task_id`` on this queue; its id. ``retries``:
        after the first attempt; ``delay``: seconds from now; ``priority``: lower
        runs first; ``timeout``: seconds the job may run; ``ttl``: seconds it may
        wait once due, after which it expires unrun (docs/flow-control.md);
        ``depends_on``: ids of jobs that must complete first, ``on_parent_failure``
        what it does when one fails (docs/workflows.md); ``unique_key``,
        ``unique_mode``, ``unique_for``: deduplication (docs/flow-control.md): a
        refused duplicate returns the id of the job holding the key;
        ``concurrency_key``, ``max_concurrency``: at most that many jobs of the key
        run at once across every worker (docs/flow-control.md)."""
        ids = await self.add_bulk(
            [
                {
                    "task_id": task_id,
                    "args": args,
                    "kwargs": kwargs,
                    "retries": retries,
                    "delay": delay,
                    "priority": priority,
                    "timeout": timeout,
                    "depends_on": depends_on,
                    "on_parent_failure": on_parent_failure,
                    "ttl": ttl,
                    "unique_key": unique_key,
                    "unique_mode": unique_mode,
                    "unique_for": unique_for,
                    "concurrency_key": concurrency_key,
                    "max_concurrency": max_concurrency,
                }
            ]
        )
        return ids[0]

    async def add_bulk(self, jobs: Iterable[Mapping[str, Any]]) -> list[str]:
        """Enqueue many jobs (dicts with ``add``'s arguments as keys) in one round
        trip; their ids in order."""
        driver = await self.driver()
        dispatcher = Dispatcher(driver, self.config, coalesce=False)
        now = time.time()
        built = [with_parents(self._job(dispatcher, spec, now), spec) for spec in jobs]
        if any(job.depends_on for job in built):
            require(driver, Dependencies, "depends_on")
        return await driver.enqueue(built) if built else []

    def _job(self, dispatcher: Dispatcher, spec: Mapping[str, Any], now: float) -> Job:
        unknown = set(spec) - _JOB_KEYS
        if unknown:
            raise TypeError(
                f"Queue.add: unknown or not yet supported argument(s) {sorted(unknown)} "
                f"(supported: {', '.join(sorted(_JOB_KEYS))}; see docs/asyncmq-users.md)"
            )
        task_id = validate_name("task", spec["task_id"])
        args, kwargs = list(spec.get("args") or ()), dict(spec.get("kwargs") or {})
        retries, delay = spec.get("retries"), spec.get("delay")
        priority, timeout = spec.get("priority"), spec.get("timeout")
        ttl = None if spec.get("ttl") is None else check_seconds("ttl", spec["ttl"], positive=True)
        if task_id in registry:  # known here: its arguments are checked (and named) now
            task: BaseTask[Any] = registry.get(task_id)(*args, **kwargs)
            task.on_queue(self.name)
            task.with_options(
                priority=priority,
                timeout=timeout,
                max_attempts=None if retries is None else _attempts(retries),
                ttl=ttl,
                unique_key=spec.get("unique_key"),
                unique_mode=spec.get("unique_mode"),
                unique_for=spec.get("unique_for"),
                concurrency_key=spec.get("concurrency_key"),
                max_concurrency=spec.get("max_concurrency"),
            )
            if delay is not None:
                BaseTask.delay(task, delay)
            return dispatcher.build_job(task, now)
        if args:
            raise TypeError(
                f"Queue.add({task_id!r}, args=...): positional arguments need the task "
                "registered in this process to name them; import the module defining it, "
                "or pass kwargs="
            )
        config = dispatcher.config
        run_at = now + (0.0 if delay is None else check_seconds("delay", delay))
        unique_key, unique_mode, unique_for = dispatcher.unique_of(
            spec.get("unique_key"), spec.get("unique_mode"), spec.get("unique_for"), task_id
        )
        if unique_mode == DEBOUNCE and unique_for is not None:
            run_at = max(run_at, now + unique_for)
        carried = _carried(task_id, self.name) or {}
        limit = spec.get("max_concurrency")
        limit = None if limit is None else check_attempts("max_concurrency", limit)
        carried.update(dispatcher.concurrency_of(spec.get("concurrency_key"), limit, task_id))
        return Job(
            task=task_id,
            payload=encode_payload(kwargs, carried or None, dispatcher.serializer),
            queue=self.name,
            priority=config.default_priority
            if priority is None
            else check_priority("priority", priority),
            max_attempts=_attempts(config.default_max_retries if retries is None else retries),
            run_at=run_at,
            created_at=now,
            timeout=config.default_timeout
            if timeout is None
            else check_seconds("timeout", timeout, positive=True),
            expires_at=expiry(run_at, ttl),
            unique_key=unique_key,
            unique_mode=unique_mode,
            unique_for=unique_for,
        )

    # -- repeatable jobs (docs/scheduling.md) ----------------------------------------------

    async def add_repeatable(
        self,
        task_id: str,
        every: float | str | None = None,
        cron: str | None = None,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        timezone: str = "UTC",
        missed: Missed | str = Missed.SKIP,
        retries: int | None = None,
        priority: int | None = None,
        timeout: float | None = None,
    ) -> str:
        """Store a schedule firing ``task_id`` on this queue ``every`` seconds (or,
        as AsyncMQ allows, ``every`` a cron string) or on ``cron``, in ``timezone``;
        its id (default ``<queue>:<task_id>``). Running workers fire it, each slot
        once; ``missed``: what slots missed during downtime do (skip, run_once,
        run_all). Storing it again unchanged keeps its next slot."""
        if isinstance(every, str):
            every, cron = None, every
        driver = await self.driver()
        template = self._job(
            Dispatcher(driver, self.config, coalesce=False),
            {"task_id": task_id, "args": args, "kwargs": kwargs, "retries": retries,
             "priority": priority, "timeout": timeout},
            time.time(),
        )  # fmt: skip
        schedule = Schedule(
            id=id or f"{self.name}:{task_id}",
            task=template.task,
            payload=template.payload,
            queue=self.name,
            cron=cron,
            every=every,
            timezone=timezone,
            missed=Missed(missed),
            priority=template.priority,
            max_attempts=template.max_attempts,
            timeout=template.timeout,
        )
        await register(driver, [schedule], time.time())
        return schedule.id

    async def list_repeatables(self) -> list[Schedule]:
        """This queue's schedules, with their next fire time (``next_at``)."""
        return [s for s in await list_schedules(await self.driver()) if s.queue == self.name]

    async def pause_repeatable(self, schedule_id: str) -> None:
        await pause_schedule(await self.driver(), schedule_id)

    async def resume_repeatable(self, schedule_id: str) -> None:
        await resume_schedule(await self.driver(), schedule_id)

    async def remove_repeatable(self, schedule_id: str) -> None:
        await remove_schedule(await self.driver(), schedule_id)

    # -- controlling the queue ---------------------------------------------------------

    async def pause(self) -> None:
        """Workers stop claiming this queue's jobs; jobs in flight finish."""
        await require(await self.driver(), Pausing, "Queue.pause()").pause(self.name)

    async def resume(self) -> None:
        await require(await self.driver(), Pausing, "Queue.resume()").resume(self.name)

    async def clean(self, state: str | JobState, older_than: float | None = None) -> int:
        """Delete this queue's jobs in ``state`` finished before ``older_than`` (a
        Unix timestamp; None: all of them); how many."""
        management = require(await self.driver(), Management, "Queue.clean()")
        return await management.purge(self.name, job_state(state), older_than=older_than)

    async def cancel_job(self, job_id: str) -> bool:
        """Cancel a job: one waiting, or one running where the broker can (capability
        RunningCancellation: its worker stops it, docs/flow-control.md); False when it
        finished (or runs on a broker that cannot reach it)."""
        driver = await self.driver()
        if await require(driver, Management, "Queue.cancel_job()").cancel(job_id):
            return True
        return isinstance(driver, RunningCancellation) and await driver.cancel_running(job_id)

    async def remove_delayed(self, job_id: str) -> bool:
        """Take a delayed job of this queue off the schedule (it is cancelled)."""
        job = await self._get(job_id, "Queue.remove_delayed()")
        if job is None or job.queue != self.name or job.state is not JobState.SCHEDULED:
            return False
        return await self.cancel_job(job_id)

    # -- inspecting it -----------------------------------------------------------------

    async def queue_stats(self) -> dict[str, int]:
        """Jobs per state, under AsyncMQ's names (waiting, delayed, active,
        completed, failed, cancelled)."""
        inspection = require(await self.driver(), Inspection, "Queue.queue_stats()")
        stats = await inspection.stats(self.name)
        return {
            "waiting": stats.depth,
            "delayed": stats.scheduled,
            "active": stats.processing,
            "completed": stats.completed,
            "failed": stats.failed,
            "cancelled": stats.cancelled,
        }

    async def list_jobs(self, state: str | JobState) -> list[Job]:
        """This queue's jobs in ``state`` (waiting ones in the order they will run,
        finished ones newest first)."""
        inspection = require(await self.driver(), Inspection, "Queue.list_jobs()")
        wanted, found = job_state(state), list[Job]()
        while True:
            page = await inspection.list_jobs(self.name, wanted, limit=_PAGE, offset=len(found))
            found.extend(page)
            if len(page) < _PAGE:
                return found

    async def list_delayed(self) -> list[Job]:
        return await self.list_jobs(JobState.SCHEDULED)

    async def is_job_cancelled(self, job_id: str) -> bool:
        """Whether the broker holds the job as cancelled."""
        driver = await self.driver()
        if isinstance(driver, RunningCancellation):
            return await driver.is_job_cancelled(job_id)
        job = await self._get(job_id, "Queue.is_job_cancelled()")
        return job is not None and job.state is JobState.CANCELLED

    async def _get(self, job_id: str, feature: str) -> Job | None:
        return await require(await self.driver(), Inspection, feature).get(job_id)

    # -- running it --------------------------------------------------------------------

    async def run(self, *, handle_signals: bool = False) -> None:
        """A worker for this queue on the running event loop, until cancelled (or
        stopped by a signal with ``handle_signals``). Cancelled, it stops as a worker
        does on SIGTERM: jobs in flight finish within the shutdown timeout, the rest
        go back to the queue; then the cancellation goes on up."""
        worker = Worker(
            await self.driver(),
            [self.name],
            concurrency=self.concurrency,
            config=self.config or get_global_config(),
            handle_signals=handle_signals,
            reserve_wait=self.scan_interval,
        )
        serving = asyncio.ensure_future(worker.start())
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            worker.stop()
            await serving
            raise

    def start(self) -> None:
        """``run()`` in a new event loop, blocking until SIGINT or SIGTERM."""
        asyncio.run(self.run(handle_signals=True))


def _carried(task_id: str, queue: str) -> dict[str, Any] | None:
    """The options a job of a task unknown here carries: the carriers' headers."""
    headers = outgoing_headers(task_id, queue)
    return {HEADERS_OPTION: headers} if headers else None


def _attempts(retries: Any) -> int:
    """Attempts in all for ``retries`` after the first."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries={retries!r} is not valid: expected a count >= 0")
    return check_attempts("retries + 1", retries + 1)


def with_parents(job: Job, spec: Mapping[str, Any]) -> Job:
    """``job`` with the spec's ``depends_on`` and ``on_parent_failure``, checked."""
    if spec.get("depends_on"):
        job.depends_on = parent_ids(spec["depends_on"])
    if spec.get("on_parent_failure") is not None:
        job.on_parent_failure = parent_policy(spec["on_parent_failure"])
    return job
