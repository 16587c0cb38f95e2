"""kill -9 of a worker every few seconds while 5,000 jobs run across 3 workers.

Every job must end completed with its side effect recorded (at least once); the
report counts how many ran more than once: at-least-once, zero lost.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.jobs import JobState
from tests.backends import Backend
from tests.chaos.fleet import ChaosReport, Fleet, all_jobs, settled
from tests.conftest import only_backends
from tests.sample_tasks import Record, recorded

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

JOBS = 5000
WORKERS = 3
KILL_EVERY = 1.0  # seconds between two kill -9
WORK = 0.03  # seconds each job takes
#: short leases make recovery quick: a killed worker's jobs are back in ~2 s
LEASE = "2"


async def enqueue_records(backend: Backend, log: Path, count: int, work: float = WORK) -> list[str]:
    driver = await backend.new_driver()
    # a job may be caught by several kills in a row: give it attempts to spare
    dispatcher = Dispatcher(driver, backend.config(default_max_retries=50))
    tasks = [Record(key=f"j{i}", log=str(log), seconds=work) for i in range(count)]
    ids: list[str] = []
    for start in range(0, count, 1000):
        ids += await dispatcher.dispatch_many(tasks[start : start + 1000])
    return ids


def chaos_env(backend: Backend) -> dict[str, str]:
    return {
        **backend.env(),
        "ASYNCTASQ_LEASE_SECONDS": LEASE,
        "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true",
        "ASYNCTASQ_CONCURRENCY": "8",
    }


@only_backends("sqlite", "redis", "postgres", "mysql", "mongodb")
async def test_kill_9_every_few_seconds_loses_nothing(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not backend.shared_across_processes:
        pytest.skip(f"{backend.name} cannot be shared by worker processes")
    log = tmp_path / "effects.log"
    # a slow test server (MongoDB's emulator) takes fewer, longer jobs: the run still
    # lasts long enough for several kills
    budget: int | None = getattr(backend, "max_jobs", None)
    jobs = JOBS if budget is None else min(JOBS, budget)
    work = WORK if budget is None else WORK * JOBS / jobs / 10
    ids = await enqueue_records(backend, log, jobs, work)
    driver = backend.drivers[0]
    fleet = Fleet(chaos_env(backend), WORKERS, log_dir=tmp_path).start()
    started = time.monotonic()
    try:
        while True:
            await asyncio.sleep(KILL_EVERY)
            if await settled(driver):
                break
            assert time.monotonic() - started < 150, fleet.logs()
            fleet.kill_one()
        elapsed = time.monotonic() - started
        assert fleet.stop() == [0] * WORKERS, fleet.logs()
    finally:
        fleet.kill_all()

    completed = await all_jobs(driver, "default", JobState.COMPLETED)
    report = ChaosReport(
        backend.name,
        jobs,
        kills=fleet.kills,
        seconds=elapsed,
        runs=Counter(recorded(str(log))),
        completed=len(completed),
        retried_attempts=sum(1 for job in completed if job.attempts > 1),
    )
    with capsys.disabled():
        print(f"\n{report}")
    assert fleet.kills >= 3, f"the run ended before the chaos began: {report}"
    assert {job.id for job in completed} == set(ids), report
    assert set(report.runs) == {f"j{i}" for i in range(jobs)}, report
    assert report.lost == 0
    assert await driver.list_jobs("default", JobState.FAILED) == []
