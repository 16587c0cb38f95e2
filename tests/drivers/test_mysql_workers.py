"""Real worker processes (``python -m asynctasq worker``) sharing one MySQL queue.

Leases are short, so only renewal keeps long jobs and only recovery brings back the
jobs of a holder that stopped renewing; every job must run once and the stale holder
must not be able to complete what it lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.base import Driver
from asynctasq.jobs import Completed, JobState
from tests.backends import Backend
from tests.backends_mysql import kill_connections
from tests.conftest import only_backends
from tests.sample_tasks import Record, recorded
from tests.workers import spawn_worker, stop

TOTAL = 10_000
LONG_JOBS = 40  # run past their lease: only renewal keeps them
GHOST_JOBS = 100  # claimed by a holder that never runs them nor renews
REFUSED = re.compile(r"outcome \w+ of job \S+ rejected")


@contextlib.contextmanager
def worker_processes(backend: Backend, tmp_path: Path, count: int) -> Iterator[list[Path]]:
    """``count`` workers (lease 3 s, completed jobs kept); yields their log files and
    checks on the way out that each stopped cleanly on SIGTERM."""
    env = {
        **backend.env(),
        "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true",
        "ASYNCTASQ_LEASE_SECONDS": "3",
        "ASYNCTASQ_CONCURRENCY": "50",
    }
    logs = [tmp_path / f"worker{i}.log" for i in range(count)]
    workers = [spawn_worker(env, log_path=path) for path in logs]
    try:
        yield logs
    finally:
        codes = [stop(worker) for worker in workers]
    assert codes == [0] * count


async def wait_completed(driver: Driver, total: int, timeout: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while (done := (await driver.stats("default")).completed) < total:
        if time.monotonic() > deadline:
            tails = "\n".join(p.read_text()[-2000:] for p in logs if p.exists())
            raise AssertionError(f"only {done}/{total} jobs completed in {timeout}s\n{tails}")
        await asyncio.sleep(0.2)


@pytest.mark.slow
@only_backends("mysql")
async def test_four_workers_run_10000_jobs_once_with_expiring_leases(
    backend: Backend, tmp_path: Path
) -> None:
    log = str(tmp_path / "effects.log")
    driver = await backend.new_driver(keep_completed=True)
    dispatcher = Dispatcher(driver, backend.config())
    tasks = [
        Record(key=f"j{i}", log=log, seconds=4.0 if i < LONG_JOBS else 0.0) for i in range(TOTAL)
    ]
    await dispatcher.dispatch_many(tasks)

    ghost = await driver.reserve(
        ["default"], limit=GHOST_JOBS, worker_id="ghost", lease_seconds=1.0
    )
    assert len(ghost) == GHOST_JOBS

    with worker_processes(backend, tmp_path, 4) as logs:
        await wait_completed(driver, TOTAL, 120, logs)

    # the ghost's leases lapsed and its jobs ran elsewhere: it cannot complete them
    late = [Completed(job.id, "ghost", job.attempts) for job in ghost]
    assert await driver.settle(late) == [False] * GHOST_JOBS

    counts = Counter(recorded(log))
    assert len(counts) == TOTAL and set(counts.values()) == {1}, counts.most_common(3)
    jobs = await driver.list_jobs("default", JobState.COMPLETED, limit=TOTAL + 1)
    assert len(jobs) == TOTAL
    ghost_ids = {job.id for job in ghost}
    attempts = Counter((job.id in ghost_ids, job.attempts) for job in jobs)
    assert attempts == {(False, 1): TOTAL - GHOST_JOBS, (True, 2): GHOST_JOBS}
    for path in logs:  # no worker had an outcome refused
        refused = REFUSED.findall(path.read_text())
        assert not refused, refused[:5]


@pytest.mark.slow
@only_backends("mysql")
async def test_a_worker_whose_connections_are_killed_loses_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    log = str(tmp_path / "effects.log")
    driver = await backend.new_driver(keep_completed=True)
    total = 3000
    await Dispatcher(driver, backend.config()).dispatch_many(
        [Record(key=f"k{i}", log=log, seconds=0.002) for i in range(total)]
    )
    killed = 0
    with worker_processes(backend, tmp_path, 2) as logs:
        for _ in range(10):  # kill every connection to the queue, ours included
            await asyncio.sleep(0.3)
            killed += await kill_connections(backend.database)  # type: ignore[attr-defined]
        await wait_completed(driver, total, 120, logs)
    assert killed >= 10
    assert set(recorded(log)) == {f"k{i}" for i in range(total)}
    stats = await driver.stats("default")
    assert (stats.completed, stats.depth, stats.processing, stats.failed) == (total, 0, 0, 0)
