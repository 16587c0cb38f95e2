"""Concurrency keys (capability ConcurrencyKeys, docs/flow-control.md) on every broker
that declares it: at most ``max_concurrency`` active jobs hold the slots of one key,
keys are independent, a slot whose job is no longer active (settled, or its worker
crashed and the lease lapsed) frees itself; and with several workers the limit holds,
as the tasks' own start and end times show. RabbitMQ lacks the capability: a
dispatch with a key is refused with CapabilityMissing.
"""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

import pytest

from asynctasq import AsyncTask, Worker
from asynctasq.clock import ManualClock
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import CapabilityMissing, ConcurrencyKeys, Inspection
from asynctasq.jobs import Job, JobState
from tests.backends import Backend
from tests.conftest import only_backends, skip_without

LEASE = 30.0


async def _slots(backend: Backend) -> tuple[ConcurrencyKeys, Driver, ManualClock]:
    skip_without(backend, ConcurrencyKeys)
    clock = ManualClock(time.time())
    driver = await backend.new_driver(clock=clock)
    assert isinstance(driver, ConcurrencyKeys)
    return driver, driver, clock


async def _active(
    driver: Driver, clock: ManualClock, n: int, worker: str = "w1", lease: float = LEASE
) -> list[Job]:
    jobs = [Job(task="t", payload=b"", run_at=clock.time() - 1, max_attempts=3) for _ in range(n)]
    await driver.enqueue(jobs)
    claimed = await driver.claim(["default"], limit=n, worker_id=worker, lease_seconds=lease)
    assert len(claimed) == n
    return sorted(claimed, key=lambda j: j.id)


async def test_a_key_holds_at_most_its_limit_and_keys_are_independent(backend: Backend) -> None:
    slots, driver, clock = await _slots(backend)
    a, b, c, d, e = await _active(driver, clock, 5)
    assert await slots.acquire_slot(a, "acct:1", 2)
    assert await slots.acquire_slot(b, "acct:1", 2)
    assert not await slots.acquire_slot(c, "acct:1", 2)  # full
    assert await slots.acquire_slot(a, "acct:1", 2)  # a holds one already
    assert await slots.acquire_slot(c, "acct:2", 1)  # another key: its own slots
    assert not await slots.acquire_slot(d, "acct:2", 1)
    await slots.release_slot(a, "acct:1")
    assert await slots.acquire_slot(d, "acct:1", 2)
    assert not await slots.acquire_slot(e, "acct:1", 2)
    # b ends without giving its slot back (its worker's release was lost): the slot of
    # a job that is no longer active frees itself
    assert await driver.complete(b)
    assert await slots.acquire_slot(e, "acct:1", 2)


async def test_a_crashed_workers_slot_is_recovered_with_its_lease(backend: Backend) -> None:
    slots, driver, clock = await _slots(backend)
    (crashed,) = await _active(driver, clock, 1, worker="w-crashed")
    assert await slots.acquire_slot(crashed, "sync", 1)
    clock.advance(LEASE / 2)
    (waiting,) = await _active(driver, clock, 1, worker="w2", lease=10 * LEASE)
    assert not await slots.acquire_slot(waiting, "sync", 1)
    clock.advance(LEASE)  # the crashed worker never renews: its lease lapses
    assert (await driver.recover_expired()).requeued == 1
    assert await slots.acquire_slot(waiting, "sync", 1)


async def test_a_job_whose_key_is_full_goes_back_without_counting(backend: Backend) -> None:
    skip_without(backend, ConcurrencyKeys, Inspection)
    Synced.spans.clear()
    producer = await backend.new_driver()
    config = backend.config()
    dispatcher = Dispatcher(producer, config)
    first = await dispatcher.dispatch(Synced(account=1, n=0))
    (job,) = await producer.claim(["synced"], limit=1, worker_id="other", lease_seconds=60)
    assert job.id == first
    assert isinstance(producer, ConcurrencyKeys)
    assert await producer.acquire_slot(job, "account:1", 1)  # the slot is held elsewhere
    second = await dispatcher.dispatch(Synced(account=1, n=1))
    worker = Worker(await backend.new_driver(), ["synced"], config=config, handle_signals=False)
    running = asyncio.create_task(worker.start())
    try:
        for _ in range(500):
            got = await producer.get(second)
            if got is not None and got.state is JobState.SCHEDULED:
                break
            await asyncio.sleep(0.01)
    finally:
        worker.stop()
        await asyncio.wait_for(running, 20)
    assert isinstance(producer, Inspection)
    got = await producer.get(second)
    assert got is not None
    assert got.state in (JobState.SCHEDULED, JobState.PENDING)  # back: it did not run
    assert got.attempts == 0
    assert Synced.spans == []


class Synced(AsyncTask[None]):
    config = {
        "queue": "synced",
        "concurrency_key": lambda t: f"account:{t.account}",
        "max_concurrency": 1,
    }
    spans: ClassVar[list[tuple[str, float, float]]] = []
    account: int
    n: int

    async def execute(self) -> None:
        start = time.monotonic()
        await asyncio.sleep(0.03)
        Synced.spans.append((f"account:{self.account}", start, time.monotonic()))


class Pair(AsyncTask[None]):
    config = {"queue": "synced", "concurrency_key": "pair", "max_concurrency": 2}
    n: int

    async def execute(self) -> None:
        start = time.monotonic()
        await asyncio.sleep(0.03)
        Synced.spans.append(("pair", start, time.monotonic()))


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    most = running = 0
    for _, step in edges:  # an end before a start at the same instant
        running += step
        most = max(most, running)
    return most


@pytest.mark.timeout(90)
async def test_several_workers_never_exceed_a_key(backend: Backend) -> None:
    skip_without(backend, ConcurrencyKeys, Inspection)
    Synced.spans.clear()
    producer = await backend.new_driver()
    config = backend.config()
    dispatcher = Dispatcher(producer, config)
    tasks: list[AsyncTask[None]] = [Synced(account=a, n=n) for n in range(5) for a in (1, 2)]
    tasks += [Pair(n=n) for n in range(6)]
    for task in tasks:
        await dispatcher.dispatch(task)
    workers = [
        Worker(await backend.new_driver(), ["synced"], config=config, handle_signals=False)
        for _ in range(3)
    ]
    running = [asyncio.create_task(w.start()) for w in workers]
    try:
        for _ in range(3000):
            if len(Synced.spans) == len(tasks):
                break
            await asyncio.sleep(0.01)
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.wait_for(asyncio.gather(*running), 30)
    assert len(Synced.spans) == len(tasks)
    limits = {"account:1": 1, "account:2": 1, "pair": 2}
    for key, limit in limits.items():
        spans = [(s, e) for k, s, e in Synced.spans if k == key]
        assert 1 <= _most_at_once(spans) <= limit, (key, spans)


@only_backends("rabbitmq")
async def test_a_broker_without_slots_refuses_a_key_at_dispatch(backend: Backend) -> None:
    dispatcher = Dispatcher(await backend.new_driver(), backend.config())
    with pytest.raises(CapabilityMissing, match="ConcurrencyKeys"):
        await dispatcher.dispatch(Synced(account=1, n=0))
