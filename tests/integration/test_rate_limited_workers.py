"""A task's ``rate_limit`` holds across every worker of a broker: three workers
share one bucket, the jobs over the limit go back to the queue (due when the next
token is free, attempts not counted), and a broker without buckets refuses to start
a worker that serves a limited task. A queue's limit stored in the broker holds
workers started without it; 0 blocks the queue; per-key limits are independent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import ClassVar

import pytest

from asynctasq import AsyncTask, Worker, task
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker.middleware import rate_limits
from asynctasq.drivers.capabilities import CapabilityMissing, Inspection, RateLimits
from asynctasq.jobs import JobState
from asynctasq.operations import queue_rate_limits, set_queue_rate_limit
from asynctasq.queues import Queue
from asynctasq.ratelimit import RateLimit
from tests.backends import Backend
from tests.conftest import only_backends, skip_without

pytestmark = pytest.mark.timeout(60)

LIMIT, INTERVAL = 3, 3600.0  # so long that no token comes back while the test runs


class Limited(AsyncTask[None]):
    config = {"queue": "limited", "rate_limit": LIMIT, "rate_interval": INTERVAL}
    runs: ClassVar[list[int]] = []

    n: int

    async def execute(self) -> None:
        Limited.runs.append(self.n)


async def _scheduled(driver: Inspection) -> list[int]:
    jobs = await driver.list_jobs("limited", JobState.SCHEDULED)
    return [job.attempts for job in jobs]


async def test_three_workers_share_one_limit(backend: Backend) -> None:
    skip_without(backend, RateLimits, Inspection)
    Limited.runs.clear()
    producer = await backend.new_driver()
    assert isinstance(producer, Inspection)
    config = backend.config()
    for n in range(8):
        await Dispatcher(producer, config).dispatch(Limited(n=n))
    workers = [
        Worker(await backend.new_driver(), ["limited"], config=config, handle_signals=False)
        for _ in range(3)
    ]
    running = [asyncio.create_task(w.start()) for w in workers]
    try:
        for _ in range(1000):  # until every job ran or went back to wait for a token
            if len(Limited.runs) + len(await _scheduled(producer)) == 8:
                break
            await asyncio.sleep(0.02)
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.wait_for(asyncio.gather(*running), 20)
    assert len(Limited.runs) == LIMIT  # not LIMIT per worker: the bucket is the broker's
    assert await _scheduled(producer) == [0] * (8 - LIMIT)  # back, attempts not counted
    waiting = await producer.list_jobs("limited", JobState.SCHEDULED)
    assert min(job.run_at for job in waiting) > time.time() + INTERVAL / LIMIT / 2


@only_backends("rabbitmq")
async def test_a_broker_without_buckets_refuses_a_worker_of_a_limited_task(
    backend: Backend,
) -> None:
    worker = Worker(
        await backend.new_driver(), ["limited"], config=backend.config(), handle_signals=False
    )
    with pytest.raises(CapabilityMissing, match=r"rate limits \(RateLimits\).*Limited"):
        await worker.start()


class Plain(AsyncTask[None]):
    """No limit of its own: only its queue's stored limit holds it."""

    config = {"queue": "stored"}
    runs: ClassVar[list[int]] = []

    n: int

    async def execute(self) -> None:
        Plain.runs.append(self.n)


class PerCustomer(AsyncTask[None]):
    """One start per customer an hour: each customer its own bucket."""

    config = {
        "queue": "keyed",
        "rate_limit": 1,
        "rate_interval": INTERVAL,
        "rate_limit_key": lambda task: task.customer,
    }
    runs: ClassVar[list[str]] = []

    customer: str

    async def execute(self) -> None:
        PerCustomer.runs.append(self.customer)


class PerAccount(AsyncTask[None]):
    """The key from a method: two starts per account an hour."""

    config = {"queue": "keyed", "rate_limit": 2, "rate_interval": INTERVAL}
    runs: ClassVar[list[int]] = []

    account: int

    def rate_limit_key(self) -> int:
        return self.account

    async def execute(self) -> None:
        PerAccount.runs.append(self.account)


async def _serve(
    backend: Backend, queues: list[str], until: Callable[[], Awaitable[bool]], count: int = 1
) -> None:
    """``count`` workers of ``queues`` (told nothing of any limit) until ``until()``."""
    config = backend.config()
    workers = [
        Worker(await backend.new_driver(), queues, config=config, handle_signals=False)
        for _ in range(count)
    ]
    running = [asyncio.create_task(w.start()) for w in workers]
    try:
        for _ in range(1000):
            if await until():
                break
            await asyncio.sleep(0.02)
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.wait_for(asyncio.gather(*running), 20)


