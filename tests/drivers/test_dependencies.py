"""The Dependencies capability (workflows, issue 15), on every broker that declares it.

Written to move into ``asynctasq.testing.conformance`` beside the driver contract:
parametrised on the ``backend`` fixture, skipped by name on a driver without the
capability.
"""

from __future__ import annotations

import time

import pytest

from asynctasq.clock import ManualClock
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Dependencies, Inspection, Management, Removal
from asynctasq.drivers.dependencies import DependencyCycle, UnknownParent
from asynctasq.drivers.sql.driver import SWEEP_INTERVAL
from asynctasq.jobs import Job, JobState, new_job_id
from tests.backends import Backend
from tests.conftest import only_backends, skip_without

W1 = "worker-1"


@pytest.fixture
async def driver(backend: Backend) -> Driver:
    skip_without(backend, Dependencies, Inspection, Management)
    return await backend.new_driver()


def job(*parents: str, policy: str = "fail", queue: str = "default") -> Job:
    return Job(
        task="tests.noop",
        payload=b"\x80",
        queue=queue,
        depends_on=tuple(parents),
        on_parent_failure=policy,
    )


async def claim_all(driver: Driver) -> list[str]:
    jobs = await driver.claim(["default"], limit=100, worker_id=W1, lease_seconds=30.0)
    return sorted(j.id for j in jobs)


async def run(driver: Driver, expected: list[str], *, fail: bool = False) -> None:
    """Claim exactly ``expected`` (nothing else is ready) and complete (or fail) them."""
    claimed = await driver.claim(["default"], limit=100, worker_id=W1, lease_seconds=30.0)
    assert sorted(j.id for j in claimed) == sorted(expected)
    for claimed_job in claimed:
        settled = (
            await driver.fail(claimed_job, "boom") if fail else await driver.complete(claimed_job)
        )
        assert settled


async def state_of(driver: Driver, job_id: str) -> JobState | None:
    assert isinstance(driver, Inspection)
    found = await driver.get(job_id)
    return None if found is None else found.state


async def test_a_child_is_blocked_until_its_last_parent_completes(driver: Driver) -> None:
    a, b = job(), job()
    child = job(a.id, b.id)
    await driver.enqueue([child, a, b])  # a child may come before its parents in a batch
    assert await state_of(driver, child.id) is JobState.BLOCKED
    claimed = await driver.claim(["default"], limit=100, worker_id=W1, lease_seconds=30.0)
    assert sorted(j.id for j in claimed) == sorted([a.id, b.id])
    first, second = sorted(claimed, key=lambda j: j.id == b.id)
    assert await driver.complete(first)
    assert await state_of(driver, child.id) is JobState.BLOCKED
    assert await claim_all(driver) == []
    assert await driver.complete(second)
    assert await state_of(driver, child.id) is JobState.PENDING
    await run(driver, [child.id])


async def test_a_chain_runs_in_order(driver: Driver) -> None:
    chain = [job()]
    for _ in range(4):
        chain.append(job(chain[-1].id))
    await driver.enqueue(chain)
    for step in chain:
        await run(driver, [step.id])
    assert await claim_all(driver) == []


async def test_a_parent_that_already_completed_counts_as_done(driver: Driver) -> None:
    parent = job()
    await driver.enqueue([parent])
    await run(driver, [parent.id])  # completed jobs are not kept by default
    child = job(parent.id)
    await driver.enqueue([child])
    await run(driver, [child.id])


async def test_an_unknown_parent_is_refused_and_nothing_is_stored(driver: Driver) -> None:
    missing = new_job_id()
    ok, bad = job(), job(missing)
    with pytest.raises(UnknownParent, match=missing):
        await driver.enqueue([ok, bad])
    assert await state_of(driver, ok.id) is None
    assert await claim_all(driver) == []


async def test_a_cycle_is_refused(driver: Driver) -> None:
    a, b = job(), job()
    a.depends_on, b.depends_on = (b.id,), (a.id,)
    with pytest.raises(DependencyCycle):
        await driver.enqueue([a, b])
    assert await state_of(driver, a.id) is None


async def test_a_failed_parent_fails_its_descendants_naming_it(driver: Driver) -> None:
    parent = job()
    child = job(parent.id)
    grandchild = job(child.id)
    await driver.enqueue([parent, child, grandchild])
    await run(driver, [parent.id], fail=True)
    assert isinstance(driver, Inspection)
    for descendant, named in ((child, parent), (grandchild, child)):
        got = await driver.get(descendant.id)
        assert got is not None and got.state is JobState.FAILED
        assert got.error is not None and named.id in got.error and "ParentFailed" in got.error
    assert await claim_all(driver) == []


