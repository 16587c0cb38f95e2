"""``Driver.settle_bounded``: a settle may leave for a later call the completions whose
children would make it long (Redis: one script blocks the whole server, and a worker
whose parents all ended waits while a fan-out's children are released). What is left
is still active, its children still blocked: a parent and the release of its children
stay one step. The first completion with children is always applied, so calls repeated
with what is left always end. On every broker with the Dependencies capability (the
others leave nothing); Redis and PostgreSQL, which do leave some (``release_bound``,
set here to Redis's bound on both), are checked for it, and PostgreSQL's worker for
sending what was left beside its other settles (a second lane).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar, TypeVar

import pytest

from asynctasq import AsyncTask
from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker import Worker
from asynctasq.drivers.base import ClaimRequest, Driver
from asynctasq.drivers.capabilities import Dependencies, Inspection, Management
from asynctasq.drivers.redis.core import RELEASE_BOUND
from asynctasq.jobs import Completed, Job, JobState, Outcome
from tests.backends import Backend
from tests.conftest import skip_without

T = TypeVar("T")

W1 = "worker-1"
#: children per parent: a parent over half the bound, so that two never fit one call
WIDE = RELEASE_BOUND // 2 + 50


@pytest.fixture
async def driver(backend: Backend) -> Driver:
    skip_without(backend, Dependencies, Inspection, Management)
    return bounded_at(await backend.new_driver(), RELEASE_BOUND)


def bounded_at(driver: Driver, bound: int) -> Driver:
    if hasattr(driver, "release_bound"):
        driver.release_bound = bound
    return driver


def bounds(driver: Driver) -> bool:
    """Whether the broker bounds its settles (the others settle all at once)."""
    return hasattr(driver, "release_bound")


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
    if bounds(driver):
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
    if bounds(driver):
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
    if bounds(driver):
        assert calls <= 2
    assert [j.id for j in await claim(driver)] == [sink.id]


class Wide(AsyncTask[None], name="tests.bounded.wide"):
    """Notes when it ran, by its key."""

    ran: ClassVar[dict[str, float]] = {}
    key: str

    async def execute(self) -> None:
        Wide.ran[self.key] = time.monotonic()


async def fan_out_dispatched(producer: Driver, parents: int) -> tuple[list[str], list[str]]:
    """``parents`` Wide jobs with WIDE children each: (parent ids, child ids)."""
    Wide.ran.clear()
    dispatcher = Dispatcher(producer, Config())
    parent_ids = await dispatcher.dispatch_many([Wide(key=f"p{i}") for i in range(parents)])
    child_ids = await dispatcher.dispatch_many(
        [
            Wide(key=f"c{i}-{k}").with_options(depends_on=[parent_ids[i]])
            for i in range(parents)
            for k in range(WIDE)
        ]
    )
    return parent_ids, child_ids


def spans_of_settles(
    driver: Driver, before: Callable[[Sequence[Outcome]], None] | None = None
) -> list[tuple[float, float]]:
    """(start, end) of each settle the worker sends through ``driver``, as it goes;
    ``before`` is called with each call's outcomes first (it may raise)."""
    spans: list[tuple[float, float]] = []
    bounded, claiming = driver.settle_bounded, driver.settle_and_claim

    async def timed(call: Callable[[], Awaitable[T]], outcomes: Sequence[Outcome]) -> T:
        began = time.monotonic()
        try:
            if before is not None:
                before(outcomes)
            return await call()
        finally:
            spans.append((began, time.monotonic()))

    async def settle_bounded(outcomes: Sequence[Outcome]) -> tuple[list[bool], list[int]]:
        return await timed(lambda: bounded(outcomes), outcomes)

    async def settle_and_claim(
        outcomes: Sequence[Outcome], request: ClaimRequest
    ) -> tuple[list[bool], list[Job], list[int]]:
        return await timed(lambda: claiming(outcomes, request), outcomes)

    driver.settle_bounded = settle_bounded  # type: ignore[method-assign]
    driver.settle_and_claim = settle_and_claim  # type: ignore[method-assign]
    return spans


async def ran_whole(worker: Worker, parents: int) -> None:
    """Until the fan-out of fan_out_dispatched(..., parents) has run and every outcome
    is delivered (60 s at most); then that it did, each job once."""
    deadline = time.monotonic() + 60
    while len(Wide.ran) < parents + parents * WIDE and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    while len(worker._outcomes) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert len(Wide.ran) == parents + parents * WIDE
    assert len(worker._outcomes) == 0


