"""The jobs of one worker read their parents' outcomes (``self.parent_results``) in
shared round trips.

A child reads its parents before it runs. In a fan-out a worker starts a hundred
children at once, each with a read of its own: a hundred round trips for what one
batched ``job_outcomes`` answers. The first read goes out at once, alone (a child that
starts by itself waits for nothing more than its own round trip: no timer); the reads
that arrive while it is in flight are sent together, as one call for all their ids,
and each child gets the outcomes of its own parents. A broker error reaches every
child of that call, as it would have reached each alone (its attempt fails and is
retried as any broker error in a job is).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from asynctasq.drivers.capabilities import Results
from asynctasq.drivers.results import StoredOutcome

__all__ = ["SharedParentReads"]

Outcomes = dict[str, StoredOutcome]
_Waiter = tuple[Sequence[str], "asyncio.Future[Outcomes]"]

#: parent ids read in one call at most (a fan-in child alone may exceed it: it goes alone)
MAX_IDS = 5000


class SharedParentReads:
    """``job_outcomes`` of ``source``, one call in flight at a time; what arrives
    meanwhile goes out in the next."""

    def __init__(self, source: Results, *, max_ids: int = MAX_IDS) -> None:
        self._source = source
        self.max_ids = max_ids
        self._waiting: deque[_Waiter] = deque()
        self._busy = False
        self._flusher: asyncio.Task[None] | None = None  # held: a task nobody holds may vanish
        #: calls made to the broker, and reads answered (tests read these)
        self.calls = 0
        self.reads = 0

    async def job_outcomes(self, job_ids: Sequence[str]) -> Outcomes:
        self.reads += 1
        if not self._busy:
            self._busy = True
            try:
                self.calls += 1
                return await self._source.job_outcomes(job_ids)
            finally:
                self._next()
        future: asyncio.Future[Outcomes] = asyncio.get_running_loop().create_future()
        self._waiting.append((job_ids, future))
        return await future

    def _next(self) -> None:
        if self._waiting:
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush(), name="asynctasq-parent-reads"
            )
        else:
            self._busy = False

    async def _flush(self) -> None:
        try:
            while self._waiting:
                batch = self._take()
                if batch:
                    await self._send(batch)
                await asyncio.sleep(0)  # the children just answered start before the next read
        finally:
            self._busy = False
            self._flusher = None
            for _, future in self._waiting:  # stopped early (cancelled): nobody waits forever
                future.cancel()
            self._waiting.clear()

    def _take(self) -> list[_Waiter]:
        batch: list[_Waiter] = []
        size = 0
        while self._waiting and (not batch or size + len(self._waiting[0][0]) <= self.max_ids):
            ids, future = waiter = self._waiting.popleft()
            if not future.done():  # a child cancelled meanwhile needs no answer
                batch.append(waiter)
                size += len(ids)
        return batch

    async def _send(self, batch: list[_Waiter]) -> None:
        wanted = list(dict.fromkeys(i for ids, _ in batch for i in ids))
        self.calls += 1
        try:
            found = await self._source.job_outcomes(wanted)
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for ids, future in batch:
            if not future.done():
                future.set_result({i: found[i] for i in ids if i in found})
