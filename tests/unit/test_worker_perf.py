"""The worker's default prefetch follows the work: it claims ahead of its free slots
for very short jobs, and only its free slots for long ones."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from asynctasq import AsyncTask, Config, Worker
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker.prefetch import Prefetch
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.jobs import Job


class Quick(AsyncTask[None], name="tests.perf.Quick"):
    async def execute(self) -> None:
        pass


class Long(AsyncTask[None], name="tests.perf.Long"):
    async def execute(self) -> None:
        await asyncio.sleep(0.05)


class ClaimSizes(MemoryDriver):
    """The memory broker, remembering how many jobs each claim asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.limits: list[int] = []

    async def reserve(self, queues: Sequence[str], **options: Any) -> list[Job]:  # type: ignore[override]
        self.limits.append(options["limit"])
        await asyncio.sleep(0.001)  # a round trip, as to any broker over a network
        return await super().reserve(queues, **options)


async def drain(task: type[AsyncTask[None]], count: int, **options: object) -> ClaimSizes:
    driver = ClaimSizes()
    await driver.connect()
    await Dispatcher(driver, Config()).dispatch_many(task() for _ in range(count))
    worker = Worker(driver, ["default"], config=Config(), burst=True, handle_signals=False,
                    **options)  # type: ignore[arg-type]  # fmt: skip
    await asyncio.wait_for(worker.start(), 60)
    assert worker.processed == count
    return driver


async def test_short_jobs_are_claimed_ahead_of_free_slots() -> None:
    driver = await drain(Quick, 3000, concurrency=10)
    assert max(driver.limits) > 10  # more than the slots: claimed ahead
    assert max(driver.limits) <= 10 + Prefetch(10).most


async def test_long_jobs_are_claimed_for_free_slots_only() -> None:
    driver = await drain(Long, 40, concurrency=4)
    assert max(driver.limits) <= 4


async def test_a_fixed_prefetch_is_kept() -> None:
    driver = await drain(Quick, 500, concurrency=5, prefetch=0)
    assert max(driver.limits) <= 5
    driver = await drain(Quick, 500, concurrency=5, prefetch=7)
    assert max(driver.limits) == 12


def test_the_estimate_follows_rate_and_round_trip() -> None:
    prefetch = Prefetch(concurrency=10)
    assert prefetch.ahead == 0 and prefetch.most == 100
    now, done = 0.0, 0
    for _ in range(50):  # 20,000 jobs/s, 2 ms claims
        now, done = now + 0.005, done + 100
        prefetch.claimed(100, 0.002, now, done)
    assert 70 <= prefetch.ahead <= 90  # 20,000/s x 2 ms x 2 = 80
    for _ in range(50):  # 10 jobs/s: long jobs
        now, done = now + 1.0, done + 10
        prefetch.claimed(10, 0.002, now, done)
    assert prefetch.ahead == 0
    prefetch.claimed(0, 0.9, now + 1, done)  # a claim that waited for work
    assert prefetch.ahead == 0
    assert Prefetch(concurrency=500).most == 1000
    assert Prefetch(concurrency=10, fixed=3).ahead == 3


class ClaimCount(MemoryDriver):
    """The memory broker, counting the claims a worker starts."""

    def __init__(self) -> None:
        super().__init__()
        self.claims = 0

    async def reserve(self, queues: Sequence[str], **options: Any) -> list[Job]:
        self.claims += 1
        return await super().reserve(queues, **options)


claims_at_first_line: list[int] = []
counting = ClaimCount()


class SeesClaims(AsyncTask[None], name="tests.perf.SeesClaims"):
    async def execute(self) -> None:
        claims_at_first_line.append(counting.claims)


async def test_an_idle_workers_job_starts_before_its_next_claim() -> None:
    """Idle latency: the job an idle worker's claim returned reaches its first line
    before the worker starts its next claim (packing and sending one first costs the
    job a broker call's worth of Python on a real broker)."""
    await counting.connect()
    worker = Worker(counting, ["default"], config=Config(), handle_signals=False)
    running = asyncio.create_task(worker.start())
    try:
        while counting.claims < 2:  # the first claim found nothing: it waits
            await asyncio.sleep(0.01)
        waiting = counting.claims
        await Dispatcher(counting, Config()).dispatch(SeesClaims())
        while not claims_at_first_line:
            await asyncio.sleep(0.001)
        assert claims_at_first_line == [waiting]
    finally:
        worker.stop()
        await asyncio.wait_for(running, 10)
