"""Cancelling a job while it runs (capability RunningCancellation, docs/flow-control.md).

``cancel_running`` in the broker moves the job to ``cancelled`` and withdraws its
lease; the worker running it finds the lease refused at its next renewals (renewal
cannot tell a cancelled job from one whose lease lapsed and was recovered), asks the
broker which of the lost ones were cancelled, and cancels their coroutines: an
async task gets ``CancelledError`` where it awaits (and may clean up). A process task's
child process is killed (the pool kills the process of a cancelled ``run``, that one
only, and replaces it). A blocking body in a thread cannot be interrupted: its await
is cancelled, the body runs on (it can poll ``self.is_cancelled()`` and stop), and
what it returns is discarded (the broker refuses the outcome of a job that is no
longer active).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from asynctasq.core.worker.renewal import AttemptKey
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import RunningCancellation
from asynctasq.tasks.cancellation import mark_cancelled

__all__ = ["cancel_if_cancelled"]

log = logging.getLogger("asynctasq.worker")


async def cancel_if_cancelled(
    driver: Driver, lost: list[AttemptKey], running: Mapping[AttemptKey, asyncio.Task[None]]
) -> None:
    """Cancel the running attempts in ``lost`` whose job the broker holds as cancelled."""
    if not isinstance(driver, RunningCancellation):
        return
    for key in lost:
        task = running.get(key)
        if task is None or task.done():
            continue
        try:
            cancelled = await driver.is_job_cancelled(key[0])
        except Exception as exc:  # asked again only if renewal loses it again: log it
            log.warning(
                "cannot ask whether job %s was cancelled (%s: %s)", key[0], type(exc).__name__, exc
            )
            continue
        if cancelled:
            log.info("job %s was cancelled while it ran: stopping it", key[0])
            mark_cancelled(key[0])  # a thread body sees it in self.is_cancelled()
            task.cancel()
