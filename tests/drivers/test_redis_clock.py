"""Redis reads every time from its clock: a ManualClock moves the Lua scripts too.

No script asks the server for the time (``TIME``): due times, leases, renewals,
recovery and the burial of a corrupt record all use the time the client sends, so
a test moves time instead of sleeping, and a server whose clock differs from the
workers' changes nothing.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from asynctasq.clock import ManualClock
from asynctasq.drivers.keys import QUEUE_KEYS
from asynctasq.drivers.redis import RedisDriver
from asynctasq.drivers.redis.scripts import LUA_DIR
from asynctasq.jobs import JobState, WorkerInfo
from asynctasq.testing.conformance.contract import W1, make_job
from tests.backends import Backend
from tests.conftest import only_backends

REDIS = ("redis", "redis-cluster")
#: far from the real time, so a script reading the server's clock would show
START = 1_500_000_000.0


async def _manual(backend: Backend) -> tuple[RedisDriver, ManualClock]:
    clock = ManualClock(START)
    driver = await backend.new_driver(clock=clock)
    assert isinstance(driver, RedisDriver)
    return driver, clock


def test_no_script_reads_the_servers_clock() -> None:
    for path in LUA_DIR.glob("*.lua"):
        assert not re.search(r"""["']TIME["']""", path.read_text()), path.name


@only_backends(*REDIS)
async def test_a_scheduled_job_comes_due_when_the_clock_says(backend: Backend) -> None:
    driver, clock = await _manual(backend)
    job = make_job(run_at=START + 3600)
    await driver.enqueue([job])
    claim = {"limit": 5, "worker_id": W1, "lease_seconds": 30.0}
    assert await driver.claim(["default"], **claim) == []
    assert await driver.next_due(["default"]) == START + 3600
    assert [j.state for j in await driver.list_jobs("default")] == [JobState.SCHEDULED]
    clock.advance(3600)
    (got,) = await driver.claim(["default"], **claim)
    assert got.id == job.id and got.lease_until == START + 3600 + 30


@only_backends(*REDIS)
async def test_leases_renewals_and_recovery_follow_the_clock(backend: Backend) -> None:
    driver, clock = await _manual(backend)
    await driver.enqueue([make_job(max_attempts=3, run_at=START)])
    (job,) = await driver.claim(["default"], limit=1, worker_id=W1, lease_seconds=10)
    assert job.lease_until == START + 10
    clock.advance(8)
    assert await driver.renew(W1, [job.id], 10) == [job.id]
    (active,) = await driver.list_jobs("default", JobState.ACTIVE)
    assert active.lease_until == START + 18
    clock.advance(9)  # 17: still within the renewed lease
    assert (await driver.recover_expired()).requeued == 0
    clock.advance(2)  # 19: lapsed
    assert (await driver.recover_expired()).requeued == 1
    (again,) = await driver.claim(["default"], limit=1, worker_id=W1, lease_seconds=10)
    assert (again.attempts, again.run_at, again.lease_until) == (2, START + 19, START + 29)


@only_backends("redis")
async def test_the_claim_that_rides_with_a_wake_up_uses_the_clock(backend: Backend) -> None:
    """The claim script sent right behind the BLPOP carries the client's time."""
    consumer, clock = await _manual(backend)
    producer = await backend.new_driver(clock=clock)
    waiter = asyncio.create_task(
        consumer.reserve(["default"], limit=1, worker_id=W1, lease_seconds=40, wait=5)
    )
    await asyncio.sleep(0.1)  # the BLPOP and its claim are on their way
    await producer.enqueue([job := make_job(run_at=START)])
    (got,) = await asyncio.wait_for(waiter, 5)
    assert got.id == job.id and got.lease_until == START + 40
    assert await consumer.complete(got)


@only_backends(*REDIS)
async def test_a_corrupt_record_is_buried_at_the_clocks_time(backend: Backend) -> None:
    driver, clock = await _manual(backend)
    await driver.enqueue([job := make_job(run_at=START)])
    (held,) = await driver.claim(["default"], limit=1, worker_id=W1, lease_seconds=30)
    jobs_key = driver.keys.queue("default")[QUEUE_KEYS.index("jobs")]
    client: Any = driver.client
    await client.hset(jobs_key, job.id, b"\xc1 not a record")
    clock.advance(5)
    assert await driver.renew(W1, [held.id], 30) == []  # renew.lua buries it
    got = await driver.get(job.id)
    assert got is not None and got.state is JobState.FAILED
    assert got.finished_at == START + 5


@only_backends("redis")
@pytest.mark.parametrize("operation", ["get", "set_progress"])
async def test_get_and_progress_bury_at_the_clocks_time(backend: Backend, operation: str) -> None:
    driver, clock = await _manual(backend)
    await driver.enqueue([job := make_job(run_at=START)])
    await driver.claim(["default"], limit=1, worker_id=W1, lease_seconds=30)
    jobs_key = driver.keys.queue("default")[QUEUE_KEYS.index("jobs")]
    client: Any = driver.client
    await client.hset(jobs_key, job.id, b"\xc1 not a record")
    clock.advance(7)
    if operation == "get":
        await driver.get(job.id)
    else:
        assert await driver.set_progress(job.id, W1, 0.5) is False
    failed_key = driver.keys.queue("default")[QUEUE_KEYS.index("failed")]
    assert await client.zscore(failed_key, job.id) == START + 7


@only_backends("redis")
async def test_heartbeats_expire_by_the_clock(backend: Backend) -> None:
    driver, clock = await _manual(backend)
    info = WorkerInfo(W1, "host", 1, ("default",), 4, 0, START, START)
    await driver.heartbeat(info, ttl=30)
    (seen,) = await driver.list_workers()
    assert seen.last_seen == START
    clock.advance(31)
    assert await driver.list_workers() == []


@only_backends("redis")
async def test_a_lease_granted_behind_a_blpop_is_short_by_a_quarter_at_most(
    backend: Backend,
) -> None:
    """That claim dates its lease from when it was sent: the BLPOP before it blocks
    for a quarter of the lease at most, then the claim is sent again."""
    consumer = await backend.new_driver()
    producer = await backend.new_driver()
    waiter = asyncio.create_task(
        consumer.reserve(["default"], limit=1, worker_id=W1, lease_seconds=0.8, wait=3)
    )
    await asyncio.sleep(0.7)  # several BLPOPs (0.2 s each) came and went
    await producer.enqueue([make_job()])
    (got,) = await asyncio.wait_for(waiter, 5)
    assert got.lease_until is not None
    assert got.lease_until - time.time() > 0.5  # a BLPOP of a second: below 0.1