async def test_a_worker_sends_again_what_a_settle_left(backend: Backend) -> None:
    """The worker's outcome buffer sends the completions left again: first in its next
    flush, or (a broker that claims on settle: PostgreSQL) on a second lane beside the
    flushes. A fan-out wider than the bound runs whole, each child after its parent,
    and the buffer ends empty."""
    skip_without(backend, Dependencies)
    producer = await backend.new_driver()
    consumer = bounded_at(await backend.new_driver(), RELEASE_BOUND)
    await fan_out_dispatched(producer, 4)
    spans = spans_of_settles(consumer)
    worker = Worker(consumer, ["default"], concurrency=50, handle_signals=False)
    running = asyncio.create_task(worker.start())
    try:
        await ran_whole(worker, parents=4)
        for i in range(4):
            assert all(Wide.ran[f"c{i}-{k}"] >= Wide.ran[f"p{i}"] for k in range(WIDE))
        if consumer.claims_on_settle and bounds(consumer):
            spans.sort()
            ends = [max(end for _, end in spans[: i + 1]) for i in range(len(spans))]
            beside = [b for b, end in zip(spans[1:], ends, strict=False) if b[0] < end]
            assert beside, f"no settle went beside another: {spans}"
    finally:
        worker.stop()
        await running
        await consumer.disconnect()
        await producer.disconnect()


async def test_a_worker_stopped_while_a_settle_is_left_delivers_it(backend: Backend) -> None:
    """A graceful stop while the parents' completions are still being sent (left by
    the bound, on the second lane where there is one) delivers them all before the
    worker ends: every parent has completed, no child is left blocked; and the stop
    does not wait beyond that."""
    skip_without(backend, Dependencies, Inspection)
    producer = await backend.new_driver()
    consumer = bounded_at(await backend.new_driver(), 1)  # each parent a call of its own
    parent_ids, child_ids = await fan_out_dispatched(producer, 6)
    worker = Worker(consumer, ["default"], concurrency=6, handle_signals=False)
    running = asyncio.create_task(worker.start())
    try:
        deadline = time.monotonic() + 30
        while not all(f"p{i}" in Wide.ran for i in range(6)) and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        stopping = time.monotonic()
        worker.stop()
        await asyncio.wait_for(running, 30)
        assert time.monotonic() - stopping < 15
        assert len(worker._outcomes) == 0
        assert isinstance(producer, Inspection)
        for parent_id in parent_ids:
            parent = await producer.get(parent_id)
            assert parent is None or parent.state is JobState.COMPLETED
        states = {(await producer.get(child_id)).state for child_id in child_ids}  # type: ignore[union-attr]
        assert JobState.BLOCKED not in states, states
    finally:
        worker.stop()
        if not running.done():
            await running
        await consumer.disconnect()
        await producer.disconnect()


async def test_a_settle_of_what_was_left_that_fails_is_sent_again(backend: Backend) -> None:
    """The broker cannot be reached for the first call that sends parents left
    before (on PostgreSQL: the second lane's): that call is kept and sent again, and
    the fan-out still runs whole, once each."""
    skip_without(backend, Dependencies)
    producer = await backend.new_driver()
    consumer = bounded_at(await backend.new_driver(), 1)
    parent_ids, _ = await fan_out_dispatched(producer, 3)
    parents, seen, failed = set(parent_ids), set[str](), []

    def fail_once(outcomes: Sequence[Outcome]) -> None:
        sent = {o.job_id for o in outcomes} & parents
        if not failed and sent and sent <= seen:  # every one sent before: left then
            failed.append(sorted(sent))
            raise ConnectionError("the broker is not reachable right now")
        seen.update(sent)

    spy_settles = spans_of_settles(consumer, before=fail_once)
    worker = Worker(consumer, ["default"], concurrency=20, handle_signals=False)
    running = asyncio.create_task(worker.start())
    try:
        await ran_whole(worker, parents=3)
        if bounds(consumer):
            assert failed, f"no call sent parents left before: {len(spy_settles)} calls"
    finally:
        worker.stop()
        await running
        await consumer.disconnect()
        await producer.disconnect()
