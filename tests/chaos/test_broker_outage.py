"""The broker goes away mid-run: Redis restarted (its own server, AOF on, stopped
once gracefully and once with kill -9), PostgreSQL connections terminated
(pg_terminate_backend on this test's connections only). Workers ride it out:
every job completes, nothing is lost."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.drivers.base import Driver
from asynctasq.jobs import JobState
from tests.backends import Backend
from tests.backends_postgres import dsn_with
from tests.backends_redis import RedisServer
from tests.chaos.fleet import ChaosReport, Fleet, all_jobs
from tests.conftest import only_backends
from tests.sample_tasks import Record, recorded

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

JOBS = 3000
WORK = 0.01


async def enqueue(driver: Driver, config: Config, log: Path) -> list[str]:
    dispatcher = Dispatcher(driver, config.replace(default_max_retries=50))
    tasks = [Record(key=f"j{i}", log=str(log), seconds=WORK) for i in range(JOBS)]
    ids: list[str] = []
    for start in range(0, JOBS, 1000):
        ids += await dispatcher.dispatch_many(tasks[start : start + 1000])
    return ids


async def ride_out(
    driver: Driver,
    fleet: Fleet,
    log: Path,
    outages: list[Callable[[], Awaitable[Any]]],
) -> float:
    """Run one outage each time another share of the jobs is done, then wait for the
    queue to drain; returns the seconds it all took."""
    started = time.monotonic()
    for index, outage in enumerate(outages, start=1):
        target = JOBS * index // (len(outages) + 1)
        while len(recorded(str(log))) < target:
            assert time.monotonic() - started < 120, fleet.logs()
            await asyncio.sleep(0.05)
        await outage()
    while True:
        assert time.monotonic() - started < 150, fleet.logs()
        try:
            stats = await driver.stats("default")
        except Exception:  # our own connection may still be reconnecting
            await asyncio.sleep(0.2)
            continue
        if not (stats.depth or stats.scheduled or stats.processing):
            return time.monotonic() - started
        await asyncio.sleep(0.2)


async def check_nothing_lost(
    driver: Driver, ids: list[str], log: Path, report: ChaosReport
) -> None:
    completed = await all_jobs(driver, "default", JobState.COMPLETED)
    report.completed = len(completed)
    report.retried_attempts = sum(1 for job in completed if job.attempts > 1)
    report.runs = Counter(recorded(str(log)))
    assert {job.id for job in completed} == set(ids), report
    assert report.lost == 0, report
    assert await driver.list_jobs("default", JobState.FAILED) == []


def worker_env(config_env: dict[str, str]) -> dict[str, str]:
    return {
        **config_env,
        "ASYNCTASQ_LEASE_SECONDS": "3",
        "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true",
        "ASYNCTASQ_CONCURRENCY": "10",
        "ASYNCTASQ_LOG_LEVEL": "INFO",
    }


async def test_redis_restarted_twice_mid_run_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # appendfsync always: a write Redis acknowledged survives even its kill -9
    server = RedisServer(tmp_path / "redis", "--appendonly", "yes", "--appendfsync", "always")
    server.start()
    config = Config(driver="redis", redis_url=server.url, redis_prefix="chaos")
    env = worker_env(
        {
            "ASYNCTASQ_DRIVER": "redis",
            "ASYNCTASQ_REDIS_URL": server.url,
            "ASYNCTASQ_REDIS_PREFIX": "chaos",
        }
    )
    driver = DriverFactory.create_from_config(config.replace(keep_completed_tasks=True))
    await driver.connect()
    fleet = Fleet(env, 2, log_dir=tmp_path)

    async def restart(*, kill: bool) -> None:
        server.stop(kill=kill)
        await asyncio.sleep(2)  # down long enough for every worker to notice
        server.start()

    try:
        log = tmp_path / "effects.log"
        ids = await enqueue(driver, config, log)
        fleet.start()
        elapsed = await ride_out(
            driver,
            fleet,
            log,
            [lambda: restart(kill=False), lambda: restart(kill=True)],
        )
        assert fleet.stop() == [0, 0], fleet.logs()
        report = ChaosReport("redis restart", JOBS, outages=2, seconds=elapsed)
        await check_nothing_lost(driver, ids, log, report)
        with capsys.disabled():
            print(f"\n{report}")
    finally:
        fleet.kill_all()
        await driver.disconnect()
        server.stop(kill=True)


@only_backends("postgres")
async def test_postgres_connections_terminated_mid_run_lose_nothing(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncpg

    # the workers' connections carry a name of their own: only they are terminated
    application = f"asynctasq-chaos-{backend.namespace}"
    dsn: str = backend.dsn  # type: ignore[attr-defined]
    env = worker_env(
        {**backend.env(), "ASYNCTASQ_POSTGRES_DSN": dsn_with(dsn, application_name=application)}
    )
    driver = await backend.new_driver(keep_completed=True)
    fleet = Fleet(env, 2, log_dir=tmp_path)
    terminated: list[int] = []

    async def terminate() -> None:
        admin = await asyncpg.connect(dsn)
        try:
            for _ in range(2):  # twice, a moment apart: reconnecting ones too
                count = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = $1",
                    application,
                )
                terminated.append(count)
                await asyncio.sleep(0.3)
        finally:
            await admin.close()

    try:
        log = tmp_path / "effects.log"
        ids = await enqueue(driver, backend.config(), log)
        fleet.start()
        elapsed = await ride_out(driver, fleet, log, [terminate, terminate, terminate])
        assert fleet.stop() == [0, 0], fleet.logs()
    finally:
        fleet.kill_all()
    assert sum(terminated) >= 6, terminated  # there were connections to cut
    report = ChaosReport("postgres terminate", JOBS, outages=len(terminated), seconds=elapsed)
    await check_nothing_lost(driver, ids, log, report)
    with capsys.disabled():
        print(f"\n{report} ({sum(terminated)} connections terminated)")
