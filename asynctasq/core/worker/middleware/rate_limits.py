"""Rate limits across every worker: a job of a limited task starts only with a token
from the broker's bucket for its task (capability ``RateLimits``).

A job that gets no token is not run: it goes back to its queue due when the next
token is free, its attempt not counted (``Released(run_at=...)``), so the worker
neither spins on it nor holds it while it waits. Jobs of one task that ask in the
same turn of the event loop (a prefetched batch starting) share one round trip to
the broker: ``take_tokens`` for all of them. The limiter is in the chain only
when a task of a queue the worker serves has a ``rate_limit``: without one it
costs nothing. (A limit is enforced by the workers of the task's own queue.)
"""

from __future__ import annotations

import asyncio
import logging

from asynctasq.core.worker.middleware.base import Handler, JobContext, Middleware, WorkerRuntime
from asynctasq.drivers.capabilities import RateLimits, require
from asynctasq.jobs import Outcome, Released

__all__ = ["RateLimiter", "task_rate_limits"]

log = logging.getLogger("asynctasq.worker")

#: the default of ``rate_interval`` (seconds), as the Queue API documents it
DEFAULT_RATE_INTERVAL = 1.0


def task_rate_limits(runtime: WorkerRuntime) -> dict[str, tuple[int, float]]:
    """``task name -> (limit, interval)`` of the tasks that set a rate limit and whose
    queue (``queue=`` of their config) this worker serves."""
    limits: dict[str, tuple[int, float]] = {}
    for name in runtime.registry:
        config = runtime.registry.get(name).task_config
        limit = config.get("rate_limit")
        queue = config.get("queue", runtime.config.default_queue)
        if limit is not None and queue in runtime.queues:
            limits[name] = (limit, config.get("rate_interval", DEFAULT_RATE_INTERVAL))
    return limits


class _Asks:
    """The jobs of one key waiting for tokens in this turn of the event loop."""

    __slots__ = ("futures",)

    def __init__(self) -> None:
        self.futures: list[asyncio.Future[float]] = []


class RateLimiter(Middleware):
    name = "rate_limits"

    def __init__(self) -> None:
        super().__init__()
        self.limits: dict[str, tuple[int, float]] = {}
        self._buckets: RateLimits | None = None
        self._asking: dict[str, _Asks] = {}  # key -> the asks of this turn
        self._flushes: set[asyncio.Task[None]] = set()

    async def start(self, runtime: WorkerRuntime) -> None:
        self.limits = task_rate_limits(runtime)
        self.enabled = bool(self.limits)
        if self.enabled:  # refuse to start rather than run limited tasks unlimited
            limited = ", ".join(sorted(self.limits))
            self._buckets = require(runtime.driver, RateLimits, f"rate_limit= (on {limited})")

    async def stop(self) -> None:
        for flush in list(self._flushes):
            flush.cancel()

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        job = ctx.job
        if job.task not in self.limits:
            return await call_next(ctx)
        wait = await self._ask(job.task, ctx)
        if wait <= 0.0:
            return await call_next(ctx)
        run_at = ctx.clock.time() + wait
        log.debug("job %s (%s) rate limited: back in %.3fs", job.id, job.task, wait)
        return Released(job.id, ctx.worker_id, job.attempts, queue=job.queue, run_at=run_at)

    def _ask(self, task: str, ctx: JobContext) -> asyncio.Future[float]:
        """A future of the seconds to wait (0.0: a token was taken) for one job."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        asks = self._asking.get(task)
        if asks is None:
            asks = self._asking[task] = _Asks()
            flush = asyncio.create_task(self._flush(task, asks, ctx))
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        asks.futures.append(future)
        return future

    async def _flush(self, task: str, asks: _Asks, ctx: JobContext) -> None:
        """After the others of this turn asked too: one ``take_tokens`` for them all."""
        await asyncio.sleep(0)
        del self._asking[task]
        futures = asks.futures
        try:
            assert self._buckets is not None  # enabled only with buckets
            limit, interval = self.limits[task]
            taken, wait = await self._buckets.take_tokens(
                f"task:{task}", len(futures), limit, interval, ctx.clock.time()
            )
        except Exception as exc:  # each job's attempt fails with it (a middleware error)
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # the worker is stopping: its jobs are released
            for future in futures:
                future.cancel()
            raise
        for i, future in enumerate(futures):
            if not future.done():
                future.set_result(0.0 if i < taken else wait)
