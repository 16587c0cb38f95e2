"""Rate limits across every worker: a job starts only with a token from the broker's
bucket (capability ``RateLimits``) for each limit it is under:

- its queue's limit, stored in the broker (``Queue(rate_limit=)``, ``asynctasq queue
  rate-limit``, ``operations.set_queue_rate_limit``): read when the worker starts and
  again every ``REFRESH`` seconds, so every worker honours it however it was started;
- its task's ``rate_limit`` (task config), per task, or per key when the task sets
  ``rate_limit_key`` (a callable given the task, or a method): each key its own bucket.

A job that gets no token is not run: it goes back to its queue due when the next
token is free (``Released(run_at=...)``, the attempt not counted; the jobs of one
batch spread one token apart), so the worker neither spins on it nor holds it. A
queue with no token is not claimed from until its next token (``open_queues``, the
worker's claim gate); a blocked queue (``rate_limit=0``) not at all.

Round trips: the jobs of one key that ask in the same turn of the event loop share
one ``take_tokens``; and while a bucket is more than half full a take asks for a few
spare tokens, which the worker spends on its next starts for a moment (``HOLD``),
and asks for more in the background when they run low, so a limit far above the
rate costs a round trip per few hundred starts, and no start waits for one.
Spares are taken only from the upper half of a bucket and kept at most a tenth
of its interval (HOLD), so when the limit bites nobody hoards them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from asynctasq.core.worker.middleware.base import Handler, JobContext, Middleware, WorkerRuntime
from asynctasq.drivers.capabilities import RateLimits, require
from asynctasq.jobs import Job, Outcome, Released
from asynctasq.ratelimit import DEFAULT_RATE_INTERVAL, RateLimit
from asynctasq.serialization.payload import decode_payload

__all__ = ["DEFAULT_RATE_INTERVAL", "HOLD", "REFRESH", "SPARE", "RateLimiter", "task_rate_limits"]

log = logging.getLogger("asynctasq.worker")

#: seconds between two reads of the queues' stored limits
REFRESH = 2.0
#: spare tokens a take asks for at most, and at first (granted from a bucket's upper
#: half only; the size adapts to what the worker spends in HOLD)
SPARE = 4096
SPARE_START = 256
#: most seconds spare tokens are kept (and at most a tenth of the interval)
HOLD = 0.25

#: a task's key function: the task instance -> its key (None: no key, no limit)
KeyFunction = Callable[[Any], Any]


def task_rate_limits(runtime: WorkerRuntime) -> dict[str, tuple[RateLimit, KeyFunction | None]]:
    """``task name -> (limit, key function)`` of the tasks that set a rate limit and
    whose queue (``queue=`` of their config) this worker serves."""
    limits: dict[str, tuple[RateLimit, KeyFunction | None]] = {}
    for name in runtime.registry:
        cls = runtime.registry.get(name)
        config = cls.task_config
        limit = config.get("rate_limit")
        queue = config.get("queue", runtime.config.default_queue)
        if limit is not None and queue in runtime.queues:
            interval = config.get("rate_interval", DEFAULT_RATE_INTERVAL)
            key: KeyFunction | None = config.get("rate_limit_key")
            method = getattr(cls, "rate_limit_key", None)
            if key is None and callable(method):
                key = method  # a method: called with the task as self
            limits[name] = (RateLimit(limit, interval, config.get("rate_burst")), key)
    return limits


class _Asks:
    """The jobs of one bucket waiting for tokens in this turn of the event loop."""

    __slots__ = ("futures",)

    def __init__(self) -> None:
        self.futures: list[asyncio.Future[float]] = []


class RateLimiter(Middleware):
    name = "rate_limits"

    def __init__(self, refresh: float | None = None) -> None:
        super().__init__()
        self.refresh = REFRESH if refresh is None else refresh
        self.task_limits: dict[str, tuple[RateLimit, KeyFunction | None]] = {}
        #: the stored limits of the queues this worker serves, and their bucket keys
        self.queue_limits: dict[str, RateLimit] = {}
        self._queue_keys: dict[str, str] = {}
        self._now: Callable[[], float] = time.time
        self._queues: tuple[str, ...] = ()
        self._buckets: RateLimits | None = None
        self._runtime: WorkerRuntime | None = None
        #: bucket key -> [spare tokens in hand, clock time they lapse]
        self._held: dict[str, list[float]] = {}
        #: bucket key -> spares asked for last; keys whose refill is under way
        self._sizes: dict[str, int] = {}
        self._refilling: set[str] = set()
        #: queue -> clock time before which it has no token (the claim gate)
        self._closed: dict[str, float] = {}
        self._asking: dict[str, _Asks] = {}  # bucket key -> the asks of this turn
        self._flushes: set[asyncio.Task[None]] = set()
        self._refresher: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, runtime: WorkerRuntime) -> None:
        self._runtime = runtime
        self._now = runtime.clock.time
        self._queues = runtime.queues
        self.task_limits = task_rate_limits(runtime)
        driver = runtime.driver
        if self.task_limits:  # refuse to start rather than run limited tasks unlimited
            limited = ", ".join(sorted(self.task_limits))
            self._buckets = require(driver, RateLimits, f"rate_limit= (on {limited})")
        elif isinstance(driver, RateLimits):
            self._buckets = driver
        # on a broker with buckets a queue limit may be stored at any time: in the chain
        self.enabled = self._buckets is not None
        if self._buckets is not None:
            self._apply(await self._buckets.queue_rate_limits())
            self._refresher = asyncio.create_task(self._refresh(), name="asynctasq-rate-limits")

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refresher
        for flush in list(self._flushes):
            flush.cancel()

    async def _refresh(self) -> None:
        assert self._buckets is not None
        while True:
            await asyncio.sleep(self.refresh)
            try:
                self._apply(await self._buckets.queue_rate_limits())
            except Exception as exc:  # keep the limits known; try again next time
                log.warning("cannot read the queues' rate limits (%s: %s)", type(exc).__name__, exc)

    def _apply(self, stored: dict[str, RateLimit]) -> None:
        limits = {q: stored[q] for q in self._queues if q in stored}
        if limits == self.queue_limits:
            return
        for queue in set(limits) | set(self.queue_limits):
            if limits.get(queue) != self.queue_limits.get(queue):
                self._closed.pop(queue, None)
                self._held.pop(f"queue:{queue}", None)
                log.info("queue %s: rate limit %s", queue, limits.get(queue, "removed"))
        for queue, limit in limits.items():
            if limit.limit == 0:
                self._closed[queue] = math.inf  # blocked: not claimed from at all
        self.queue_limits = limits
        self._queue_keys = {queue: f"queue:{queue}" for queue in limits}

    # -- the claim gate ----------------------------------------------------------------

    def open_queues(self, queues: Sequence[str]) -> tuple[list[str], float]:
        """The queues a claim may take from now, and (when none) the seconds until
        the first of them gets a token (``inf``: all blocked)."""
        closed = self._closed
        if not closed:
            return list(queues), 0.0
        assert self._runtime is not None
        now = self._runtime.clock.time()
        found = [q for q in queues if closed.get(q, 0.0) <= now]
        if found:
            return found, 0.0
        return found, min(closed.get(q, 0.0) for q in queues) - now

    # -- per job -----------------------------------------------------------------------

    def bind(self, call_next: Handler) -> Handler:
        """This middleware around ``call_next``. A job under no limit, or under one
        whose spare token is in hand, goes straight on: no coroutine of its own, no
        round trip."""
        call = self.__call__
        task_limits = self.task_limits
        spend = self._spend

        def handler(ctx: JobContext) -> Any:
            job = ctx.job
            on_queue = self._queue_keys.get(job.queue)
            found = task_limits.get(job.task)
            if on_queue is None:
                if found is None:
                    return call_next(ctx)
                if found[1] is None and spend(f"task:{job.task}", found[0]):
                    return call_next(ctx)
            elif found is None and spend(on_queue, self.queue_limits[job.queue]):
                return call_next(ctx)
            return call(ctx, call_next)

        return handler

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        job = ctx.job
        limit = self.queue_limits.get(job.queue)
        if limit is not None:
            asked = self._token(f"queue:{job.queue}", limit, ctx)
            wait = asked if isinstance(asked, float) else await asked
            if wait > 0.0:
                now = ctx.clock.time()
                self._closed[job.queue] = max(self._closed.get(job.queue, 0.0), now + wait)
                return self._later(job, ctx, wait, "queue")
        found = self.task_limits.get(job.task)
        if found is not None:
            task_limit, key_function = found
            key = f"task:{job.task}"
            if key_function is not None:
                value = self._key(job, ctx, key_function)
                if value is None:
                    return await call_next(ctx)
                key = f"task:{job.task}:{value}"
            asked = self._token(key, task_limit, ctx)
            wait = asked if isinstance(asked, float) else await asked
            if wait > 0.0:
                return self._later(job, ctx, wait, key)
        return await call_next(ctx)

    def _later(self, job: Job, ctx: JobContext, wait: float, what: str) -> Released:
        log.debug("job %s (%s) rate limited (%s): back in %.3fs", job.id, job.task, what, wait)
        run_at = ctx.clock.time() + wait
        return Released(job.id, ctx.worker_id, job.attempts, queue=job.queue, run_at=run_at)

    def _key(self, job: Job, ctx: JobContext, key_function: KeyFunction) -> str | None:
        """The job's rate limit key (None: none), from its task rebuilt from the
        payload; a payload that cannot be rebuilt goes on to fail where it runs."""
        runtime = ctx.runtime
        try:
            args, _ = decode_payload(job.payload, runtime.serializer)
            task = runtime.registry._tasks[job.task](**args)
            task._task_id, task._attempts, task._job = job.id, job.attempts, job
            value = key_function(task)
        except Exception as exc:
            log.warning("job %s (%s): no rate limit key (%s: %s)", job.id, job.task,
                        type(exc).__name__, exc)  # fmt: skip
            return None
        return None if value is None else str(value)

    def _token(self, key: str, limit: RateLimit, ctx: JobContext) -> float | asyncio.Future[float]:
        """An awaitable of the seconds to wait (0.0: a token was taken) for one job:
        a spare token in hand, else a take shared with this turn's other asks."""
        if self._spend(key, limit):
            return 0.0
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        asks = self._asking.get(key)
        if asks is None:
            asks = self._asking[key] = _Asks()
            flush = asyncio.create_task(self._flush(key, limit, asks, ctx))
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        asks.futures.append(future)
        return future

    async def _flush(self, key: str, limit: RateLimit, asks: _Asks, ctx: JobContext) -> None:
        """After the others of this turn asked too: one ``take_tokens`` for them all."""
        await asyncio.sleep(0)
        del self._asking[key]
        futures = asks.futures
        now = ctx.clock.time()
        try:
            assert self._buckets is not None  # enabled only with buckets
            wanted = max(self._spare_size(key, now), 4 * len(futures))  # a batch: more
            spare = min(wanted, SPARE) if limit.limit > 0 else 0
            taken, wait = await self._buckets.take_tokens(
                key, len(futures), limit.limit, limit.interval, now,
                burst=limit.burst, spare=spare,
            )  # fmt: skip
        except Exception as exc:  # each job's attempt fails with it (a middleware error)
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # the worker is stopping: its jobs are released
            for future in futures:
                future.cancel()
            raise
        if taken > len(futures):  # spares: spent on this worker's next starts
            self._held[key] = [taken - len(futures), now + _hold(limit)]
            self._sizes[key] = spare
        gap = limit.interval / limit.limit if limit.limit else 0.0
        for i, future in enumerate(futures):
            if not future.done():  # those without a token: one token apart
                future.set_result(0.0 if i < taken else wait + (i - taken) * gap)

    # -- spare tokens --------------------------------------------------------------------

    def _spend(self, key: str, limit: RateLimit) -> bool:
        """Spend a spare token of ``key`` if one is in hand and still good; running
        low or half way to their lapse, more are asked for in the background (the
        starts that follow need not wait for a round trip)."""
        spares = self._held.get(key)
        if spares is None or spares[0] < 1:
            return False
        now = self._now()
        if now >= spares[1]:
            return False
        spares[0] -= 1
        low = spares[0] < self._sizes.get(key, SPARE_START) / 2
        if (low or now > spares[1] - _hold(limit) / 2) and key not in self._refilling:
            self._refilling.add(key)
            refill = asyncio.create_task(self._refill(key, limit))
            self._flushes.add(refill)
            refill.add_done_callback(self._flushes.discard)
        return True

    def _spare_size(self, key: str, now: float) -> int:
        """How many spares to ask for: double the last while they are spent before
        they lapse, half when some lapsed unspent (so a worker asks for about what
        it starts in ``HOLD``)."""
        size = self._sizes.get(key, SPARE_START)
        spares = self._held.get(key)
        if spares is not None and now >= spares[1] and spares[0] >= 1:
            return max(size // 2, 1)  # some lapsed unspent: ask for fewer
        return size

    async def _refill(self, key: str, limit: RateLimit) -> None:
        try:
            assert self._buckets is not None
            now = self._now()
            size = min(self._sizes.get(key, SPARE_START) * 2, SPARE)  # spent in time: more
            taken, _ = await self._buckets.take_tokens(
                key, 0, limit.limit, limit.interval, now, burst=limit.burst, spare=size
            )
        except Exception as exc:  # the next start asks for itself
            log.debug("rate limit %s: no spare tokens (%s: %s)", key, type(exc).__name__, exc)
            return
        finally:
            self._refilling.discard(key)
        self._sizes[key] = size
        if taken:
            spares = self._held.get(key)
            left = spares[0] if spares is not None and now < spares[1] else 0.0
            self._held[key] = [left + taken, now + _hold(limit)]


def _hold(limit: RateLimit) -> float:
    """Seconds spare tokens of ``limit`` are kept at most."""
    return min(HOLD, limit.interval / 10)
