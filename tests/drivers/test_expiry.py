"""Job expiry (``ttl=``) on every broker with the Expiry capability: a job claimed
after its ``expires_at`` moves to ``expired``, is never handed out, and an operator
can requeue it; the background sweep moves waiting ones past it without a claim.

Written to move into ``asynctasq.testing.conformance`` later: parametrised on the
``backend`` fixture, skipped by capability name. The brokers that take a clock get a
ManualClock, moved instead of sleeping (the memory driver reads the system clock).
"""

from __future__ import annotations

import time

import pytest

from asynctasq.clock import ManualClock
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import (
    CapabilityMissing,
    Dependencies,
    Expiry,
    Inspection,
    Management,
)
from asynctasq.expiry import expired_reason
from asynctasq.jobs import Job, JobState
from tests.backends import Backend
from tests.conftest import only_backends, skip_without

LEASE = 60.0


async def _driver(backend: Backend) -> tuple[Driver, ManualClock | None]:
    skip_without(backend, Expiry, Inspection, Management)
    if backend.name == "memory":
        return await backend.new_driver(), None
    clock = ManualClock(time.time())
    return await backend.new_driver(clock=clock), clock


def _now(clock: ManualClock | None) -> float:
    return time.time() if clock is None else clock.time()


async def _claim(driver: Driver) -> list[str]:
    jobs = await driver.claim(["default"], limit=10, worker_id="w1", lease_seconds=LEASE)
    return sorted(job.id for job in jobs)


