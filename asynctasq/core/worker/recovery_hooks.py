"""``failed`` hooks of jobs dead-lettered by crash recovery.

When the worker running a job's last attempt dies (or hangs past its lease), it
never calls the job's ``failed`` hook. Every worker sweeps lapsed leases
(lease.py), and a sweep returns the records of the jobs it dead-lettered: the
worker whose sweep moved a job runs the hook, once, with a LeaseExpiredError. Only
that sweep sees the job, so the hook runs at most once per recovery, and only on a
worker that has the task registered (others log how to fix that).

Hooks run in tasks of their own: a slow hook must not hold up the sweep, which
also renews leases on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from asynctasq.core.worker.runner import JobRunner, format_error
from asynctasq.errors import UnknownTaskError
from asynctasq.jobs import Job

__all__ = ["RecoveryHooks"]

log = logging.getLogger("asynctasq.worker")


class RecoveryHooks:
    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        self._running: dict[asyncio.Task[None], str] = {}  # -> job id
        self._unknown: set[str] = set()  # task names already explained in the log

    def dead_lettered(self, jobs: Iterable[Job]) -> None:
        """Start the hooks of ``jobs`` (records from Driver.recover_expired)."""
        for job in jobs:
            task = asyncio.create_task(self._hook(job), name=f"asynctasq-failed-{job.id}")
            self._running[task] = job.id
            task.add_done_callback(self._running.pop)

    @property
    def pending(self) -> list[asyncio.Task[None]]:
        return list(self._running)

    def cancel(self) -> None:
        """Shutdown ran out of time: hooks still running are cancelled."""
        for task, job_id in list(self._running.items()):
            log.warning("job %s: shutdown interrupted its failed() hook", job_id)
            task.cancel()

    async def _hook(self, job: Job) -> None:
        try:
            await self.runner.lease_expired(job)
        except UnknownTaskError:
            if job.task in self._unknown:
                return
            self._unknown.add(job.task)
            log.warning(
                "job %s was dead-lettered by lease recovery on this worker, which does not "
                "have its task %r: its failed() hook did not run (nor will it for other "
                "jobs of that task recovered here). Import the module that defines it in "
                "every worker (--import / ASYNCTASQ_TASK_MODULES), since any worker's "
                "sweep may recover it",
                job.id,
                job.task,
            )
        except Exception as exc:  # never stops the worker (the runner logs hook errors)
            log.error(
                "job %s: its failed() hook after recovery could not run: %s",
                job.id,
                format_error(exc, with_traceback=False),
            )