async def test_policies_cancel_and_run(driver: Driver) -> None:
    parent, other = job(), job()
    cancelled = job(parent.id, policy="cancel")
    runs = job(parent.id, other.id, policy="run")
    await driver.enqueue([parent, other, cancelled, runs])
    claimed = await driver.claim(["default"], limit=100, worker_id=W1, lease_seconds=30.0)
    by_id = {j.id: j for j in claimed}
    assert sorted(by_id) == sorted([parent.id, other.id])
    assert await driver.fail(by_id[parent.id], "boom")
    assert await state_of(driver, cancelled.id) is JobState.CANCELLED
    assert await state_of(driver, runs.id) is JobState.BLOCKED  # `other` is unfinished
    assert await driver.complete(by_id[other.id])
    await run(driver, [runs.id])


async def test_a_child_of_an_already_failed_parent_ends_at_dispatch(driver: Driver) -> None:
    parent = job()
    await driver.enqueue([parent])
    await run(driver, [parent.id], fail=True)
    failed, cancelled = job(parent.id), job(parent.id, policy="cancel")
    await driver.enqueue([failed, cancelled])
    assert await state_of(driver, failed.id) is JobState.FAILED
    assert await state_of(driver, cancelled.id) is JobState.CANCELLED
    assert await claim_all(driver) == []


async def test_cancelling_a_parent_applies_the_policy(driver: Driver) -> None:
    assert isinstance(driver, Management)
    parent = job()
    blocked_parent = job(parent.id)
    child = job(blocked_parent.id)
    await driver.enqueue([parent, blocked_parent, child])
    assert await driver.cancel(blocked_parent.id)
    assert await state_of(driver, child.id) is JobState.FAILED
    await run(driver, [parent.id])
    assert await claim_all(driver) == []


async def test_removing_an_unfinished_parent_fails_its_children(
    backend: Backend, driver: Driver
) -> None:
    skip_without(backend, Removal)
    assert isinstance(driver, Removal)
    parent = job()
    child = job(parent.id)
    await driver.enqueue([parent, child])
    assert await driver.remove(parent.id)
    assert await state_of(driver, child.id) is JobState.FAILED
    assert await claim_all(driver) == []


async def test_fan_in_of_many_parents(driver: Driver) -> None:
    parents = [job() for _ in range(50)]
    sink = job(*(p.id for p in parents))
    await driver.enqueue([*parents, sink])
    await run(driver, [p.id for p in parents])
    await run(driver, [sink.id])


async def test_purging_an_unfinished_parent_fails_its_children(driver: Driver) -> None:
    assert isinstance(driver, Management)
    parent = job(queue="doomed")
    child = job(parent.id, queue="doomed")  # blocked: the purge of pending leaves it
    await driver.enqueue([parent, child])
    assert await driver.purge("doomed", JobState.PENDING) == 1
    assert await state_of(driver, child.id) is JobState.FAILED
    assert await claim_all(driver) == []


async def test_a_purged_completed_parent_is_forgotten(backend: Backend) -> None:
    """Completed jobs kept, then purged: a child dispatched later that names one is
    refused as for an unknown id (docs/workflows.md, operator actions)."""
    skip_without(backend, Dependencies, Inspection, Management)
    driver = await backend.new_driver(keep_completed=True)
    assert isinstance(driver, Management)
    parent = job()
    await driver.enqueue([parent])
    await run(driver, [parent.id])
    assert await driver.purge("default", JobState.COMPLETED) == 1
    with pytest.raises(UnknownParent):
        await driver.enqueue([job(parent.id)])


async def test_blocked_jobs_are_listed_as_blocked(driver: Driver) -> None:
    assert isinstance(driver, Inspection)
    parent = job()
    child = job(parent.id)
    await driver.enqueue([parent, child])
    assert [j.id for j in await driver.list_jobs("default", JobState.BLOCKED)] == [child.id]


# -- dependencies across queues: every broker but Redis Cluster (below) ---------------


async def claim_from(driver: Driver, queue: str, lease_seconds: float = 30.0) -> list[Job]:
    return await driver.claim([queue], limit=100, worker_id=W1, lease_seconds=lease_seconds)


def cross_queue(backend: Backend) -> None:
    if backend.name == "redis-cluster":
        pytest.skip("Redis Cluster refuses a parent in another queue (tested below)")


async def test_a_parent_in_another_queue_releases_its_child(
    backend: Backend, driver: Driver
) -> None:
    cross_queue(backend)
    earlier = job(queue="other")
    await driver.enqueue([earlier])  # stored before its child, in another queue
    sibling = job(queue="third")
    child = job(earlier.id, sibling.id)  # fan-in from two other queues
    await driver.enqueue([child, sibling])
    assert await state_of(driver, child.id) is JobState.BLOCKED
    for queue in ("other", "third"):
        (parent,) = await claim_from(driver, queue)
        assert await claim_all(driver) == []  # still blocked by the other one
        assert await driver.complete(parent)
    await run(driver, [child.id])  # released in its own queue when the last completed
    assert await state_of(driver, child.id) in (JobState.COMPLETED, None)


