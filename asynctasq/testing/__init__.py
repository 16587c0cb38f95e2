"""Helpers for testing code that uses asynctasq.

    from asynctasq.testing import run_job

    async def test_send_email():
        outcome = await run_job(SendEmail(to="a@b.c"))
        assert outcome.state is JobState.COMPLETED

``run_job`` goes through the real worker (hooks, retries, timeouts, executors) on an
in-memory broker; ``drain`` runs a burst worker on any driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asynctasq.config import Config, get_global_config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.events.emitters import EventEmitter
from asynctasq.core.events.types import Event
from asynctasq.core.worker import Worker
from asynctasq.drivers.base import Driver
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.jobs import JobState
from asynctasq.serialization.msgpack import default_serializer
from asynctasq.tasks.base import BaseTask

__all__ = ["EventRecorder", "JobOutcome", "drain", "run_job"]


class EventRecorder(EventEmitter):
    """Keeps every event it is given, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self, task_id: str | None = None) -> list[str]:
        return [e.event_type for e in self.events if task_id is None or e.task_id == task_id]


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    state: JobState
    attempts: int
    result: Any = None
    error: str | None = None


async def drain(
    driver: Driver,
    queues: Sequence[str] | None = None,
    *,
    config: Config | None = None,
    event_emitter: EventEmitter | None = None,
    **worker_options: Any,
) -> Worker:
    """Run a worker on ``driver`` until its queues hold nothing pending, scheduled or
    running (delayed jobs and retries included), then return it."""
    worker = Worker(
        driver,
        queues,
        event_emitter=event_emitter,
        config=config,
        burst=True,
        handle_signals=False,
        **worker_options,
    )
    await worker.start()
    return worker


async def run_job(
    task: BaseTask[Any],
    *,
    config: Config | None = None,
    event_emitter: EventEmitter | None = None,
    **worker_options: Any,
) -> JobOutcome:
    """Dispatch ``task`` to a fresh in-memory broker, run it to the end through a
    real worker, and report how it ended."""
    config = config or get_global_config()
    driver = MemoryDriver(keep_completed=True)
    await driver.connect()
    try:
        job_id = await Dispatcher(driver, config).dispatch(task)
        queue = (await driver.get(job_id)).queue  # type: ignore[union-attr]
        await drain(driver, [queue], config=config, event_emitter=event_emitter, **worker_options)
        job = await driver.get(job_id)
        assert job is not None, "the job vanished from the memory broker"
        result = default_serializer.loads(job.result) if job.result is not None else None
        return JobOutcome(job_id, job.state, job.attempts, result, job.error)
    finally:
        await driver.disconnect()
