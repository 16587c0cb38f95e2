"""Contract of ``Management.requeue_many`` and ``Removal.remove`` on every broker that
declares them (written to move into the conformance suite as it is): a batch requeue
answers exactly as ``requeue`` one id at a time would, unique keys included, and
``remove`` deletes any job but an active one."""

from __future__ import annotations

import time

import pytest

from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection, Management, Removal
from asynctasq.drivers.sql.admin import SQLOperatorSide
from asynctasq.jobs import Failed, Job, JobState
from tests.backends import Backend
from tests.conftest import only_backends, skip_without

ADMIN = ("memory", "sqlite", "redis", "postgres", "mysql", "mongodb")
WORKER = "w-test"


def make_job(**fields: object) -> Job:
    return Job(task="tests.noop", payload=b"\x81\xa4args\x80", **fields)  # type: ignore[arg-type]


async def active(driver: Driver, job: Job) -> str:
    """``job`` enqueued and claimed (nothing else waits in its queue)."""
    (job_id,) = await driver.enqueue([job])
    (claimed,) = await driver.claim(["default"], limit=1, worker_id=WORKER, lease_seconds=60)
    assert claimed.id == job_id
    return job_id


async def dead(driver: Driver, job: Job) -> str:
    """``job`` enqueued, claimed and failed for good."""
    job_id = await active(driver, job)
    failed = Failed(job_id, WORKER, 1, "default", error="KeyError: 'x'")
    assert await driver.settle([failed]) == [True]
    return job_id


async def state_of(driver: Inspection, job_id: str) -> JobState | None:
    job = await driver.get(job_id)
    return None if job is None else job.state


@only_backends(*ADMIN)
async def test_requeue_many_answers_per_id_in_order(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    skip_without(backend, Inspection, Management)
    driver = await backend.new_driver()
    assert isinstance(driver, Inspection) and isinstance(driver, Management)
    if isinstance(driver, SQLOperatorSide):
        monkeypatch.setattr(driver, "requeue_slice", 2)  # several statements for 5 ids
    failed = [await dead(driver, make_job()) for _ in range(3)]
    (cancelled,) = await driver.enqueue([make_job(run_at=time.time() + 3600)])
    assert await driver.cancel(cancelled)
    running = await active(driver, make_job())
    (waiting,) = await driver.enqueue([make_job(run_at=time.time() + 3600)])

    before = time.time()
    ids = [failed[0], running, waiting, "unknown-id", failed[1], cancelled, failed[2]]
    answers = await driver.requeue_many(ids)
    after = time.time()

    assert answers == [True, False, False, False, True, True, True]
    for job_id in (*failed, cancelled):
        job = await driver.get(job_id)
        assert job is not None and job.state is JobState.PENDING
        assert job.attempts == 0 and job.error is None and job.finished_at is None
        assert before - 1 <= job.run_at <= after + 1
    assert await state_of(driver, running) is JobState.ACTIVE
    assert (await driver.get(waiting)).run_at > after + 3000  # type: ignore[union-attr]
    assert await driver.requeue_many([]) == []


@only_backends(*ADMIN)
async def test_requeue_many_answers_an_id_named_twice_once(backend: Backend) -> None:
    driver = await backend.new_driver()
    assert isinstance(driver, Management)
    job_id = await dead(driver, make_job())
    # as two requeue() calls would answer: the second finds the job pending
    assert await driver.requeue_many([job_id, job_id]) == [True, False]


@only_backends(*ADMIN)
async def test_requeue_many_keeps_a_unique_key_to_one_unfinished_job(
    backend: Backend,
) -> None:
    skip_without(backend, Inspection, Management)
    driver = await backend.new_driver()
    assert isinstance(driver, Inspection) and isinstance(driver, Management)
    # two dead jobs of one key (the first had finished when the second came), and a
    # dead one whose key a waiting job holds
    twins = [await dead(driver, make_job(unique_key="report:1")) for _ in range(2)]
    taken = await dead(driver, make_job(unique_key="report:2"))
    plain = await dead(driver, make_job())
    (holder,) = await driver.enqueue([make_job(unique_key="report:2")])

    answers = await driver.requeue_many([*twins, taken, plain])

    assert answers[2:] == [False, True]
    assert sorted(answers[:2]) == [False, True]  # one of the twins, never both
    states = [await state_of(driver, job_id) for job_id in twins]
    assert sorted(s.value for s in states if s) == ["failed", "pending"]
    assert await state_of(driver, taken) is JobState.FAILED
    assert await state_of(driver, holder) is JobState.PENDING


@only_backends(*ADMIN)
async def test_remove_deletes_any_job_but_an_active_one(backend: Backend) -> None:
    skip_without(backend, Inspection, Removal)
    driver = await backend.new_driver()
    assert isinstance(driver, Inspection) and isinstance(driver, Removal)
    failed = await dead(driver, make_job())
    running = await active(driver, make_job(unique_key="sync:1"))
    (waiting,) = await driver.enqueue([make_job(unique_key="mail:1")])

    assert await driver.remove(failed) and await driver.remove(waiting)
    assert not await driver.remove(failed)  # gone already
    assert not await driver.remove("unknown-id")
    assert not await driver.remove(running)

    assert await driver.get(failed) is None and await driver.get(waiting) is None
    assert await state_of(driver, running) is JobState.ACTIVE
    # the removed job's unique key is free again; the active one's is still held
    (again,) = await driver.enqueue([make_job(unique_key="mail:1")])
    assert again != waiting and await state_of(driver, again) is JobState.PENDING
    assert await driver.enqueue([make_job(unique_key="sync:1")]) == [running]
