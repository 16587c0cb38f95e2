"""A running task's progress, to the broker and as a ``task_progress`` event."""

from __future__ import annotations

import logging
from typing import Any

from asynctasq.core.events.emitters import EventEmitter
from asynctasq.core.events.types import Event
from asynctasq.core.worker.renewal import HeldLeases
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import ProgressStore
from asynctasq.tasks.base import BaseTask

__all__ = ["ProgressReporter"]

log = logging.getLogger("asynctasq.worker")


class ProgressReporter:
    """What the runner's progress sink calls (``report_progress`` in a task)."""

    def __init__(
        self, driver: Driver, *, worker_id: str, leases: HeldLeases, emitter: EventEmitter
    ) -> None:
        self.driver = driver
        self.worker_id = worker_id
        self.leases = leases
        self.emitter = emitter

    async def __call__(self, task: BaseTask[Any], progress: float, meta: dict[str, Any]) -> None:
        job = task._job
        if job is None:
            return
        if self.leases.superseded(job.id, job.attempts):
            # the broker fences progress by worker alone: this worker's later attempt
            # of the job (reserved again after its lease lapsed) owns it now
            log.debug("job %s: progress of superseded attempt %d dropped", job.id, job.attempts)
            return
        if isinstance(self.driver, ProgressStore):
            await self.driver.set_progress(job.id, self.worker_id, progress)
        if self.emitter.enabled:
            self.emitter.emit(
                Event.for_job(
                    "task_progress", job, worker_id=self.worker_id, progress=progress, meta=meta
                )
            )
