"""Redis going away: a server of the test's own (never the shared one) is killed
mid-run and restarted from its append-only file; workers reconnect and finish
every job. And a server that lost its script cache (restart, failover, SCRIPT
FLUSH) gets the scripts again on the first call that needs them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asynctasq.config import Config
from asynctasq.drivers.redis import RedisDriver
from asynctasq.jobs import Completed, JobState
from asynctasq.testing.conformance.contract import make_job, reserve
from tests.backends_redis import RedisServer
from tests.drivers.test_redis_workers import (
    MODULE,
    Tick,
    check_every_result_is_its_last_attempt,
    dispatch,
    wait_until_completed,
)
from tests.sample_tasks import recorded
from tests.workers import spawn_worker, stop, wait_until


@pytest.fixture
def server(tmp_path: Path) -> AsyncIterator[RedisServer]:  # type: ignore[misc]
    # appendfsync always: a write is on disk before Redis answers it, so a kill -9
    # loses nothing acknowledged (docs/drivers/redis.md: everysec loses up to 1 s)
    own = RedisServer(tmp_path / "redis", "--appendonly", "yes", "--appendfsync", "always")
    own.start()
    try:
        yield own  # type: ignore[misc]
    finally:
        own.stop(kill=True)


async def test_scripts_come_back_after_the_server_forgets_them(server: RedisServer) -> None:
    driver = RedisDriver(server.url, prefix="flush")
    await driver.connect()
    try:
        await driver.enqueue([make_job()])
        assert await reserve(driver, wait=0.05)  # and a wake-up wait stays pending
        server.cli("script", "flush")
        await driver.enqueue([make_job(payload=str(i).encode()) for i in range(2500)])
        await driver.enqueue([make_job("other")])
        server.cli("script", "flush")
        jobs = await reserve(driver, ["default", "other"], limit=3000)
        assert len(jobs) == 2501
        server.cli("script", "flush")
        outcomes = [Completed(j.id, j.worker_id or "", j.attempts, queue=j.queue) for j in jobs]
        assert all(await driver.settle(outcomes))
        server.cli("script", "flush")
        waiter = asyncio.create_task(reserve(driver, wait=5))
        await asyncio.sleep(0.1)
        await driver.enqueue([job := make_job()])
        assert [j.id for j in await asyncio.wait_for(waiter, 5)] == [job.id]
    finally:
        await driver.disconnect()


@pytest.mark.slow
async def test_workers_ride_out_a_redis_crash_and_restart(
    server: RedisServer, tmp_path: Path
) -> None:
    total = 3000
    log = str(tmp_path / "runs.log")
    config = Config(
        driver="redis", redis_url=server.url, redis_prefix="restart", keep_completed_tasks=True
    )
    env = {
        "ASYNCTASQ_DRIVER": "redis",
        "ASYNCTASQ_REDIS_URL": server.url,
        "ASYNCTASQ_REDIS_PREFIX": "restart",
        "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true",
        "ASYNCTASQ_LOG_LEVEL": "INFO",
        # a claim whose reply the crash lost leaves its jobs active with no worker to
        # run them: they come back when their lease lapses (the default would hold the
        # test a minute for them)
        "ASYNCTASQ_LEASE_SECONDS": "5",
    }
    driver = RedisDriver.from_config(config)
    await driver.connect()
    ids = await dispatch(config, driver, [Tick(log=log, seconds=0.02) for _ in range(total)])
    workers = [
        spawn_worker(
            env, "--concurrency", "10", imports=MODULE, log_path=tmp_path / f"worker-{i}.log"
        )
        for i in range(2)
    ]
    try:
        wait_until(lambda: len(recorded(log)) >= total // 4, 60, "a quarter of the jobs")
        server.stop(kill=True)  # a crash: no shutdown, no final AOF rewrite
        crashed_at = len(recorded(log))
        time.sleep(1.5)  # the workers meet the outage
        server.start()
        await wait_until_completed(driver, "default", total, 120, tmp_path)
    finally:
        codes = [stop(w) for w in workers]
        await driver.disconnect()
    assert codes == [0, 0]
    assert crashed_at < total  # the crash really came mid-run

    await driver.connect()
    try:
        stats = await driver.stats("default")
        assert (stats.depth, stats.processing, stats.failed) == (0, 0, 0)
        await check_every_result_is_its_last_attempt(driver, "default", total)
        assert await driver.list_jobs("default", JobState.PENDING) == []
    finally:
        await driver.disconnect()
    runs = Counter(line.split(":")[0] for line in recorded(log))
    assert set(runs) == set(ids)
    logs = "".join(p.read_text() for p in tmp_path.glob("worker-*.log"))
    assert "cannot reserve jobs" in logs  # the workers saw the outage and said so
    assert "broker reachable again" in logs  # and came back
