"""Progress from a running task to its worker, from wherever the task runs.

The worker's reporter (``driver.set_progress`` and a ``task_progress`` event) is a
coroutine on the worker's loop. An async task awaits it; a SyncTask, in a pool
thread, hands it to the loop and waits (``report_progress_sync``); a process task
sends a message over its pipe and the worker reports it (``process_pool.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["ProgressSink", "forward_progress"]

log = logging.getLogger("asynctasq.worker")

Reporter = Callable[[Any, float, dict[str, Any]], Awaitable[None]]

#: how long report_progress_sync waits for the worker to record it
BLOCKING_TIMEOUT = 60.0


class ProgressSink:
    """What a task's ``report_progress`` calls: awaitable from the worker's loop,
    ``report_blocking`` from any other thread."""

    def __init__(self, reporter: Reporter, loop: asyncio.AbstractEventLoop) -> None:
        self.reporter = reporter
        self.loop = loop

    async def __call__(self, task: Any, progress: float, meta: dict[str, Any]) -> None:
        await self.reporter(task, progress, meta)

    def report_blocking(self, task: Any, progress: float, meta: dict[str, Any]) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            raise RuntimeError(
                "report_progress_sync() waits for the worker's event loop, which is this "
                "thread: in async code use `await self.report_progress(...)`"
            )
        future = asyncio.run_coroutine_threadsafe(self(task, progress, meta), self.loop)
        future.result(BLOCKING_TIMEOUT)


def forward_progress(task: Any) -> Callable[[float, dict[str, Any]], Awaitable[None]] | None:
    """For the process pool: report what a pool process sent on behalf of ``task``.
    A failure is logged, never raised: the process that reported cannot hear it."""
    sink = getattr(task, "_progress_sink", None)
    if sink is None:
        return None

    async def forward(progress: float, meta: dict[str, Any]) -> None:
        try:
            await sink(task, progress, meta)
        except Exception as exc:
            log.warning(
                "job %s: progress %.2f not recorded (%s: %s)",
                getattr(task, "_task_id", "?"),
                progress,
                type(exc).__name__,
                exc,
            )

    return forward
