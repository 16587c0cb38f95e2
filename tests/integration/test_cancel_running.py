"""Cancelling a job while a worker runs it: the worker learns of it through lease
renewal and cancels the coroutine (which may clean up); a thread job cannot be
killed, its outcome is discarded; a process job's child process is killed. Either
way the job ends ``cancelled`` and is not retried."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asynctasq import AsyncTask, Config, SyncTask, Worker
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.memory import MemoryBroker, MemoryDriver
from asynctasq.jobs import JobState
from asynctasq.operations.jobs import cancel_jobs
from asynctasq.tasks.base import BaseTask
from tests.integration.process_tasks import AsyncSleepForever, SleepForever

STARTED = asyncio.Event()
CLEANED_UP = asyncio.Event()
THREAD_STARTED = threading.Event()
THREAD_GO = threading.Event()
FINISHED: list[str] = []

FAST = Config(lease_seconds=0.3, heartbeat_interval=0.05)


class Endless(AsyncTask[None]):
    config = {"queue": "cancel"}

    async def execute(self) -> None:
        STARTED.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            CLEANED_UP.set()
            raise
        FINISHED.append("async")


class Blocking(SyncTask[None]):
    """Cannot be interrupted: runs to its end; its outcome is discarded."""

    config = {"queue": "cancel"}

    def execute(self) -> None:
        THREAD_STARTED.set()
        THREAD_GO.wait(30)
        FINISHED.append("thread")


class Polite(SyncTask[None]):
    """Checks is_cancelled() as it goes, and stops early."""

    config = {"queue": "cancel"}

    def execute(self) -> None:
        THREAD_STARTED.set()
        for _ in range(3000):
            if self.is_cancelled():
                FINISHED.append("stopped early")
                return
            time.sleep(0.01)


async def _state_becomes(driver: MemoryDriver, job_id: str, state: JobState) -> None:
    for _ in range(500):
        stored = await driver.get(job_id)
        if stored is not None and stored.state is state:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} never became {state}")


@contextlib.asynccontextmanager
async def _running(task: BaseTask[None]) -> AsyncIterator[tuple[MemoryDriver, str]]:
    """A worker running ``task``'s job; yields the producer's driver and the job id."""
    FINISHED.clear()
    broker = MemoryBroker()
    driver = MemoryDriver(broker=broker, keep_completed=True)
    await driver.connect()
    job = Dispatcher(driver, FAST).build_job(task)
    await driver.enqueue([job])
    worker = Worker(MemoryDriver(broker=broker), ["cancel"], config=FAST, handle_signals=False)
    running = asyncio.create_task(worker.start())
    try:
        yield driver, job.id
    finally:
        THREAD_GO.set()
        worker.stop()
        await asyncio.wait_for(running, 10)


async def test_an_async_job_is_cancelled_mid_run_and_cleans_up() -> None:
    STARTED.clear()
    CLEANED_UP.clear()
    async with _running(Endless()) as (driver, job_id):
        await asyncio.wait_for(STARTED.wait(), 10)
        assert (await cancel_jobs(driver, [job_id])).done == 1
        await asyncio.wait_for(CLEANED_UP.wait(), 10)  # CancelledError reached the body
        await _state_becomes(driver, job_id, JobState.CANCELLED)
        assert FINISHED == []


async def test_a_thread_job_cancelled_mid_run_ends_cancelled_its_result_discarded() -> None:
    THREAD_STARTED.clear()
    THREAD_GO.clear()
    async with _running(Blocking()) as (driver, job_id):
        assert await asyncio.to_thread(THREAD_STARTED.wait, 10)
        assert (await cancel_jobs(driver, [job_id])).done == 1
        THREAD_GO.set()  # the body finishes: a thread cannot be killed
        for _ in range(500):
            if FINISHED:
                break
            await asyncio.sleep(0.01)
        assert FINISHED == ["thread"]
        await asyncio.sleep(0.3)  # its outcome reported meanwhile, and refused
        stored = await driver.get(job_id)
        assert stored is not None and stored.state is JobState.CANCELLED


async def test_a_thread_job_sees_is_cancelled_turn_true() -> None:
    THREAD_STARTED.clear()
    async with _running(Polite()) as (driver, job_id):
        assert await asyncio.to_thread(THREAD_STARTED.wait, 10)
        assert (await cancel_jobs(driver, [job_id])).done == 1
        for _ in range(1000):
            if FINISHED:
                break
            await asyncio.sleep(0.01)
        assert FINISHED == ["stopped early"]
        await _state_becomes(driver, job_id, JobState.CANCELLED)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie not yet reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("task_class", [SleepForever, AsyncSleepForever])
async def test_a_process_job_cancelled_mid_run_has_its_process_killed(
    task_class: type[SleepForever] | type[AsyncSleepForever], tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    async with _running(task_class(pid_file=str(pid_file))) as (driver, job_id):
        for _ in range(3000):  # a pool process starts in about a second
            if pid_file.exists() and pid_file.read_text():
                break
            await asyncio.sleep(0.01)
        pid = int(pid_file.read_text())
        assert pid != os.getpid() and _alive(pid)
        assert (await cancel_jobs(driver, [job_id])).done == 1
        for _ in range(1000):
            if not _alive(pid):
                break
            await asyncio.sleep(0.01)
        assert not _alive(pid), "the cancelled job's process still runs"
        await _state_becomes(driver, job_id, JobState.CANCELLED)
        await asyncio.sleep(0.3)  # a retry would have been claimed by now
        stored = await driver.get(job_id)
        assert stored is not None and stored.state is JobState.CANCELLED
        assert stored.attempts == 1  # ran once, never retried
