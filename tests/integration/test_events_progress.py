"""Progress from every kind of task: ``await self.report_progress()`` on the loop,
``self.report_progress_sync()`` from a SyncTask's thread and from a pool process
(which sends it to the worker over its pipe). Each updates the job record and
emits task_progress, before the job's completion."""

from __future__ import annotations

import asyncio
import logging

import pytest

from asynctasq import AsyncProcessTask, AsyncTask, Config, SyncProcessTask, SyncTask
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.logs import JobContextFilter
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.jobs import JobState
from asynctasq.testing import EventRecorder, drain

FAST = Config(lease_seconds=5, process_pool_size=1)


class SyncSteps(SyncTask[None], name="progress.sync_steps"):
    def execute(self) -> None:
        self.report_progress_sync(0.25, {"step": 1})
        self.report_progress_sync(0.75, {"step": 3})


class ProcessSteps(SyncProcessTask[None], name="progress.process_steps"):
    def execute(self) -> None:
        self.report_progress_sync(0.5, {"step": 2})
        self.report_progress_sync(0.9, {"step": 9})


class AsyncProcessSteps(AsyncProcessTask[None], name="progress.async_process_steps"):
    async def execute(self) -> None:
        await asyncio.sleep(0)
        await self.report_progress(0.6, {"where": "child"})


class BlocksTheLoop(AsyncTask[None], name="progress.blocks_the_loop"):
    config = {"max_attempts": 1}

    async def execute(self) -> None:
        self.report_progress_sync(0.5)


class LogsFromAThread(SyncTask[None], name="progress.logs_from_a_thread"):
    def execute(self) -> None:
        logging.getLogger("myapp.jobs").warning("working on it")


async def run(*tasks: object) -> tuple[MemoryDriver, EventRecorder, list[str]]:
    driver = MemoryDriver(keep_completed=True)
    await driver.connect()
    recorder = EventRecorder()
    ids = await Dispatcher(driver, FAST).dispatch_many(tasks)  # type: ignore[arg-type]
    await drain(driver, config=FAST, event_emitter=recorder)
    return driver, recorder, ids


async def test_a_sync_task_reports_progress_from_its_thread() -> None:
    driver, recorder, (job_id,) = await run(SyncSteps())
    assert recorder.kinds(job_id) == [
        "task_started",
        "task_progress",
        "task_progress",
        "task_completed",
    ]
    progress = [(e.progress, e.meta) for e in recorder.events if e.event_type == "task_progress"]
    assert progress == [(0.25, {"step": 1}), (0.75, {"step": 3})]
    job = await driver.get(job_id)
    assert job is not None and job.state is JobState.COMPLETED and job.progress == 0.75


async def test_process_tasks_report_progress_over_the_pipe() -> None:
    driver, recorder, (sync_id, async_id) = await run(ProcessSteps(), AsyncProcessSteps())
    for job_id in (sync_id, async_id):
        kinds = recorder.kinds(job_id)
        assert kinds[0] == "task_started" and kinds[-1] == "task_completed", kinds
    values: dict[str | None, list[tuple[float | None, object]]] = {sync_id: [], async_id: []}
    for e in recorder.events:
        if e.event_type == "task_progress":
            values[e.task_id].append((e.progress, e.meta))
    assert values[sync_id] == [(0.5, {"step": 2}), (0.9, {"step": 9})]
    assert values[async_id] == [(0.6, {"where": "child"})]
    job = await driver.get(sync_id)
    assert job is not None and job.progress == 0.9


async def test_report_progress_sync_on_the_loop_fails_the_job_clearly() -> None:
    driver, _, (job_id,) = await run(BlocksTheLoop())
    job = await driver.get(job_id)
    assert job is not None and job.state is JobState.FAILED
    assert "await self.report_progress" in (job.error or "")


async def test_progress_outside_a_worker_is_a_no_op() -> None:
    SyncSteps().report_progress_sync(0.5)  # no worker: nothing to tell, nothing raised
    with pytest.raises(ValueError, match=r"between 0\.0 and 1\.0"):
        SyncSteps().report_progress_sync(1.5)


async def test_records_logged_in_a_sync_task_carry_the_job(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.handler.addFilter(JobContextFilter())
    with caplog.at_level(logging.WARNING, logger="myapp.jobs"):
        _, _, (job_id,) = await run(LogsFromAThread())
    (record,) = [r for r in caplog.records if r.name == "myapp.jobs"]
    assert record.__dict__["task_id"] == job_id
    assert record.__dict__["task_name"] == "progress.logs_from_a_thread"
    assert record.__dict__["queue"] == "default" and record.__dict__["attempt"] == 1
    assert record.__dict__["worker_id"]
