"""Wake-ups from MongoDB change streams: an idle worker learns at once that a job was
stored, retried, released or recovered by any process.

Change streams need a replica set (or a sharded cluster). On a standalone server the
watch fails with a clear code: the driver then polls (``idle`` of driver.py), backing
off while nothing arrives. A stream lost to a network fault is opened again after a
pause; polling covers the gap, so nothing waits longer than the poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure, PyMongoError

from asynctasq.redaction import redact

__all__ = ["ChangeWatcher"]

log = logging.getLogger("asynctasq.driver")

#: server error codes meaning "no change streams here" (standalone server, or a
#: storage engine without them): poll instead, do not try again
_UNSUPPORTED = {40573, 40324, 136}
#: longest a getMore of the stream waits on the server before it is sent again
_AWAIT_MS = 1000
#: pause before opening a broken stream again
_REOPEN_SECONDS = 1.0

#: what makes a job claimable: a new job, or one going (back) to pending
_PIPELINE: list[dict[str, Any]] = [
    {
        "$match": {
            "$or": [
                {"operationType": "insert"},
                {"operationType": "update", "updateDescription.updatedFields.state": "pending"},
            ]
        }
    },
    {"$project": {"operationType": 1}},
]


class ChangeWatcher:
    """One change stream on the jobs collection per driver, opened by the first
    reserve that may wait, closed at disconnect."""

    def __init__(self, jobs: AsyncCollection[dict[str, Any]], notify: Callable[[], None]) -> None:
        self._jobs = jobs
        self._notify = notify
        self._task: asyncio.Task[None] | None = None
        self._open = asyncio.Event()
        #: False once the server said it has no change streams
        self.supported = True

    @property
    def watching(self) -> bool:
        return self.supported and self._open.is_set()

    async def start(self, ready_within: float) -> None:
        """Open the stream (once) and wait up to ``ready_within`` seconds for it, so
        that a job stored right after this call is seen."""
        if not self.supported:
            return
        if self._task is None or self._task.done():
            self._open.clear()
            self._task = asyncio.create_task(self._run(), name="asynctasq-mongodb-changes")
        if not self._open.is_set() and ready_within > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._open.wait(), ready_within)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._open.clear()

    async def _run(self) -> None:
        while self.supported:
            try:
                async with await self._jobs.watch(_PIPELINE, max_await_time_ms=_AWAIT_MS) as stream:
                    self._open.set()
                    self._notify()  # what arrived before the stream opened: look once
                    while stream.alive:
                        if await stream.try_next() is not None:
                            self._notify()
            except OperationFailure as exc:
                if exc.code in _UNSUPPORTED:
                    self.supported = False
                    log.info("mongodb: no change streams on this server (%s); polling", exc.code)
                    return
                self._lost(exc)
            except PyMongoError as exc:
                self._lost(exc)
            self._open.clear()
            await asyncio.sleep(_REOPEN_SECONDS)

    def _lost(self, exc: BaseException) -> None:
        log.warning(
            "mongodb: the change stream broke (%s: %s); polling until it is open again",
            type(exc).__name__,
            redact(str(exc)),
        )
