"""Timeouts beyond the basics of tests/unit/test_worker.py: hung SyncTask threads
never starve the jobs after them, a timeout counts from the start of the body, and
the per-job timeout wins over the task's."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import ClassVar

import pytest

from asynctasq import AsyncTask, Config, JobState, SyncTask
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker.threads import ThreadPool
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.testing import drain, run_job

pytestmark = pytest.mark.timeout(60)

FAST = Config(default_retry_delay=0.01, default_retry_backoff="fixed", lease_seconds=5)


class Hang(SyncTask[None]):
    """Never returns in time (a blocking call without its own timeout)."""

    config = {"timeout": 0.2, "max_attempts": 1}
    release: ClassVar[threading.Event] = threading.Event()

    def execute(self) -> None:
        Hang.release.wait(10)


class Quick(SyncTask[str]):
    config = {"timeout": 1.0, "max_attempts": 1}
    seconds: float = 0.0

    def execute(self) -> str:
        time.sleep(self.seconds)
        return threading.current_thread().name


class Upstream(AsyncTask[None]):
    config = {"timeout": 10.0, "max_attempts": 1}

    async def execute(self) -> None:
        raise TimeoutError("the upstream API timed out")


class Nap(AsyncTask[None]):
    config = {"timeout": 10.0, "max_attempts": 1}

    async def execute(self) -> None:
        await asyncio.sleep(1)


async def memory() -> MemoryDriver:
    driver = MemoryDriver(keep_completed=True)
    await driver.connect()
    return driver


async def test_hung_sync_jobs_never_starve_the_ones_after_them() -> None:
    Hang.release.clear()
    driver = await memory()
    dispatcher = Dispatcher(driver, FAST)
    hung = await dispatcher.dispatch_many(Hang() for _ in range(2))
    quick = await dispatcher.dispatch_many(Quick() for _ in range(4))
    started = time.monotonic()
    try:
        # two threads only, both soon held by bodies that do not return
        worker = await drain(driver, config=FAST.replace(thread_pool_size=2), concurrency=2)
    finally:
        Hang.release.set()
    assert time.monotonic() - started < 5  # not the 10 s the hung bodies take
    for job_id in hung:
        job = await driver.get(job_id)
        assert job is not None and job.state is JobState.FAILED
        assert "TaskTimeoutError" in (job.error or "") and "left to finish" in (job.error or "")
    for job_id in quick:
        job = await driver.get(job_id)
        assert job is not None and job.state is JobState.COMPLETED, job
    assert worker._executors.threads.abandoned <= 2


async def test_a_sync_timeout_counts_from_the_start_of_the_body() -> None:
    driver = await memory()
    ids = await Dispatcher(driver, FAST).dispatch_many(Quick(seconds=0.4) for _ in range(3))
    # one thread, three jobs in flight: the last waits 0.8 s for the thread, then
    # runs 0.4 s of its 1 s budget
    await drain(driver, config=FAST.replace(thread_pool_size=1), concurrency=3)
    for job_id in ids:
        job = await driver.get(job_id)
        assert job is not None and job.state is JobState.COMPLETED, job.error if job else None


async def test_the_timeout_given_to_one_job_wins_over_the_task() -> None:
    outcome = await run_job(Nap().with_options(timeout=0.2), config=FAST)
    assert outcome.state is JobState.FAILED
    assert (outcome.error or "").startswith("TaskTimeoutError: job exceeded its timeout of 0.2s")


async def test_a_timeout_error_of_the_body_is_not_mistaken_for_the_job_timeout() -> None:
    outcome = await run_job(Upstream(), config=FAST)
    assert (outcome.error or "").startswith("TimeoutError: the upstream API timed out")


async def test_the_thread_pool_replaces_abandoned_threads_and_closes_without_them() -> None:
    pool = ThreadPool(1)
    gate = threading.Event()
    with pytest.raises(TimeoutError):
        await pool.run(gate.wait, 5, timeout=0.1)
    assert pool.abandoned == 1
    # the hung thread no longer counts: a new one serves at once
    assert await pool.run(lambda: threading.current_thread().name, timeout=1) == "asynctasq-sync-2"
    queued = asyncio.ensure_future(pool.run(time.sleep, 0.01))
    blocker = asyncio.ensure_future(pool.run(gate.wait, 5))
    await asyncio.sleep(0.05)
    pool.close()
    gate.set()
    await asyncio.gather(queued, blocker, return_exceptions=True)
    with pytest.raises(RuntimeError, match="closed"):
        await pool.run(time.sleep, 0)
    # daemon threads: a body still running never holds the process at exit
    assert all(t.daemon for t in threading.enumerate() if t.name.startswith("asynctasq-sync"))
