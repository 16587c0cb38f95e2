"""PostgreSQL claims in a settle's round trip (Driver.settle_and_claim): the children
a completion releases go to the reporting worker as its own claim would take them,
and stay pending for everyone when that claim would not."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker.worker import Worker
from asynctasq.drivers.base import ClaimRequest, Driver
from asynctasq.drivers.capabilities import Inspection, Pausing
from asynctasq.jobs import Completed, Job, JobState, Outcome
from tests.backends import Backend
from tests.conftest import only_backends
from tests.sample_tasks import Record, recorded

W1 = "worker-1"
LEASE = 30.0


def job(*parents: str, queue: str = "default", priority: int = 0) -> Job:
    return Job(
        task="tests.noop", payload=b"\x80", queue=queue, priority=priority, depends_on=parents
    )


def request(limit: int = 10, queues: tuple[str, ...] = ("default",)) -> ClaimRequest:
    return ClaimRequest(queues, limit, W1, LEASE)


async def state_of(driver: Driver, job_id: str) -> JobState:
    assert isinstance(driver, Inspection)
    found = await driver.get(job_id)
    assert found is not None
    return found.state


@only_backends("postgres")
async def test_the_released_child_is_claimed_for_the_reporting_worker(backend: Backend) -> None:
    driver = await backend.new_driver()
    assert driver.claims_on_settle
    [parent_id] = await driver.enqueue([job()])
    children = [job(parent_id, priority=p) for p in (5, 1, 3)]
    await driver.enqueue(children)
    [parent] = await driver.claim(["default"], limit=1, worker_id=W1, lease_seconds=LEASE)
    done = Completed(parent.id, W1, parent.attempts, queue=parent.queue)
    accepted, claimed, left = await driver.settle_and_claim([done], request(limit=2))
    assert left == []
    assert accepted == [True]
    # in claim order, up to the room; the third child is left pending for any claim
    assert [j.priority for j in claimed] == [1, 3]
    assert all(j.state is JobState.ACTIVE and j.worker_id == W1 for j in claimed)
    assert all(j.attempts == 1 and j.lease_until is not None for j in claimed)
    assert await state_of(driver, children[1].id) is JobState.ACTIVE
    rest = await driver.claim(["default"], limit=10, worker_id="w2", lease_seconds=LEASE)
    assert [j.id for j in rest] == [children[0].id]
    # the claimed children are the worker's like any claimed job: its outcomes count
    outcomes = [Completed(j.id, W1, j.attempts, queue=j.queue) for j in claimed]
    assert await driver.settle(outcomes) == [True, True]


@only_backends("postgres")
async def test_a_child_with_parents_left_is_not_claimed(backend: Backend) -> None:
    driver = await backend.new_driver()
    first, second = await driver.enqueue([job(), job()])
    child = job(first, second)
    await driver.enqueue([child])
    parents = await driver.claim(["default"], limit=2, worker_id=W1, lease_seconds=LEASE)
    one, other = (Completed(p.id, W1, p.attempts, queue=p.queue) for p in parents)
    assert await driver.settle_and_claim([one], request()) == ([True], [], [])
    assert await state_of(driver, child.id) is JobState.BLOCKED
    accepted, claimed, _ = await driver.settle_and_claim([other], request())
    assert accepted == [True] and [j.id for j in claimed] == [child.id]


@only_backends("postgres")
async def test_nothing_is_claimed_where_the_worker_s_claim_would_not_take_the_child(
    backend: Backend,
) -> None:
    driver = await backend.new_driver()
    assert isinstance(driver, Pausing)
    # another queue than the worker's; a paused queue; a due job that would come first
    cases = [(request(queues=("other",)), None), (request(), "pause"), (request(), "waiting")]
    for asked, setup in cases:
        [parent_id] = await driver.enqueue([job()])
        child = job(parent_id)
        await driver.enqueue([child])
        [parent] = await driver.claim(["default"], limit=1, worker_id=W1, lease_seconds=LEASE)
        if setup == "pause":
            await driver.pause("default")
        if setup == "waiting":
            await driver.enqueue([job(priority=9)])
        done = Completed(parent.id, W1, parent.attempts, queue=parent.queue)
        assert await driver.settle_and_claim([done], asked) == ([True], [], [])
        assert await state_of(driver, child.id) is JobState.PENDING
        await driver.resume("default")
        # empty the queue for the next case
        left = await driver.claim(["default"], limit=10, worker_id=W1, lease_seconds=LEASE)
        await driver.settle([Completed(j.id, W1, j.attempts, queue=j.queue) for j in left])


@only_backends("postgres")
async def test_a_worker_starts_the_child_its_parent_s_settle_claimed(
    backend: Backend, tmp_path: Path
) -> None:
    """The worker asks for a claim when it reports, and runs what comes back: the child
    is claimed by its parent's settle (it was blocked until then, so no claim of the
    worker's own can have taken it), and runs once."""
    driver = await backend.new_driver()
    handed: list[str] = []
    settle_and_claim = driver.settle_and_claim

    async def spy(
        outcomes: Sequence[Outcome], request: ClaimRequest
    ) -> tuple[list[bool], list[Job], list[int]]:
        accepted, jobs, left = await settle_and_claim(outcomes, request)
        handed.extend(j.id for j in jobs)
        return accepted, jobs, left

    driver.settle_and_claim = spy  # type: ignore[method-assign]
    child_id = await parent_then_child(backend, driver, str(tmp_path / "ran.log"))
    assert handed == [child_id]


