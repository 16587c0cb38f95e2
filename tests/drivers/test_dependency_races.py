"""Races between linking a child and settling its parent, staged with a row lock
held by a third connection so that they meet in the worst order every time.

PostgreSQL (sql/postgres/queries.sql, migration 0011): the child's enqueue marks its
parent while the parent's settle waits for the same row; the settle's statement took
its snapshot before the child's edge was committed and cannot see it, but it sees the
mark in the row it waited for and releases the child in a statement of its own. Before
that, the child stayed blocked until the periodic repair (about 10 s).
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection
from asynctasq.drivers.postgres.batches import settle_args
from asynctasq.drivers.postgres.handoff import NO_CLAIM
from asynctasq.jobs import Completed, Job, JobState
from tests.backends import Backend
from tests.conftest import only_backends

W1 = "worker-1"


def job(*parents: str) -> Job:
    return Job(task="tests.noop", payload=b"\x80", queue="default", depends_on=tuple(parents))


async def waits_on_a_lock(con: asyncpg.Connection, count: int) -> None:
    """Until ``count`` other sessions wait on a lock (the staged order is reached)."""
    for _ in range(500):
        waiting = await con.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        )
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} sessions never waited on the staged lock")


@only_backends("postgres")
@pytest.mark.parametrize("marked_before", [False, True], ids=["first-child", "second-child"])
async def test_a_child_linked_while_its_parent_settles_is_released(
    backend: Backend, marked_before: bool
) -> None:
    """``marked_before``: the parent already has a child (its mark was set by an
    earlier, committed link): the settle must still see that this row changed."""
    driver: Driver = await backend.new_driver()
    worker: Driver = await backend.new_driver()  # the parent's worker, apart
    assert isinstance(driver, Inspection)
    [parent_id] = await driver.enqueue([job()])
    [parent] = await worker.claim(["default"], limit=1, worker_id=W1, lease_seconds=30.0)
    earlier = [job(parent_id)] if marked_before else []
    if earlier:
        await driver.enqueue(earlier)
    schema = backend.schema  # type: ignore[attr-defined]
    holder = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute(f'SELECT 1 FROM "{schema}".jobs WHERE id = $1 FOR UPDATE', parent_id)
        # 1: the child's enqueue queues first on the parent's row
        child = job(parent_id)
        linking = asyncio.create_task(driver.enqueue([child]))
        await waits_on_a_lock(holder, 1)
        # 2: then the parent's settle: its statement's snapshot is taken now, before
        # the child's edge exists
        settling = asyncio.create_task(worker.complete(parent))
        await waits_on_a_lock(holder, 2)
        await lock.rollback()  # the child links first, then the settle goes on
        assert await asyncio.wait_for(linking, 10) == [child.id]
        assert await asyncio.wait_for(settling, 10)
    finally:
        await holder.close()
    found = await driver.get(child.id)
    assert found is not None and found.state is JobState.PENDING, found
    claimed = await driver.claim(["default"], limit=5, worker_id=W1, lease_seconds=30.0)
    assert sorted(j.id for j in claimed) == sorted(j.id for j in [*earlier, child])


@only_backends("postgres")
async def test_a_child_whose_two_parents_settle_at_once_is_released(backend: Backend) -> None:
    """The second parent's settle waits for the child's row while the first's releases
    it in part, then finds it at a version its snapshot does not see: it must still
    reach that version (through the primary key, which follows the update chain; a TID
    scan at the locked row's address skipped it and left the child blocked)."""
    driver: Driver = await backend.new_driver()
    worker: Driver = await backend.new_driver()
    assert isinstance(driver, Inspection)
    first_id, second_id = await driver.enqueue([job(), job()])
    child = job(first_id, second_id)
    await driver.enqueue([child])
    claimed = await worker.claim(["default"], limit=2, worker_id=W1, lease_seconds=30.0)
    first, second = sorted(claimed, key=lambda j: j.id != first_id)
    holder = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    try:
        open_settle = holder.transaction()
        await open_settle.start()
        # the first parent's settle, uncommitted: the child's row is locked, one parent left
        done = [Completed(first.id, W1, first.attempts, queue=first.queue)]
        args = settle_args(done, keep_completed=False)
        sql = worker.sql["settle"]  # type: ignore[attr-defined]
        await holder.fetchrow(sql, *args, first.run_at + 1, *NO_CLAIM)
        settling = asyncio.create_task(worker.complete(second))
        await waits_on_a_lock(holder, 1)  # its snapshot predates the first's commit
        await open_settle.commit()
        assert await asyncio.wait_for(settling, 10)
    finally:
        await holder.close()
    found = await driver.get(child.id)
    assert found is not None and found.state is JobState.PENDING, found
