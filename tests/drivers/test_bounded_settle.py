"""``Driver.settle_bounded``: a settle may leave for a later call the completions whose
children would make it long (Redis: one script blocks the whole server, and a worker
whose parents all ended waits while a fan-out's children are released). What is left
is still active, its children still blocked: a parent and the release of its children
stay one step. The first completion with children is always applied, so calls repeated
with what is left always end. On every broker with the Dependencies capability (the
others leave nothing); Redis, which does leave some, is checked for it.
"""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

import pytest

from asynctasq import AsyncTask
from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker import Worker
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Dependencies, Inspection, Management
from asynctasq.drivers.redis.core import RELEASE_BOUND
from asynctasq.jobs import Completed, Job, JobState, Outcome
from tests.backends import Backend
from tests.conftest import skip_without

W1 = "worker-1"
#: children per parent: a parent over half the bound, so that two never fit one call
WIDE = RELEASE_BOUND // 2 + 50


@pytest.fixture
async def driver(backend: Backend) -> Driver:
    skip_without(backend, Dependencies, Inspection, Management)
    return await backend.new_driver()


def job(*parents: str, queue: str = "default") -> Job:
    return Job(task="tests.noop", payload=b"\x80", queue=queue, depends_on=tuple(parents))


async def claim(driver: Driver, limit: int = 1000, queue: str = "default") -> list[Job]:
    got: list[Job] = []
    while len(got) < limit:
        more = await driver.claim([queue], limit=limit - len(got), worker_id=W1, lease_seconds=60)
        if not more:
            return got
        got += more
    return got


async def state_of(driver: Driver, job_id: str) -> JobState | None:
    assert isinstance(driver, Inspection)
    found = await driver.get(job_id)
    return None if found is None else found.state


def completed(job: Job) -> Completed:
    return Completed(job.id, W1, job.attempts, queue=job.queue)


async def settle_until_done(driver: Driver, outcomes: list[Outcome]) -> int:
    """settle_bounded again with what each call left, until nothing is; the calls made.
    Each call applies at least one of what it is given."""
    calls = 0
    while outcomes:
        calls += 1
        accepted, left = await driver.settle_bounded(outcomes)
        assert len(accepted) == len(outcomes)
        assert len(left) < len(outcomes), "a call must apply at least one outcome"
        kept = set(left)
        assert all(ok for i, ok in enumerate(accepted) if i not in kept)
        outcomes = [outcomes[i] for i in left]
    return calls


async def test_what_a_settle_leaves_is_still_active_and_its_children_still_blocked(
    driver: Driver, backend: Backend
) -> None:
    parents = [job() for _ in range(3)]
    children = {p.id: [job(p.id) for _ in range(WIDE)] for p in parents}
    await driver.enqueue([*parents, *(c for group in children.values() for c in group)])
    claimed = await claim(driver)
    assert sorted(j.id for j in claimed) == sorted(p.id for p in parents)
    by_id = {j.id: j for j in claimed}
    ordered = [by_id[p.id] for p in parents]

    accepted, left = await driver.settle_bounded([completed(j) for j in ordered])
    if backend.name.startswith("redis"):
        assert left == [1, 2], "one parent's children fill the bound: the others wait"
    applied = [p for i, p in enumerate(parents) if i not in set(left)]
    assert applied and applied[0] is parents[0]  # the first completion is always applied
    for i, parent in enumerate(parents):
        first_child = children[parent.id][0].id
        if i in left:
            assert await state_of(driver, parent.id) is JobState.ACTIVE
            assert await state_of(driver, first_child) is JobState.BLOCKED
        else:
            assert accepted[i]
            assert await state_of(driver, first_child) is JobState.PENDING

    calls = 1 + await settle_until_done(driver, [completed(ordered[i]) for i in left])
    if backend.name.startswith("redis"):
        assert calls == 3
    released = await claim(driver, limit=10 * WIDE)
    assert len(released) == 3 * WIDE  # every child, once
    assert len({j.id for j in released}) == 3 * WIDE


async def test_a_child_of_two_parents_settled_apart_is_released_once(driver: Driver) -> None:
    """release_cost() counts a shared child as freed only by the completion that takes
    its last parent, whether the two are applied in one call or two."""
    a, b = job(), job()
    shared = job(a.id, b.id)
    others = [job(a.id) for _ in range(WIDE)] + [job(b.id) for _ in range(WIDE)]
    await driver.enqueue([a, b, shared, *others])
    claimed = {j.id: j for j in await claim(driver)}
    assert set(claimed) == {a.id, b.id}
    await settle_until_done(driver, [completed(claimed[a.id]), completed(claimed[b.id])])
    assert await state_of(driver, shared.id) is JobState.PENDING
    released = await claim(driver, limit=10 * WIDE)
    assert sorted(j.id for j in released) == sorted([shared.id, *(o.id for o in others)])


async def test_a_fan_in_settles_in_few_calls(driver: Driver, backend: Backend) -> None:
    """A parent that only takes one of its child's many parents costs a quarter of a
    freed child: a fan-in's parents are not settled a few at a time."""
    parents = [job() for _ in range(300)]
    sink = job(*(p.id for p in parents))
    await driver.enqueue([*parents, sink])
    claimed = await claim(driver)
    assert len(claimed) == 300
    calls = await settle_until_done(driver, [completed(j) for j in claimed])
    if backend.name.startswith("redis"):
        assert calls <= 2
    assert [j.id for j in await claim(driver)] == [sink.id]


class Wide(AsyncTask[None], name="tests.bounded.wide"):
    """Notes when it ran, by its key."""

    ran: ClassVar[dict[str, float]] = {}
    key: str

    async def execute(self) -> None:
        Wide.ran[self.key] = time.monotonic()


async def test_a_worker_sends_again_what_a_settle_left(backend: Backend) -> None:
    """The worker's outcome buffer puts the completions left first in its next flush: a
    fan-out wider than the bound runs whole, each child after its parent, and the
    buffer ends empty."""
    skip_without(backend, Dependencies)
    producer = await backend.new_driver()
    consumer = await backend.new_driver()
    Wide.ran.clear()
    dispatcher = Dispatcher(producer, Config())
    parent_ids = await dispatcher.dispatch_many([Wide(key=f"p{i}") for i in range(4)])
    await dispatcher.dispatch_many(
        [
            Wide(key=f"c{i}-{k}").with_options(depends_on=[parent_ids[i]])
            for i in range(4)
            for k in range(WIDE)
        ]
    )
    worker = Worker(consumer, ["default"], concurrency=50, handle_signals=False)
    running = asyncio.create_task(worker.start())
    try:
        deadline = time.monotonic() + 60
        while len(Wide.ran) < 4 + 4 * WIDE and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        while len(worker._outcomes) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert len(Wide.ran) == 4 + 4 * WIDE
        assert len(worker._outcomes) == 0
        for i in range(4):
            assert all(Wide.ran[f"c{i}-{k}"] >= Wide.ran[f"p{i}"] for k in range(WIDE))
    finally:
        worker.stop()
        await running
        await consumer.disconnect()
        await producer.disconnect()
