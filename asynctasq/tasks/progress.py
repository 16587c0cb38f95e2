"""``report_progress(fraction, data=None)``: the callable ``@task(progress=True)``
hands a function that declares a ``report_progress`` parameter.

One spelling for every kind of function, never awaited: a blocking body (a pool
thread or process) waits until the worker recorded it; a coroutine body cannot
wait without ``await``, so the report runs beside it on the loop (awaiting the
value returned is allowed) and the job does not settle before it is recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asynctasq.tasks.base import BaseTask

__all__ = ["ProgressCallback"]

log = logging.getLogger("asynctasq.worker")


class ProgressCallback:
    def __init__(self, task: BaseTask[Any]) -> None:
        self._task = task
        self._pending: list[asyncio.Task[None]] = []

    def __call__(
        self, fraction: float, data: Mapping[str, Any] | None = None
    ) -> asyncio.Task[None] | None:
        if not 0.0 <= fraction <= 1.0:  # refused in the caller, where the bug is
            raise ValueError(f"report_progress({fraction!r}): expected a fraction from 0.0 to 1.0")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a blocking body: wait until the worker recorded it
            self._task.report_progress_sync(fraction, data)
            return None
        report = loop.create_task(self._after(self._pending[-1:], fraction, data))
        self._pending.append(report)
        return report

    async def _after(
        self, previous: list[asyncio.Task[None]], fraction: float, data: Mapping[str, Any] | None
    ) -> None:
        # one after the other: the broker keeps the last fraction reported, not the last
        # round trip to come back
        if previous:
            await asyncio.wait(previous)
        await self._task.report_progress(fraction, data)

    async def flush(self) -> None:
        """Wait for the reports a coroutine body did not await: its job settles after
        its progress. A report that failed is logged (the body's work is done)."""
        pending, self._pending = self._pending, []
        for outcome in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(outcome, Exception):
                log.warning(
                    "job %s: progress not recorded (%s: %s)",
                    self._task._task_id,
                    type(outcome).__name__,
                    outcome,
                )
