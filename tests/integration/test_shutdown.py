"""Shutdown when the broker is unreachable: the worker still stops in bounded time,
says which outcomes it could not deliver, and nothing is lost (those jobs come
back after their lease)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from asynctasq import AsyncTask, Config, JobState, Worker
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker import claim, shutdown
from asynctasq.drivers.memory import MemoryBroker, MemoryDriver
from asynctasq.jobs import Job, Outcome
from asynctasq.testing import drain

pytestmark = pytest.mark.timeout(60)

FAST = Config(default_retry_delay=0.01, default_retry_backoff="fixed", lease_seconds=1)


class Brief(AsyncTask[str]):
    runs: ClassVar[list[str]] = []
    key: str
    seconds: float = 0.0

    async def execute(self) -> str:
        await asyncio.sleep(self.seconds)
        Brief.runs.append(self.key)
        return self.key


class Unreachable(MemoryDriver):
    """A memory broker behind a link that can fail (raise) or hang (no answer)."""

    def __init__(self, broker: MemoryBroker) -> None:
        super().__init__(broker=broker, keep_completed=True)
        self.mode: str | None = None  # None, "fail" or "hang"
        self.renewals_while_down = 0

    async def _link(self) -> None:
        if self.mode == "fail":
            raise ConnectionError("broker unreachable")
        if self.mode == "hang":
            await asyncio.Event().wait()

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        await self._link()
        return await super().settle(outcomes)

    async def reserve(self, queues: Sequence[str], **kw: Any) -> list[Job]:
        await self._link()
        return await super().reserve(queues, **kw)

    async def renew(self, worker_id: str, job_ids: Sequence[str], lease: float) -> list[str]:
        if self.mode is not None:
            self.renewals_while_down += 1
        await self._link()
        return await super().renew(worker_id, job_ids, lease)

    async def remove_worker(self, worker_id: str) -> None:
        await self._link()
        await super().remove_worker(worker_id)


@pytest.fixture(autouse=True)
def _short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutdown, "BROKER_GRACE", 0.5)
    monkeypatch.setattr(claim, "BROKER_GRACE", 0.5)


async def start(driver: MemoryDriver, **options: Any) -> tuple[Worker, asyncio.Task[None]]:
    await driver.connect()
    instance = Worker(driver, ["default"], config=FAST, handle_signals=False, **options)
    return instance, asyncio.create_task(instance.start())


async def one_job(task: Brief) -> tuple[MemoryBroker, Unreachable, str]:
    """A broker holding ``task``'s job, and a link to it that can fail."""
    Brief.runs.clear()
    broker = MemoryBroker()
    link = Unreachable(broker)
    await link.connect()
    return broker, link, await Dispatcher(link, FAST).dispatch(task)


async def test_outcomes_the_broker_cannot_take_at_shutdown_are_named_and_not_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker, link, job_id = await one_job(Brief(key="a", seconds=0.3))
    instance, running = await start(link, shutdown_timeout=0)
    await asyncio.sleep(0.1)
    link.mode = "fail"  # the job finishes, its outcome cannot be delivered
    instance.stop()
    await asyncio.sleep(0.5)
    began = time.monotonic()
    instance.stop(immediate=True)  # a second signal: give up on the broker soon
    with caplog.at_level(logging.ERROR, "asynctasq.worker"):
        await asyncio.wait_for(running, 10)
    assert time.monotonic() - began < 3
    assert "1 outcome(s) could not reach the broker (1 Completed)" in caplog.text
    assert job_id in caplog.text
    assert link.renewals_while_down > 0  # its lease was kept while delivery was tried
    # the broker is back: the lease lapses, the job is recovered and runs again
    link.mode = None
    await asyncio.sleep(1.1)
    await drain(MemoryDriver(broker=broker, keep_completed=True), config=FAST)
    job = await link.get(job_id)
    assert job is not None and (job.state, job.attempts) == (JobState.COMPLETED, 2)
    assert Brief.runs == ["a", "a"]  # at least once: it ran again, nothing was lost


async def test_stop_does_not_wait_on_a_broker_that_stopped_answering() -> None:
    link = Unreachable(MemoryBroker())
    instance, running = await start(link, shutdown_timeout=0)
    await asyncio.sleep(0.1)
    link.mode = "hang"  # the next claim, the deregistration: no answer ever
    await asyncio.sleep(1.2)  # an idle claim returns after a second: the next one hangs
    began = time.monotonic()
    instance.stop()
    await asyncio.wait_for(running, 10)
    assert time.monotonic() - began < 4  # one reserve wait plus a short grace, not forever


async def test_a_released_job_that_cannot_be_delivered_comes_back_after_its_lease() -> None:
    _, link, job_id = await one_job(Brief(key="slow", seconds=30))
    instance, running = await start(link, shutdown_timeout=0.1)
    await asyncio.sleep(0.2)
    link.mode = "fail"
    instance.stop(immediate=True)
    await asyncio.wait_for(running, 10)
    link.mode = None
    job = await link.get(job_id)
    assert job is not None and job.state is JobState.ACTIVE  # the release never arrived
    await asyncio.sleep(1.1)
    assert (await link.recover_expired()).requeued == 1
    job = await link.get(job_id)
    assert job is not None and (job.state, job.attempts) == (JobState.PENDING, 1)
