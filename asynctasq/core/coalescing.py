"""Concurrent dispatches share round trips: group commit for ``dispatch()``.

A busy application (an ASGI server, a fan-out coroutine) calls ``dispatch()`` from
many coroutines at once. Each call alone is one round trip, and on a SQL broker one
flushed commit. Here the first call goes out at once, alone (a single sequential
caller waits for nothing more than its own round trip: no timer, no linger); the
calls that arrive while it is in flight are collected and sent together as ONE
``driver.enqueue(jobs)`` (a pipeline or script on Redis, one multi-row statement and
one commit on SQL), and so on while calls keep coming. Each caller still awaits its
own job: its own id, or its own error.

Errors: a batch refused because of its data (``ValueError``: every driver checks a
whole batch before storing any of it) is split, so that only the job at fault fails,
with the driver's message; the others are sent again without it. A broker error
(connection lost, timeout) reaches every caller of that batch, as it would have
reached each of them alone.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from asynctasq.jobs import Job

__all__ = ["DEFAULT_MAX_BATCH", "EnqueueCoalescer"]

#: jobs per coalesced round trip at most (a drain of many callers takes several)
DEFAULT_MAX_BATCH = 1000

#: a job id in a driver's message (UUIDv7 text, or any id the caller chose: the id
#: is matched against the batch, so a false match costs nothing)
_JOB_ID = re.compile(r"job ([^\s:(),]+)")

Enqueue = Callable[[Sequence[Job]], Awaitable[list[str]]]
_Waiter = tuple[Job, "asyncio.Future[str]"]


class EnqueueCoalescer:
    """One round trip in flight at a time; what arrives meanwhile goes out in the next."""

    def __init__(self, enqueue: Enqueue, *, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch!r}")
        self._enqueue = enqueue
        self.max_batch = max_batch
        self._waiting: deque[_Waiter] = deque()
        self._busy = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flusher: asyncio.Task[None] | None = None  # held: a task nobody holds may vanish
        #: round trips made, and jobs sent in them (tests and benchmarks read these)
        self.round_trips = 0
        self.jobs_sent = 0

    async def enqueue(self, job: Job) -> str:
        """Store ``job`` (with whatever else is waiting); its id."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a dispatcher carried over to another event loop
            if self._busy and self._loop is not None and not self._loop.is_closed():
                # still busy on its first loop (another thread): this call goes alone
                return (await self._enqueue([job]))[0]
            self._loop, self._busy, self._waiting = loop, False, deque()
        if not self._busy:
            self._busy = True
            try:
                self.round_trips += 1
                self.jobs_sent += 1
                return (await self._enqueue([job]))[0]
            finally:
                self._next()
        future: asyncio.Future[str] = loop.create_future()
        self._waiting.append((job, future))
        return await future

    def _next(self) -> None:
        """The round trip in flight ended: send what arrived meanwhile, from a task of
        its own (the caller that just got its answer does not wait for the others)."""
        if self._waiting and self._loop is not None and not self._loop.is_closed():
            self._flusher = self._loop.create_task(self._flush(), name="asynctasq-dispatch")
        else:
            self._busy = False

    async def _flush(self) -> None:
        try:
            while self._waiting:
                batch = self._take()
                if batch:
                    await self._send(batch)
                # the callers answered just now run before the next batch is taken, so
                # their next dispatch joins it instead of trailing alone behind it
                await asyncio.sleep(0)
        finally:
            self._busy = False
            self._flusher = None
            if self._waiting:  # stopped early (cancelled): nobody is left waiting forever
                for _, future in self._waiting:
                    future.cancel()
                self._waiting.clear()

    def _take(self) -> list[_Waiter]:
        """The next batch, in arrival order: callers that gave up are dropped (their
        job was never sent), and a job whose unique key is already in the batch waits
        for the next one (the broker sees them one after the other, as sent alone)."""
        batch: list[_Waiter] = []
        later: list[_Waiter] = []
        keys: set[str] = set()
        waiting = self._waiting
        while waiting and len(batch) < self.max_batch:
            job, future = item = waiting.popleft()
            if future.done():
                continue
            key = job.unique_key
            if key is not None:
                if key in keys:
                    later.append(item)
                    continue
                keys.add(key)
            batch.append(item)
        waiting.extendleft(reversed(later))
        return batch

    async def _send(self, batch: list[_Waiter]) -> None:
        self.round_trips += 1
        self.jobs_sent += len(batch)
        try:
            ids = await self._enqueue([job for job, _ in batch])
        except ValueError as exc:  # refused for its data: nothing of the batch stored
            await self._isolate(batch, exc)
            return
        except BaseException as exc:  # the broker's: every caller of this batch sees it
            for _, future in batch:
                _fail(future, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), job_id in zip(batch, ids, strict=True):
            if not future.done():
                future.set_result(job_id)

    async def _isolate(self, batch: list[_Waiter], exc: ValueError) -> None:
        """Only the job at fault gets ``exc``: the one it names, else found by halves."""
        if len(batch) == 1:
            _fail(batch[0][1], exc)
            return
        named = set(_JOB_ID.findall(str(exc)))
        culprits = [item for item in batch if item[0].id in named]
        if len(culprits) == 1:
            _fail(culprits[0][1], exc)
            rest = [item for item in batch if item is not culprits[0]]
            await self._send(rest)
            return
        half = len(batch) // 2
        await self._send(batch[:half])
        await self._send(batch[half:])


def _fail(future: asyncio.Future[str], exc: BaseException) -> None:
    if future.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(exc)
