"""The Results capability (workflows, issue 15), on every broker that declares it:
a completed job's result is kept with its completion, read back by id with how the
job ended, and a waiter is woken when the job finishes."""

from __future__ import annotations

import asyncio

import pytest

from asynctasq.core.results import wait_outcomes
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Management, Results
from asynctasq.errors import ResultTimeoutError, ResultUnavailableError
from asynctasq.jobs import Completed, Failed, Job, JobState, Outcome, new_job_id
from tests.backends import Backend
from tests.conftest import skip_without

W1 = "worker-1"


@pytest.fixture
async def driver(backend: Backend) -> Driver:
    skip_without(backend, Results)
    return await backend.new_driver()


def job(*parents: str) -> Job:
    return Job(task="tests.noop", payload=b"\x80", depends_on=tuple(parents))


async def claim_one(driver: Driver, job_id: str) -> Job:
    claimed = await driver.claim(["default"], limit=10, worker_id=W1, lease_seconds=30.0)
    assert [j.id for j in claimed] == [job_id]
    return claimed[0]


def results(driver: Driver) -> Results:
    assert isinstance(driver, Results)
    return driver


async def test_a_completed_jobs_result_is_kept(driver: Driver) -> None:
    a, b = job(), job()
    await driver.enqueue([a])
    assert (await results(driver).job_outcomes([a.id]))[a.id].state is JobState.PENDING
    assert await driver.complete(await claim_one(driver, a.id), b"\x92\x01\x02")
    await driver.enqueue([b])
    assert await driver.complete(await claim_one(driver, b.id))  # None: nothing kept
    found = await results(driver).job_outcomes([a.id, b.id, "unknown-id"])
    assert set(found) == {a.id, b.id}
    assert found[a.id].state is JobState.COMPLETED
    assert found[a.id].result == b"\x92\x01\x02"
    assert found[b.id].state is JobState.COMPLETED and found[b.id].result is None


async def test_a_failed_job_reports_its_error(driver: Driver) -> None:
    a = job()
    await driver.enqueue([a])
    assert await driver.fail(await claim_one(driver, a.id), "ValueError: bad input")
    found = (await results(driver).job_outcomes([a.id]))[a.id]
    assert found.state is JobState.FAILED
    assert found.error is not None and found.error.startswith("ValueError: bad input")


async def test_a_waiter_wakes_when_the_job_completes(driver: Driver) -> None:
    a = job()
    await driver.enqueue([a])
    claimed = await claim_one(driver, a.id)
    waiter = asyncio.create_task(wait_outcomes(driver, [a.id], 30.0))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    assert await driver.complete(claimed, b"\xc3")
    found = await asyncio.wait_for(waiter, 10.0)
    assert found[a.id].result == b"\xc3"


async def test_waiting_times_out_and_unknown_ids_are_refused(driver: Driver) -> None:
    a = job()
    await driver.enqueue([a])
    with pytest.raises(ResultTimeoutError, match="pending"):
        await wait_outcomes(driver, [a.id], 0.05)
    with pytest.raises(ResultUnavailableError):
        await wait_outcomes(driver, [new_job_id()], 1.0)


async def test_a_cancelled_child_reports_it(driver: Driver) -> None:
    if not isinstance(driver, Management):
        pytest.skip("needs Management")
    a = job()
    await driver.enqueue([a])
    assert await driver.cancel(a.id)
    found = (await wait_outcomes(driver, [a.id], 5.0))[a.id]
    assert found.state is JobState.CANCELLED


async def test_thousands_of_outcomes_in_one_read_across_queues(
    driver: Driver, backend: Backend
) -> None:
    """A fan-in child reads every parent at once: more ids than one statement or script
    call takes, in two queues, completed (result kept or not), failed, still pending,
    unknown, asked twice and in any order."""
    queues = ["default", "other"]
    # (a slow test server, MongoDB's emulator: just over its 1,000 ids a read)
    total = 2_400 if getattr(backend, "max_jobs", None) is None else 1_100
    jobs = [Job(task="tests.noop", payload=b"\x80", queue=queues[i % 2]) for i in range(total)]
    await driver.enqueue(jobs)
    claimed = await driver.claim(queues, limit=total - 100, worker_id=W1, lease_seconds=60.0)
    assert len(claimed) == total - 100
    expected: dict[str, tuple[JobState, bytes | None]] = {}
    outcomes: list[Outcome] = []
    for i, one in enumerate(claimed):
        fence = {"job_id": one.id, "worker_id": W1, "attempt": one.attempts, "queue": one.queue}
        if i % 7 == 0:
            outcomes.append(Failed(**fence, error=f"ValueError: {i}"))
            expected[one.id] = (JobState.FAILED, None)
        else:
            result = None if i % 3 == 0 else i.to_bytes(2, "big")
            outcomes.append(Completed(**fence, result=result))
            expected[one.id] = (JobState.COMPLETED, result)
    assert all(await driver.settle(outcomes))
    for one in jobs:
        expected.setdefault(one.id, (JobState.PENDING, None))
    unknown = [new_job_id() for _ in range(5)]
    asked = [*reversed(list(expected)), *unknown, *list(expected)[:10]]
    found = await results(driver).job_outcomes(asked)
    assert set(found) == set(expected)
    for job_id, (state, result) in expected.items():
        assert (found[job_id].state, found[job_id].result) == (state, result), job_id
        if state is JobState.FAILED:
            assert (found[job_id].error or "").startswith("ValueError: ")