async def test_a_job_past_its_ttl_expires_at_claim_and_never_runs(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    now = _now(clock)
    late = Job(task="t", payload=b"", id="late", run_at=now - 10, expires_at=now - 1)
    fresh = Job(task="t", payload=b"", id="fresh", run_at=now - 10, expires_at=now + 3600)
    plain = Job(task="t", payload=b"", id="plain", run_at=now - 10)
    await driver.enqueue([late, fresh, plain])

    assert await _claim(driver) == ["fresh", "plain"]
    assert isinstance(driver, Inspection)
    expired = await driver.get("late")
    assert expired is not None
    assert expired.state is JobState.EXPIRED
    assert expired.error == expired_reason(now - 1)
    assert expired.attempts == 0  # never started: no attempt counted
    assert await _claim(driver) == []


async def test_an_expired_job_requeued_by_an_operator_runs(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    now = _now(clock)
    await driver.enqueue([Job(task="t", payload=b"", id="late", run_at=now, expires_at=now - 1)])
    assert await _claim(driver) == []
    assert isinstance(driver, Management)
    assert await driver.requeue("late")  # expired is in the dead-letter family
    assert await _claim(driver) == ["late"]  # the requeue spent its ttl


async def test_time_on_the_drivers_clock_expires_waiting_jobs_only(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    if clock is None:
        pytest.skip("the memory driver reads the system clock")
    now = clock.time()
    await driver.enqueue([Job(task="t", payload=b"", id="started", run_at=now, expires_at=now + 5)])
    assert await _claim(driver) == ["started"]  # claimed in time
    await driver.enqueue([Job(task="t", payload=b"", id="waits", run_at=now, expires_at=now + 5)])
    clock.advance(10)
    assert await _claim(driver) == []
    assert isinstance(driver, Inspection)
    states = {job_id: (await driver.get(job_id)) for job_id in ("started", "waits")}
    assert {k: v and v.state for k, v in states.items()} == {
        "started": JobState.ACTIVE,  # a ttl bounds the wait, not the run
        "waits": JobState.EXPIRED,
    }


@only_backends("rabbitmq")
async def test_a_broker_without_expiry_refuses_a_ttl(backend: Backend) -> None:
    driver = backend.make_driver()  # refused before any connection is made
    job = Job(task="t", payload=b"", expires_at=time.time() + 60)
    with pytest.raises(CapabilityMissing, match="Expiry"):
        await driver.enqueue([job])


# -- the background sweep (Expiry.sweep_expired, run on the worker's maintenance tick) --


async def test_the_sweep_moves_waiting_jobs_past_their_ttl_to_expired(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    assert isinstance(driver, Expiry) and isinstance(driver, Inspection)
    now = _now(clock)
    started = Job(task="t", payload=b"", id="started", run_at=now - 10, expires_at=now + 3600)
    await driver.enqueue([started])
    assert await _claim(driver) == ["started"]
    await driver.enqueue(
        [
            Job(task="t", payload=b"", id="late", run_at=now - 10, expires_at=now - 1,
                unique_key="k-late"),
            # a retried job keeps its expires_at: waiting for a later run_at, past it
            Job(task="t", payload=b"", id="later", run_at=now + 600, expires_at=now - 2),
            Job(task="t", payload=b"", id="fresh", run_at=now - 10, expires_at=now + 3600),
            Job(task="t", payload=b"", id="plain", run_at=now - 10),
        ]
    )  # fmt: skip
    assert await driver.sweep_expired() == 2
    states = {i: (await driver.get(i)) for i in ("started", "late", "later", "fresh", "plain")}
    assert {i: job and job.state for i, job in states.items()} == {
        "started": JobState.ACTIVE,
        "late": JobState.EXPIRED,
        "later": JobState.EXPIRED,
        "fresh": JobState.PENDING,
        "plain": JobState.PENDING,
    }
    late = states["late"]
    assert late is not None and late.error == expired_reason(now - 1) and late.attempts == 0
    assert late.finished_at is not None
    stats = await driver.stats("default")
    assert stats.failed == 2  # counted with the dead letters
    assert stats.depth == 2 and stats.processing == 1 and stats.scheduled == 0
    assert await driver.sweep_expired() == 0  # nothing left to move
    # its unique key is free again
    again = Job(task="t", payload=b"", id="again", run_at=now - 10, unique_key="k-late")
    assert await driver.enqueue([again]) == ["again"]
    assert sorted(await _claim(driver)) == ["again", "fresh", "plain"]


async def test_the_sweep_goes_in_batches(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    assert isinstance(driver, Expiry) and isinstance(driver, Inspection)
    now = _now(clock)
    late = [
        Job(task="t", payload=b"", id=f"late-{i}", run_at=now - 10, expires_at=now - 5 + i / 10)
        for i in range(7)
    ]
    await driver.enqueue(late)
    assert [await driver.sweep_expired(3) for _ in range(4)] == [3, 3, 1, 0]
    assert (await driver.stats("default")).failed == 7


async def test_the_sweep_waits_for_the_ttl_on_the_drivers_clock(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    if clock is None:
        pytest.skip("the memory driver reads the system clock")
    assert isinstance(driver, Expiry) and isinstance(driver, Inspection)
    now = clock.time()
    soon = Job(task="t", payload=b"", id="soon", run_at=now + 5, expires_at=now + 15)
    await driver.enqueue([soon])
    assert await driver.sweep_expired() == 0
    clock.advance(10)  # due, not expired
    assert await driver.sweep_expired() == 0
    clock.advance(10)
    assert await driver.sweep_expired() == 1
    stored = await driver.get("soon")
    assert stored is not None and stored.state is JobState.EXPIRED


async def test_an_expired_parent_ends_its_blocked_children(backend: Backend) -> None:
    driver, clock = await _driver(backend)
    skip_without(backend, Dependencies)
    assert isinstance(driver, Expiry) and isinstance(driver, Inspection)
    now = _now(clock)
    parent = Job(task="t", payload=b"", id="parent", run_at=now - 10, expires_at=now - 1)
    child = Job(task="t", payload=b"", id="child", run_at=now - 10, depends_on=("parent",))
    await driver.enqueue([parent, child])
    assert await driver.sweep_expired() == 1
    stored = await driver.get("child")
    assert stored is not None and stored.state is JobState.FAILED  # on_parent_failure="fail"
    assert stored.error is not None and "parent" in stored.error
