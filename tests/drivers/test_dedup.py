"""Deduplication modes (``unique_mode=``, asynctasq/dedup.py, docs/flow-control.md) on
every broker with the Deduplication capability: until_started, throttle and debounce,
each decided in the enqueue's atomic step; the holder's id comes back for a refused
duplicate. The brokers get a ManualClock, moved instead of sleeping. RabbitMQ lacks
the capability and refuses such a job with CapabilityMissing.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from asynctasq.clock import ManualClock
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import (
    CapabilityMissing,
    Deduplication,
    Inspection,
    UniqueKeys,
)
from asynctasq.jobs import Job, JobState
from tests.backends import Backend
from tests.conftest import only_backends, skip_without

LEASE = 60.0


async def _driver(backend: Backend) -> tuple[Driver, ManualClock]:
    skip_without(backend, Deduplication, Inspection)
    clock = ManualClock(time.time())
    return await backend.new_driver(clock=clock), clock


def _job(clock: ManualClock, key: str, mode: str, window: float | None = None, **kw: object) -> Job:
    return Job(
        task="t",
        payload=kw.pop("payload", b"\x81\xa4args\x80"),  # type: ignore[arg-type]
        run_at=kw.pop("run_at", clock.time()),  # type: ignore[arg-type]
        created_at=clock.time(),
        unique_key=key,
        unique_mode=mode,
        unique_for=window,
        **kw,  # type: ignore[arg-type]
    )


async def _claim(driver: Driver) -> list[Job]:
    return await driver.claim(["default"], limit=10, worker_id="w1", lease_seconds=LEASE)


async def _get(driver: Driver, job_id: str) -> Job:
    assert isinstance(driver, Inspection)
    job = await driver.get(job_id)
    assert job is not None
    return job


async def test_until_started_refuses_while_the_first_waits(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    first = _job(clock, "sync:1", "until_started")
    assert await driver.enqueue([first]) == [first.id]
    dup, other = _job(clock, "sync:1", "until_started"), _job(clock, "sync:2", "until_started")
    assert await driver.enqueue([dup, other]) == [first.id, other.id]
    claimed = {job.id for job in await _claim(driver)}
    assert claimed == {first.id, other.id}  # the refused duplicate was never stored
    # the first runs: the key is free for a new job, which then holds it while it waits
    assert await driver.enqueue([dup]) == [dup.id]
    late = _job(clock, "sync:1", "until_started")
    assert await driver.enqueue([late]) == [dup.id]


async def test_until_started_holds_for_a_scheduled_job(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    first = _job(clock, "k", "until_started", run_at=clock.time() + 30)
    assert await driver.enqueue([first]) == [first.id]
    assert (await _get(driver, first.id)).state is JobState.SCHEDULED
    assert await driver.enqueue([_job(clock, "k", "until_started")]) == [first.id]


async def test_throttle_holds_one_job_per_window_whatever_its_state(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    first = _job(clock, "report", "throttle", 60)
    assert await driver.enqueue([first]) == [first.id]
    (claimed,) = await _claim(driver)
    await driver.complete(claimed)
    clock.advance(30)
    dup = _job(clock, "report", "throttle", 60)
    assert await driver.enqueue([dup]) == [first.id]  # finished, but within its window
    clock.advance(31)
    assert await driver.enqueue([dup]) == [dup.id]  # a new window
    assert await driver.enqueue([_job(clock, "report", "throttle", 60)]) == [dup.id]


async def test_the_recovery_sweep_drops_only_passed_throttle_locks(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    old, young = _job(clock, "old", "throttle", 10), _job(clock, "young", "throttle", 100)
    await driver.enqueue([old, young])
    clock.advance(11)
    await driver.recover_expired()  # (sweeps at most every few seconds: the first call does)
    assert await driver.enqueue([again := _job(clock, "old", "throttle", 10)]) == [again.id]
    assert await driver.enqueue([_job(clock, "young", "throttle", 100)]) == [young.id]


async def test_debounce_the_last_dispatch_in_a_window_wins(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    now = clock.time()
    first = _job(clock, "search:7", "debounce", 10, payload=b"first", run_at=now + 10)
    assert await driver.enqueue([first]) == [first.id]
    clock.advance(4)
    second = _job(clock, "search:7", "debounce", 10, payload=b"second", run_at=now + 14)
    assert await driver.enqueue([second]) == [first.id]
    got = await _get(driver, first.id)
    assert got.payload == b"second"
    assert got.run_at == pytest.approx(now + 14)
    assert got.state is JobState.SCHEDULED
    clock.advance(7)  # now + 11: the first run_at passed, the pushed one has not
    assert await _claim(driver) == []
    clock.advance(4)
    (claimed,) = await _claim(driver)
    assert (claimed.id, claimed.payload) == (first.id, b"second")
    # it runs: a new dispatch starts a new window with a job of its own
    third = _job(clock, "search:7", "debounce", 10, run_at=clock.time() + 10)
    assert await driver.enqueue([third]) == [third.id]


async def test_concurrent_duplicates_store_one_job(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    drivers = [driver, *[await backend.new_driver(clock=clock) for _ in range(3)]]
    for mode, window in (("until_started", None), ("throttle", 60.0), ("debounce", 5.0)):
        key = f"race:{mode}"
        jobs = [_job(clock, key, mode, window, run_at=clock.time() + 5) for _ in range(8)]
        ids = await asyncio.gather(*(drivers[i % 4].enqueue([j]) for i, j in enumerate(jobs)))
        holders = {found[0] for found in ids}
        assert len(holders) == 1, (mode, ids)
        assert isinstance(driver, Inspection)
        waiting = await driver.list_jobs("default", JobState.SCHEDULED, limit=100)
        assert [job.id for job in waiting if job.id in {j.id for j in jobs}] == [*holders]


async def test_one_batch_holding_duplicates_stores_one(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    later = clock.time() + 30
    a, b = _job(clock, "b1", "until_started"), _job(clock, "b1", "until_started")
    c, d = _job(clock, "b2", "throttle", 60), _job(clock, "b2", "throttle", 60)
    e = _job(clock, "b3", "debounce", 30, run_at=later)
    f = _job(clock, "b3", "debounce", 30, run_at=later, payload=b"last")
    plain = Job(task="t", payload=b"")
    ids = await driver.enqueue([a, b, plain, c, d, e, f])
    assert ids == [a.id, a.id, plain.id, c.id, c.id, e.id, e.id]
    assert (await _get(driver, e.id)).payload == b"last"  # debounced within the batch


async def test_modes_leave_until_finished_keys_alone(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    skip_without(backend, UniqueKeys)
    plain = Job(task="t", payload=b"", unique_key="shared")
    moded = _job(clock, "shared", "until_started")
    assert await driver.enqueue([plain]) == [plain.id]
    assert await driver.enqueue([moded]) == [moded.id]  # two namespaces of keys


@only_backends("rabbitmq")
async def test_a_broker_without_deduplication_refuses_a_mode(backend: Backend) -> None:
    driver = await backend.new_driver()
    job = Job(task="t", payload=b"", unique_key="k", unique_mode="throttle", unique_for=5)
    with pytest.raises(CapabilityMissing, match="Deduplication"):
        await driver.enqueue([job])
