"""PostgreSQL stores a job with parents blocked on all of them in the insert itself: the
link that follows writes the row again only when some parent has already finished.
(Stored pending, then blocked, each child of a fan-out left a dead row version and dead
entries in the claim's index, read again by the claims and settles of the drain.)"""

from __future__ import annotations

import asyncpg

from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection
from asynctasq.jobs import Completed, Failed, Job, JobState
from tests.backends import Backend
from tests.conftest import only_backends

W1 = "worker-1"


def job(*parents: str, policy: str = "fail") -> Job:
    return Job(
        task="tests.noop",
        payload=b"\x80",
        queue="default",
        depends_on=parents,
        on_parent_failure=policy,  # type: ignore[arg-type]
    )


async def state_of(driver: Driver, job_id: str) -> JobState:
    assert isinstance(driver, Inspection)
    found = await driver.get(job_id)
    assert found is not None
    return found.state


async def job_updates(backend: Backend, *jobs: Job) -> int:
    """Rows of the jobs table updated by enqueueing ``jobs`` in one transaction."""
    driver = await backend.new_driver()
    schema = backend.schema  # type: ignore[attr-defined]
    con = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    try:
        async with con.transaction():
            await driver.enqueue(list(jobs), connection=con)
            stats = "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relid = $1::regclass"
            return int(await con.fetchval(stats, f'"{schema}".jobs'))
    finally:
        await con.close()


@only_backends("postgres")
async def test_a_child_of_an_unfinished_parent_is_written_once(backend: Backend) -> None:
    parent = job()
    children = [job(parent.id) for _ in range(3)]
    assert await job_updates(backend, parent, *children) == 0
    driver = await backend.new_driver()
    assert [await state_of(driver, c.id) for c in children] == [JobState.BLOCKED] * 3
    assert await state_of(driver, parent.id) is JobState.PENDING


async def run_one(driver: Driver, *, fail: bool = False) -> str:
    [claimed] = await driver.claim(["default"], limit=1, worker_id=W1, lease_seconds=30)
    if fail:
        outcome = Failed(claimed.id, W1, claimed.attempts, queue="default", error="boom")
        assert await driver.settle([outcome]) == [True]
    else:
        assert await driver.settle([Completed(claimed.id, W1, claimed.attempts)]) == [True]
    return claimed.id


@only_backends("postgres")
async def test_a_child_whose_parents_have_finished_is_pending_at_once(backend: Backend) -> None:
    driver = await backend.new_driver()
    [done_id] = await driver.enqueue([job()])
    assert await run_one(driver) == done_id
    [failed_id] = await driver.enqueue([job()])
    assert await run_one(driver, fail=True) == failed_id
    [other_id] = await driver.enqueue([job()])
    ready = job(done_id)
    still = job(done_id, other_id)  # blocked on the unfinished one only
    runs = job(done_id, failed_id, policy="run")
    await driver.enqueue([ready, still, runs])
    assert await state_of(driver, ready.id) is JobState.PENDING
    assert await state_of(driver, runs.id) is JobState.PENDING
    assert await state_of(driver, still.id) is JobState.BLOCKED
    claimed = await driver.claim(["default"], limit=10, worker_id=W1, lease_seconds=30)
    assert sorted(j.id for j in claimed) == sorted([ready.id, runs.id, other_id])
    # its last unfinished parent completes: it is released (counted one, not two)
    other = next(j for j in claimed if j.id == other_id)
    assert await driver.settle([Completed(other.id, W1, other.attempts)]) == [True]
    assert await state_of(driver, still.id) is JobState.PENDING
