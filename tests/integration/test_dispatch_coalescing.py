"""Coalesced dispatch: concurrent ``dispatch()`` calls share round trips, each caller
still gets its own job id or its own error; a sequential caller goes out at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest

from asynctasq import AsyncTask
from asynctasq.core.coalescing import EnqueueCoalescer
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.base import Driver, DriverNotConnected
from asynctasq.drivers.capabilities import Inspection, Management, UniqueKeys
from asynctasq.jobs import Job, JobState
from tests.backends import Backend
from tests.conftest import only_backends, skip_without

CALLERS = 100
#: brokers whose enqueue waits on I/O: the memory broker's returns without suspending,
#: so nothing ever arrives while it is in flight and every call goes out alone
NETWORKED = ("sqlite", "redis", "postgres", "mysql", "mongodb")


class Note(AsyncTask[None], name="tests.dispatch.Note"):
    n: int

    async def execute(self) -> None:
        pass


class Recorder:
    """The driver's own enqueue, with the size of each batch it was given."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.batches: list[int] = []

    async def __call__(self, jobs: Sequence[Job]) -> list[str]:
        self.batches.append(len(jobs))
        return await self.driver.enqueue(jobs)


async def depth(driver: Driver, queue: str = "default") -> int:
    """Jobs waiting on ``queue``: from the broker's statistics where it keeps them,
    else by claiming them all through the core seam (the queue is left empty)."""
    if isinstance(driver, Inspection):
        stats = await driver.stats(queue)
        return stats.depth
    claimed = 0
    while batch := await driver.claim(
        [queue], limit=100, worker_id="tests.depth", lease_seconds=60
    ):
        claimed += len(batch)
    return claimed


async def test_a_sequential_caller_sends_each_job_at_once(backend: Backend) -> None:
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, backend.config())
    ids = [await dispatcher.dispatch(Note(n=i)) for i in range(20)]
    assert dispatcher.coalescer is not None
    assert dispatcher.coalescer.round_trips == 20  # one each, nobody waited for company
    assert len(set(ids)) == 20
    assert await depth(driver) == 20


@only_backends(*NETWORKED)
async def test_concurrent_callers_share_round_trips(backend: Backend) -> None:
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, backend.config())
    tasks = [Note(n=i) for i in range(CALLERS)]
    ids = await asyncio.gather(*(dispatcher.dispatch(t) for t in tasks))
    assert dispatcher.coalescer is not None
    # the first goes alone, the 99 that arrived meanwhile in one more
    assert dispatcher.coalescer.round_trips <= 3
    assert len(set(ids)) == CALLERS
    assert [t._task_id for t in tasks] == ids  # each task knows its own id
    assert await depth(driver) == CALLERS
    assert isinstance(driver, Inspection)
    for task, job_id in zip(tasks, ids, strict=True):
        job = await driver.get(job_id)
        assert job is not None and job.payload  # the job of that very caller
        assert job.id == job_id and task._task_id == job_id


@only_backends(*NETWORKED)
async def test_callers_that_keep_dispatching_ride_together(backend: Backend) -> None:
    """Many coroutines each dispatching in a loop: round trips carry many jobs."""
    driver = await backend.new_driver()
    recorder = Recorder(driver)
    dispatcher = Dispatcher(driver, backend.config())
    dispatcher.coalescer = EnqueueCoalescer(recorder)

    async def caller(k: int) -> list[str]:
        return [await dispatcher.dispatch(Note(n=k * 10 + i)) for i in range(10)]

    ids = [i for batch in await asyncio.gather(*(caller(k) for k in range(50))) for i in batch]
    assert len(set(ids)) == 500
    assert sum(recorder.batches) == 500
    assert len(recorder.batches) <= 25  # not 500: about one round trip per round of calls
    assert await depth(driver) == 500


@only_backends(*NETWORKED)
async def test_batches_are_bounded(backend: Backend) -> None:
    driver = await backend.new_driver()
    recorder = Recorder(driver)
    dispatcher = Dispatcher(driver, backend.config())
    dispatcher.coalescer = EnqueueCoalescer(recorder, max_batch=7)
    ids = await asyncio.gather(*(dispatcher.dispatch(Note(n=i)) for i in range(50)))
    assert len(set(ids)) == 50
    assert max(recorder.batches) == 7
    assert sum(recorder.batches) == 50


