"""Real workers (``python -m asynctasq worker``, one process each) on PostgreSQL.

Four workers drain 20,000 jobs while some of them hang long enough for their leases
to expire: every job completes, and no completion from a lapsed lease is accepted.
Then the workers' connections are killed (pg_terminate_backend) mid-run, repeatedly:
nothing is lost.

The worker processes import this module for its tasks (``--import``).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from asynctasq import AsyncTask
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.base import Driver
from asynctasq.serialization.msgpack import default_serializer
from tests.backends import Backend
from tests.backends_postgres import DSN, dsn_with
from tests.conftest import only_backends
from tests.sample_tasks import record, recorded
from tests.workers import spawn_worker, stop

pytestmark = pytest.mark.slow

MODULE = "tests.drivers.test_postgres_workers"


class Tally(AsyncTask[int], name="pgtest.Tally"):
    """Records that it ran, after ``seconds``; returns the attempt that ran it, which
    the broker keeps as the job's result only if that attempt's completion counts."""

    config = {"max_attempts": 25}

    log: str
    seconds: float = 0.0

    async def execute(self) -> int:
        if self.seconds:
            await asyncio.sleep(self.seconds)
        record(self.log, str(self._task_id))
        return self._attempts


class HangOnce(AsyncTask[int], name="pgtest.HangOnce"):
    """On its first attempt, blocks its worker's event loop for longer than its lease
    and its timeout (a hung process: past the timeout the worker stops renewing the
    lease); later attempts finish at once."""

    config = {"max_attempts": 25, "timeout": 1.0}

    log: str
    seconds: float

    async def execute(self) -> int:
        if self._attempts == 1:
            time.sleep(self.seconds)  # blocking the loop is the point
        record(self.log, str(self._task_id))
        return self._attempts


async def dispatch(backend: Backend, driver: Driver, tasks: list[Any]) -> list[str]:
    dispatcher = Dispatcher(driver, backend.config())
    ids: list[str] = []
    for i in range(0, len(tasks), 5000):
        ids += await dispatcher.dispatch_many(tasks[i : i + 5000])
    return ids


async def wait_for_completion(driver: Driver, total: int, timeout: float, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while (stats := await driver.stats("default")).completed < total:
        if time.monotonic() > deadline:
            raise AssertionError(f"{stats} after {timeout}s\n{tail(logs)}")
        await asyncio.sleep(0.25)


def tail(folder: Path, lines: int = 30) -> str:
    return "\n".join(
        f"--- {path.name}\n" + "\n".join(path.read_text().splitlines()[-lines:])
        for path in sorted(folder.glob("worker-*.log"))
    )


def start_workers(
    backend: Backend, logs: Path, count: int, concurrency: int, **env: str
) -> list[subprocess.Popen[bytes]]:
    """Workers keeping completed jobs (their result tells which attempt counted), with
    leases short enough that lapsed ones are recovered within the test."""
    settings = {**backend.env(), "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true", **env}
    options = ("--lease-seconds", "2", "--concurrency", str(concurrency))
    return [
        spawn_worker(settings, *options, imports=MODULE, log_path=logs / f"worker-{i}.log")
        for i in range(count)
    ]


async def assert_all_completed(driver: Driver, total: int) -> None:
    stats = await driver.stats("default")
    assert (stats.completed, stats.failed, stats.depth, stats.processing) == (total, 0, 0, 0)


async def final_rows(backend: Backend) -> list[Any]:
    con = await asyncpg.connect(DSN)
    try:
        return await con.fetch(
            f'SELECT id, task, state, attempts, result FROM "{backend.schema}".jobs'  # type: ignore[attr-defined]
        )
    finally:
        await con.close()


@only_backends("postgres")
async def test_four_workers_drain_20000_jobs_while_leases_lapse(
    backend: Backend, tmp_path: Path
) -> None:
    driver = await backend.new_driver(keep_completed=True)
    log = str(tmp_path / "ran.log")
    total = 20_000
    tasks: list[Any] = [Tally(log=log) for _ in range(total)]
    # three hangs (one worker at least is always free to take their jobs over), spread
    # through the queue so they happen while the others are busy
    for position in (1_000, 7_000, 13_000):
        tasks[position] = HangOnce(log=log, seconds=4.0)
    ids = await dispatch(backend, driver, tasks)
    workers = start_workers(backend, tmp_path, count=4, concurrency=50)
    try:
        await wait_for_completion(driver, total, 150, tmp_path)
    finally:
        codes = [stop(worker) for worker in workers]
    assert codes == [0, 0, 0, 0], tail(tmp_path)
    await assert_all_completed(driver, total)
    rows = await final_rows(backend)
    assert len(rows) == total and {row["id"] for row in rows} == set(ids)
    # the completion that counted came from the job's last attempt: a worker whose
    # lease lapsed and was taken over never completed the job
    stale = [r["id"] for r in rows if default_serializer.loads(r["result"]) != r["attempts"]]
    assert stale == []
    hung = [r for r in rows if r["task"] == "pgtest.HangOnce"]
    assert len(hung) == 3 and all(r["attempts"] >= 2 for r in hung)
    ran = Counter(recorded(log))
    assert set(ran) == set(ids)  # at least once each
    # the hung workers did try to complete what they had lost, and were refused
    assert "rejected: its lease was lost" in tail(tmp_path, lines=10_000)


@only_backends("postgres")
async def test_killing_the_workers_connections_mid_run_loses_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    driver = await backend.new_driver(keep_completed=True)
    log = str(tmp_path / "ran.log")
    total = 5_000
    ids = await dispatch(backend, driver, [Tally(log=log, seconds=0.02) for _ in range(total)])
    tag = f"{backend.schema}_w"  # type: ignore[attr-defined]
    dsn = dsn_with(DSN, application_name=tag)  # marks the workers' connections
    workers = start_workers(backend, tmp_path, 3, 10, ASYNCTASQ_POSTGRES_DSN=dsn)
    killed = []
    con = await asyncpg.connect(DSN)
    try:
        deadline = time.monotonic() + 60
        while (await driver.stats("default")).completed < 200:  # everyone is at work
            assert time.monotonic() < deadline, tail(tmp_path)
            await asyncio.sleep(0.05)
        for _ in range(4):
            rows = await con.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = $1",
                tag,
            )
            killed.append(len(rows))
            await asyncio.sleep(0.4)
        assert (await driver.stats("default")).completed < total  # killed mid-run
        await wait_for_completion(driver, total, 120, tmp_path)
        assert all(w.poll() is None for w in workers), "a worker died with its connections"
    finally:
        await con.close()
        codes = [stop(worker) for worker in workers]
    assert codes == [0, 0, 0], tail(tmp_path)
    assert all(n >= 3 for n in killed), killed  # each time, every worker lost connections
    await assert_all_completed(driver, total)
    assert set(recorded(log)) == set(ids)
    assert "connection" in tail(tmp_path, lines=10_000).lower()  # they noticed