async def parent_then_child(backend: Backend, driver: Driver, log: str, **options: Any) -> str:
    """A parent (which ends at once) and its child, run by a worker (``options``) until
    both ran and every outcome is settled; the child's id."""
    dispatcher = Dispatcher(driver, backend.config())
    parent_id = await dispatcher.dispatch(Record(key="parent", log=log))
    child_id = await dispatcher.dispatch(
        Record(key="child", log=log).with_options(depends_on=[parent_id])
    )
    worker = Worker(driver, ["default"], config=backend.config(), handle_signals=False, **options)
    running = asyncio.create_task(worker.start())
    try:
        for _ in range(1000):
            if len(recorded(log)) == 2 and not len(worker._outcomes):
                break
            await asyncio.sleep(0.01)
    finally:
        worker.stop()
        await running
    assert recorded(log) == ["parent", "child"]
    return child_id


@only_backends("postgres")
async def test_an_idle_worker_claims_after_the_settle_that_claims_for_it(
    backend: Backend, tmp_path: Path
) -> None:
    """An idle worker whose last claim found less than it asked for (no backlog) waits
    for the settle of its parent's outcome, which claims the child for it, before it
    claims again: a claim sent beside that settle would find nothing it releases, and
    slow it down on the path from the parent's end to the child's start."""
    driver = await backend.new_driver()
    spans: dict[str, list[tuple[float, float]]] = {"settle": [], "claim": []}
    loop = asyncio.get_running_loop()
    settle_and_claim, claim = driver.settle_and_claim, driver._claim  # type: ignore[attr-defined]

    async def settling(
        outcomes: Sequence[Outcome], request: ClaimRequest
    ) -> tuple[list[bool], list[Job], list[int]]:
        began = loop.time()
        try:
            return await settle_and_claim(outcomes, request)
        finally:
            spans["settle"].append((began, loop.time()))

    async def claiming(*args: Any, **kwargs: Any) -> list[Job]:  # the claim statement
        began = loop.time()
        try:
            jobs: list[Job] = await claim(*args, **kwargs)
            return jobs
        finally:
            spans["claim"].append((began, loop.time()))

    driver.settle_and_claim = settling  # type: ignore[method-assign]
    driver._claim = claiming  # type: ignore[attr-defined]
    # prefetch 2: each claim asks for 3 jobs and gets 1, as a sparse queue answers
    await parent_then_child(backend, driver, str(tmp_path / "ran.log"), concurrency=1, prefetch=2)
    assert spans["settle"], "the parent's outcome was settled with a claim asked"
    began, ended = spans["settle"][0]  # the parent's: it claimed the child
    beside = [c for c in spans["claim"] if c[0] < ended and c[1] > began]
    assert beside == [], f"claims sent while the parent's settle was on its way: {beside}"