@only_backends("sqlite", "postgres", "mysql")
async def test_a_refused_job_fails_its_caller_only(backend: Backend) -> None:
    """The broker refuses the batch for one job's data: that caller gets the error,
    the others their ids, and nothing of the bad job is stored."""
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, backend.config())
    tasks = [Note(n=i) for i in range(30)]
    tasks[17].with_options(unique_key="bad\x00key")  # no SQL broker stores a NUL
    results = await asyncio.gather(*(dispatcher.dispatch(t) for t in tasks), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and results[17] is errors[0]
    assert isinstance(errors[0], ValueError) and "NUL" in str(errors[0])
    assert await depth(driver) == 29


@only_backends("mysql")
async def test_a_refusal_naming_no_job_is_narrowed_down(backend: Backend) -> None:
    """MySQL refuses a task name over 200 characters without naming the job: the
    batch is split until the one at fault is alone."""

    class Long(AsyncTask[None], name="tests.dispatch." + "x" * 220):
        async def execute(self) -> None:
            pass

    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, backend.config())
    tasks = [Note(n=i) for i in range(40)]
    tasks.insert(23, Long())  # type: ignore[arg-type]
    results = await asyncio.gather(*(dispatcher.dispatch(t) for t in tasks), return_exceptions=True)
    assert [i for i, r in enumerate(results) if isinstance(r, BaseException)] == [23]
    assert "200 characters" in str(results[23])
    assert await depth(driver) == 40


async def test_a_broker_error_reaches_every_caller(backend: Backend) -> None:
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, backend.config())
    await driver.disconnect()
    results = await asyncio.gather(
        *(dispatcher.dispatch(Note(n=i)) for i in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, DriverNotConnected) for r in results), results
    await driver.connect()  # and the dispatcher goes on once the broker is back
    assert await dispatcher.dispatch(Note(n=0))


@only_backends(*NETWORKED)
async def test_a_caller_that_gave_up_before_sending_sends_nothing(backend: Backend) -> None:
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, backend.config())
    first = asyncio.ensure_future(dispatcher.dispatch(Note(n=0)))
    await asyncio.sleep(0)  # the first is in flight
    waiting = [asyncio.ensure_future(dispatcher.dispatch(Note(n=i))) for i in range(1, 6)]
    await asyncio.sleep(0)  # queued behind it
    waiting[2].cancel()
    await first
    done = await asyncio.gather(*waiting, return_exceptions=True)
    assert isinstance(done[2], asyncio.CancelledError)
    assert await depth(driver) == 5


async def test_one_unique_key_twice_at_once_gives_one_job(backend: Backend) -> None:
    skip_without(backend, UniqueKeys)
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, backend.config())
    tasks = [Note(n=i).with_options(unique_key="daily-report") for i in range(5)]
    tasks += [Note(n=i) for i in range(5, 10)]
    ids = await asyncio.gather(*(dispatcher.dispatch(t) for t in tasks))
    assert len(set(ids[:5])) == 1  # every caller of the key gets the one job
    assert await depth(driver) == 6


async def test_dispatch_many_and_uncoalesced_dispatchers_go_alone(backend: Backend) -> None:
    driver = await backend.new_driver()
    plain = Dispatcher(driver, backend.config(), coalesce=False)
    assert plain.coalescer is None
    ids = await asyncio.gather(*(plain.dispatch(Note(n=i)) for i in range(10)))
    ids += await plain.dispatch_many(Note(n=i) for i in range(10, 15))
    assert len(set(ids)) == 15
    assert await depth(driver) == 15
    if isinstance(driver, Management):
        assert await driver.purge("default", JobState.PENDING) == 15


@only_backends("postgres")
async def test_a_transactional_dispatch_is_never_coalesced(backend: Backend) -> None:
    """Inside the caller's transaction: its job lives and dies with that transaction,
    whatever other callers dispatch at the same moment."""
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, backend.config())
    con = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    try:
        tx = con.transaction()
        await tx.start()
        inside = Note(n=-1)
        others = [Note(n=i) for i in range(30)]
        await asyncio.gather(
            dispatcher.dispatch(inside, connection=con),
            *(dispatcher.dispatch(t) for t in others),
        )
        assert await depth(driver) == 30  # not committed yet: the others are there
        await tx.rollback()
    finally:
        await con.close()
    assert isinstance(driver, Inspection)
    assert inside._task_id is not None and await driver.get(inside._task_id) is None
    assert await depth(driver) == 30


def test_max_batch_must_be_positive() -> None:
    async def enqueue(jobs: Sequence[Job]) -> list[str]:
        return []

    with pytest.raises(ValueError, match="max_batch"):
        EnqueueCoalescer(enqueue, max_batch=0)