async def test_a_completed_parent_in_another_queue_counts_as_done(
    backend: Backend, driver: Driver
) -> None:
    cross_queue(backend)
    parent = job(queue="other")
    await driver.enqueue([parent])
    (claimed,) = await claim_from(driver, "other")
    assert await driver.complete(claimed)  # deleted, remembered as completed there
    child = job(parent.id)
    await driver.enqueue([child])
    assert await claim_all(driver) == [child.id]


async def test_a_batch_across_queues_with_an_unknown_parent_stores_nothing(
    backend: Backend, driver: Driver
) -> None:
    cross_queue(backend)
    parent = job(queue="other")
    linked, stray = job(parent.id), job(new_job_id(), queue="third")
    with pytest.raises(UnknownParent):
        await driver.enqueue([parent, linked, stray])
    for stored in (parent, linked, stray):
        assert await state_of(driver, stored.id) is None


async def test_a_failure_cascades_across_queues_by_each_policy(
    backend: Backend, driver: Driver
) -> None:
    cross_queue(backend)
    parent = job(queue="other")
    child = job(parent.id)  # in "default"
    grandchild = job(child.id, policy="cancel", queue="third")
    runs = job(parent.id, policy="run", queue="third")
    await driver.enqueue([grandchild, runs, child, parent])
    (claimed,) = await claim_from(driver, "other")
    assert await driver.fail(claimed, "boom")
    assert await state_of(driver, child.id) is JobState.FAILED
    assert await state_of(driver, grandchild.id) is JobState.CANCELLED
    assert [j.id for j in await claim_from(driver, "third")] == [runs.id]
    got = await driver.get(grandchild.id) if isinstance(driver, Inspection) else None
    assert got is not None and got.error is not None and child.id in got.error


async def test_cancelling_or_removing_a_parent_ends_children_in_other_queues(
    backend: Backend, driver: Driver
) -> None:
    cross_queue(backend)
    skip_without(backend, Removal)
    assert isinstance(driver, Removal)
    cancelled, removed = job(queue="other"), job(queue="other")
    first, second = job(cancelled.id), job(removed.id, policy="cancel")
    await driver.enqueue([cancelled, removed, first, second])
    assert await driver.cancel(cancelled.id)
    assert await state_of(driver, first.id) is JobState.FAILED
    assert await driver.remove(removed.id)
    assert await state_of(driver, second.id) is JobState.CANCELLED


async def test_lease_recovery_fails_children_in_other_queues(backend: Backend) -> None:
    cross_queue(backend)
    skip_without(backend, Dependencies, Inspection, Management)
    clock = ManualClock(time.time())
    driver = await backend.new_driver(clock=clock)
    parent = job(queue="other")
    parent.max_attempts, parent.run_at = 1, clock.time() - 1
    child = job(parent.id)
    await driver.enqueue([parent, child])
    assert len(await claim_from(driver, "other", lease_seconds=5.0)) == 1
    clock.advance(10)  # its worker died: the lease lapsed on its last attempt
    recovery = await driver.recover_expired()
    assert [j.id for j in recovery.dead] == [parent.id]
    assert await state_of(driver, child.id) is JobState.FAILED


@only_backends("redis-cluster")
async def test_redis_cluster_refuses_a_parent_in_another_queue(driver: Driver) -> None:
    parent = job(queue="other")
    await driver.enqueue([parent])
    with pytest.raises(ValueError, match=r"Redis Cluster .* one hash tag") as raised:
        await driver.enqueue([job(parent.id)])  # stored earlier, in another queue
    assert "plain (non-cluster) Redis" in str(raised.value) and "'other'" in str(raised.value)
    with pytest.raises(ValueError, match="on Redis Cluster a job's parents"):
        await driver.enqueue([second := job(queue="other"), job(second.id)])
    with pytest.raises(UnknownParent):
        await driver.enqueue([job(new_job_id())])  # nowhere at all
    assert await driver.enqueue([same := job(queue="other"), job(same.id, queue="other")])


async def test_a_parent_that_expires_at_its_claim_ends_its_children(backend: Backend) -> None:
    """A ttl that ran out before the parent was claimed: the claim moves it to expired
    (never handed out), and its children follow their policy: none waits for a parent
    that will never run. Redis and memory do it in the claim itself; a SQL broker in
    its next dependency repair (recover_expired, every SWEEP_INTERVAL)."""
    skip_without(backend, Dependencies, Inspection, Management)
    clock = ManualClock(time.time())
    driver = await backend.new_driver(clock=clock)
    parent = job()
    parent.run_at, parent.expires_at = clock.time() - 1, clock.time() + 1
    failing, running = job(parent.id), job(parent.id, policy="run")
    await driver.enqueue([parent, failing, running])
    clock.advance(5)
    first = await claim_all(driver)  # the parent expires at this claim
    assert await state_of(driver, parent.id) is JobState.EXPIRED
    clock.advance(SWEEP_INTERVAL + 1)
    await driver.recover_expired()
    assert first + await claim_all(driver) == [running.id]
    ended = await driver.get(failing.id)
    assert ended is not None and ended.state is JobState.FAILED
    assert parent.id in (ended.error or "") and "expired" in (ended.error or "")
