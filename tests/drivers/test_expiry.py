"""Job expiry (``ttl=``) on every broker with the Expiry capability: a job claimed
after its ``expires_at`` moves to ``expired``, is never handed out, and an operator
can requeue it.

Written to move into ``asynctasq.testing.conformance`` later: parametrised on the
``backend`` fixture, skipped by capability name. The brokers that take a clock get a
ManualClock, moved instead of sleeping (the memory driver reads the system clock).
"""

from __future__ import annotations

import time

import pytest

from asynctasq.clock import ManualClock
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import CapabilityMissing, Expiry, Inspection, Management
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
