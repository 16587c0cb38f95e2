"""Jobs started in lanes (core/worker/lanes.py): a job that never suspends costs no
asyncio Task of its own, and a job behaves as it did in a Task of its own."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Generator
from typing import Any, ClassVar

from asynctasq import AsyncTask, Config, JobState, Worker
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.testing import drain

FAST = Config(default_retry_delay=0.01, default_retry_backoff="fixed", lease_seconds=5)

seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")


class Quick(AsyncTask[None]):
    async def execute(self) -> None:
        pass


class SetsAVariable(AsyncTask[None]):
    found: ClassVar[list[str]] = []
    mark: str

    async def execute(self) -> None:
        SetsAVariable.found.append(seen.get())
        seen.set(self.mark)  # never reset: a Task of its own would drop it with the job


class CancelsItsOwnTask(AsyncTask[None]):
    async def execute(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()  # and returns without awaiting: the cancel is left pending


class SleepsThenRecords(AsyncTask[None]):
    done: ClassVar[list[str]] = []
    name: str

    async def execute(self) -> None:
        await asyncio.sleep(0.05)
        SleepsThenRecords.done.append(self.name)


class TimesItselfOut(AsyncTask[str]):
    outcome: ClassVar[list[str]] = []

    async def execute(self) -> str:
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(10)
        except TimeoutError:
            TimesItselfOut.outcome.append("timed out")
        return "ok"


class Forever(AsyncTask[None]):
    async def execute(self) -> None:
        await asyncio.sleep(30)


async def memory() -> MemoryDriver:
    driver = MemoryDriver(keep_completed=True)
    await driver.connect()
    return driver


async def test_jobs_that_never_suspend_share_one_task() -> None:
    driver = await memory()
    await Dispatcher(driver, FAST).dispatch_many(Quick() for _ in range(200))
    loop = asyncio.get_running_loop()
    job_tasks = 0

    def counting(
        loop: asyncio.AbstractEventLoop, coro: Generator[Any, None, Any] | Coroutine[Any, Any, Any]
    ) -> asyncio.Task[Any]:
        nonlocal job_tasks
        task = asyncio.Task(coro, loop=loop)
        job_tasks += getattr(coro, "__qualname__", "") in ("Worker._lane", "Worker._run")
        return task

    loop.set_task_factory(counting)
    try:
        worker = await drain(driver, config=FAST, concurrency=50)
    finally:
        loop.set_task_factory(None)
    assert worker.processed == 200
    assert job_tasks <= 20  # a lane per claim or so; a Task per job was 200


async def test_a_context_variable_a_job_sets_does_not_reach_the_next() -> None:
    driver = await memory()
    SetsAVariable.found.clear()
    await Dispatcher(driver, FAST).dispatch_many(SetsAVariable(mark=str(i)) for i in range(5))
    await drain(driver, config=FAST)
    assert SetsAVariable.found == ["unset"] * 5


async def test_a_job_that_cancels_its_own_task_leaves_the_next_alone() -> None:
    driver = await memory()
    SleepsThenRecords.done.clear()
    dispatcher = Dispatcher(driver, FAST)
    first = await dispatcher.dispatch(CancelsItsOwnTask())
    after = [await dispatcher.dispatch(SleepsThenRecords(name=str(i))) for i in range(3)]
    await drain(driver, config=FAST)
    assert sorted(SleepsThenRecords.done) == ["0", "1", "2"]
    for job_id in (first, *after):
        job = await driver.get(job_id)
        assert job is not None and job.state is JobState.COMPLETED


async def test_asyncio_timeout_in_a_job_reaches_that_job_alone() -> None:
    driver = await memory()
    SleepsThenRecords.done.clear()
    TimesItselfOut.outcome.clear()
    dispatcher = Dispatcher(driver, FAST)
    await dispatcher.dispatch_many([Quick(), SleepsThenRecords(name="before"), Quick()])
    await dispatcher.dispatch(TimesItselfOut())
    await dispatcher.dispatch(SleepsThenRecords(name="after"))
    await drain(driver, config=FAST)
    assert TimesItselfOut.outcome == ["timed out"]
    assert sorted(SleepsThenRecords.done) == ["after", "before"]  # neither was cancelled


async def test_an_immediate_stop_reaches_a_job_that_suspended_in_a_lane() -> None:
    driver = await memory()
    dispatcher = Dispatcher(driver, FAST)
    await dispatcher.dispatch_many([Quick(), Quick()])
    await dispatcher.dispatch(SleepsThenRecords(name="long"))
    await dispatcher.dispatch(Forever())
    worker = Worker(driver, ["default"], config=FAST, handle_signals=False)
    running = asyncio.create_task(worker.start())
    await asyncio.sleep(0.2)
    worker.stop(immediate=True)
    await asyncio.wait_for(running, 5)
    assert (await driver.stats("default")).depth == 1  # Forever, released to pending
