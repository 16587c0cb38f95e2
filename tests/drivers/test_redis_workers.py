"""Real workers (``python -m asynctasq worker``, one process each) on Redis.

Four workers drain 20,000 jobs with 1-second leases while a few jobs freeze their
worker's event loop for longer than that: their leases (and those of every job in
flight in that worker) lapse and other workers take the jobs over. Every job must
complete, and no completion from a lapsed lease may count: each job keeps as its
result the attempt that completed it, which must be the job's last attempt.

The worker processes import this module for its tasks (``--import``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from asynctasq import AsyncTask
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.base import Driver
from asynctasq.jobs import JobState
from asynctasq.serialization.msgpack import default_serializer
from tests.backends import Backend
from tests.conftest import only_backends
from tests.sample_tasks import record, recorded
from tests.workers import spawn_worker, stop

pytestmark = pytest.mark.slow

MODULE = "tests.drivers.test_redis_workers"


class Tick(AsyncTask[int], name="redistest.Tick"):
    """Records its run, after ``seconds``; returns the attempt that ran it."""

    config = {"max_attempts": 20}

    log: str
    seconds: float = 0.0

    async def execute(self) -> int:
        if self.seconds:
            await asyncio.sleep(self.seconds)
        record(self.log, f"{self._task_id}:{self._attempts}")
        return self._attempts


class Freeze(AsyncTask[int], name="redistest.Freeze"):
    """Its first attempt blocks the worker's event loop for ``seconds``, past its
    timeout: the worker's renewal thread then stops keeping its leases (a hung
    worker), they lapse and other workers take the jobs over. Later attempts finish
    at once."""

    config = {"max_attempts": 20, "timeout": 1.0}

    log: str
    seconds: float

    async def execute(self) -> int:
        if self._attempts == 1:
            time.sleep(self.seconds)  # a hung worker is the point
        record(self.log, f"{self._task_id}:{self._attempts}")
        return self._attempts


async def dispatch(backend_config: Any, driver: Driver, tasks: list[Any]) -> list[str]:
    dispatcher = Dispatcher(driver, backend_config)
    ids: list[str] = []
    for i in range(0, len(tasks), 5000):
        ids += await dispatcher.dispatch_many(tasks[i : i + 5000])
    return ids


async def wait_until_completed(
    driver: Driver, queue: str, total: int, timeout: float, logs: Path
) -> None:
    deadline = time.monotonic() + timeout
    while (done := (await driver.stats(queue)).completed) < total:
        if time.monotonic() > deadline:
            tails = "\n".join(p.read_text()[-1500:] for p in sorted(logs.glob("*.log")))
            raise AssertionError(f"{done}/{total} jobs completed after {timeout}s\n{tails}")
        await asyncio.sleep(0.2)


async def check_every_result_is_its_last_attempt(driver: Driver, queue: str, total: int) -> int:
    """Returns how many jobs needed more than one attempt."""
    retried, seen = 0, 0
    for offset in range(0, total, 5000):
        for job in await driver.list_jobs(queue, JobState.COMPLETED, limit=5000, offset=offset):
            seen += 1
            assert job.result is not None
            assert default_serializer.loads(job.result) == job.attempts, job
            retried += job.attempts > 1
    assert seen == total
    return retried


@only_backends("redis")
async def test_four_workers_drain_20000_jobs_while_leases_lapse(
    backend: Backend, tmp_path: Path
) -> None:
    total, frozen = 20_000, 3  # fewer than the workers: one is always free to recover
    log = str(tmp_path / "runs.log")
    driver = await backend.new_driver()
    tasks: list[Any] = [Tick(log=log) for _ in range(total - frozen)]
    for i in range(frozen):  # spread over the run
        tasks.insert((i + 1) * total // (frozen + 1), Freeze(log=log, seconds=5.0))
    env = {**backend.env(), "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true"}
    ids = await dispatch(backend.config(keep_completed_tasks=True), driver, tasks)
    args = ("--lease-seconds", "1", "--concurrency", "50")
    workers = [
        spawn_worker(env, *args, imports=MODULE, log_path=tmp_path / f"worker-{i}.log")
        for i in range(4)
    ]
    try:
        await wait_until_completed(driver, "default", total, 150, tmp_path)
    finally:
        codes = [stop(w) for w in workers]
    assert codes == [0, 0, 0, 0]

    stats = await driver.stats("default")
    assert (stats.depth, stats.processing, stats.scheduled, stats.failed) == (0, 0, 0, 0)
    runs = Counter(line.split(":")[0] for line in recorded(log))
    assert set(runs) == set(ids)  # every job ran
    assert sum(runs.values()) > total  # and leases did lapse: some ran again
    retried = await check_every_result_is_its_last_attempt(driver, "default", total)
    assert retried >= frozen
    refused = sum(p.read_text().count("rejected") for p in tmp_path.glob("worker-*.log"))
    assert refused > 0  # stale holders did try to settle, and were refused