async def test_a_queue_limit_stored_in_the_broker_holds_workers_that_never_heard_of_it(
    backend: Backend,
) -> None:
    skip_without(backend, RateLimits, Inspection)
    Plain.runs.clear()
    producer = await backend.new_driver()
    assert isinstance(producer, Inspection)
    await Queue("stored", backend=producer, rate_limit=LIMIT, rate_interval=INTERVAL).add(
        Plain.task_name, kwargs={"n": -1}
    )  # Queue(rate_limit=) stores the limit on its first use
    assert await queue_rate_limits(producer) == {"stored": RateLimit(LIMIT, INTERVAL)}
    for n in range(7):
        await Dispatcher(producer, backend.config()).dispatch(Plain(n=n))

    async def settled() -> bool:
        waiting = await producer.list_jobs("stored", JobState.SCHEDULED)
        return len(Plain.runs) + len(waiting) == 8

    await _serve(backend, ["stored"], settled, count=3)
    assert len(Plain.runs) == LIMIT  # across three workers: the broker's bucket
    waiting = await producer.list_jobs("stored", JobState.SCHEDULED)
    assert [job.attempts for job in waiting] == [0] * (8 - LIMIT)
    assert min(job.run_at for job in waiting) > time.time() + INTERVAL / LIMIT / 2


async def test_a_queue_limit_of_zero_blocks_it_and_none_lifts_it(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocked, no job of the queue starts (none is even claimed); the limit removed,
    running workers pick that up at their next read of the stored limits."""
    skip_without(backend, RateLimits, Inspection)
    monkeypatch.setattr(rate_limits, "REFRESH", 0.2)
    Plain.runs.clear()
    producer = await backend.new_driver()
    assert isinstance(producer, Inspection)
    await set_queue_rate_limit(producer, "stored", 0)
    for n in range(4):
        await Dispatcher(producer, backend.config()).dispatch(Plain(n=n))
    checks = 0

    async def lifted_then_done() -> bool:
        nonlocal checks
        checks += 1
        if checks == 50:  # a second blocked: nothing ran, nothing left pending
            assert Plain.runs == []
            stats = await producer.stats("stored")
            assert stats.processing == 0 and stats.depth + stats.scheduled == 4
            await set_queue_rate_limit(producer, "stored", None)
        return len(Plain.runs) == 4

    await _serve(backend, ["stored"], lifted_then_done)
    assert checks > 50 and sorted(Plain.runs) == [0, 1, 2, 3]
    assert [job.attempts for job in await producer.list_jobs("stored", JobState.COMPLETED)] in (
        [1] * 4,
        [],  # a broker that keeps no completed jobs
    )


async def test_per_key_limits_are_independent(backend: Backend) -> None:
    skip_without(backend, RateLimits, Inspection)
    PerCustomer.runs.clear()
    PerAccount.runs.clear()
    producer = await backend.new_driver()
    assert isinstance(producer, Inspection)
    dispatcher = Dispatcher(producer, backend.config())
    for customer in ("ann", "bob", "cyd", "ann", "bob", "ann"):
        await dispatcher.dispatch(PerCustomer(customer=customer))
    for account in (1, 1, 1, 2, 2, 3):
        await dispatcher.dispatch(PerAccount(account=account))

    async def settled() -> bool:
        waiting = await producer.list_jobs("keyed", JobState.SCHEDULED)
        return len(PerCustomer.runs) + len(PerAccount.runs) + len(waiting) == 12

    await _serve(backend, ["keyed"], settled, count=2)
    assert sorted(PerCustomer.runs) == ["ann", "bob", "cyd"]  # one each, whatever the others
    assert sorted(PerAccount.runs) == [1, 1, 2, 2, 3]  # two each
    waiting = await producer.list_jobs("keyed", JobState.SCHEDULED)
    assert len(waiting) == 4 and {job.attempts for job in waiting} == {0}


def test_a_task_limit_is_checked_where_the_task_is_defined() -> None:
    @task(queue="keyed", rate_limit=4, rate_burst=2, rate_limit_key=lambda t: t.region)
    async def report(region: str) -> None: ...

    assert report.task_config["rate_burst"] == 2
    assert report.task_config["rate_limit_key"](report(region="eu")) == "eu"
    with pytest.raises(ValueError, match="rate_burst"):
        task(rate_limit=4, rate_burst=0)(report.function)
    with pytest.raises(ValueError, match="rate_limit_key"):
        task(rate_limit=4, rate_limit_key="region")(report.function)  # type: ignore[arg-type]
