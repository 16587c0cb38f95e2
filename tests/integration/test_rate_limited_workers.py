"""A task's ``rate_limit`` holds across every worker of a broker: three workers
share one bucket, the jobs over the limit go back to the queue (due when the next
token is free, attempts not counted), and a broker without buckets refuses to start
a worker that serves a limited task."""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

import pytest

from asynctasq import AsyncTask, Worker
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.capabilities import CapabilityMissing, Inspection, RateLimits
from asynctasq.jobs import JobState
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
