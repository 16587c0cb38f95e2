"""Batches on MySQL: outcome batches that are partly refused, and rows near the size a
MySQL packet allows."""

from __future__ import annotations

import time

import pytest

from asynctasq.drivers.mysql import MySQLDriver
from asynctasq.drivers.sanitize import ERROR_TEXT_MAX_CHARS
from asynctasq.jobs import Completed, Failed, Job, JobState, Released, Retried
from tests.backends import Backend
from tests.conftest import only_backends

W = "worker-1"


async def claimed(driver: MySQLDriver, n: int, **fields: object) -> list[Job]:
    await driver.enqueue([Job(task="t", payload=b"", max_attempts=3, **fields) for _ in range(n)])  # type: ignore[arg-type]
    jobs = await driver.reserve(["default"], limit=n, worker_id=W, lease_seconds=30)
    assert len(jobs) == n
    return jobs


@only_backends("mysql")
@pytest.mark.parametrize("keep", [False, True])
async def test_a_batch_with_refused_outcomes_applies_the_others(
    backend: Backend, keep: bool
) -> None:
    driver = await backend.new_driver(keep_completed=keep)
    assert isinstance(driver, MySQLDriver)
    a, b, c, d = await claimed(driver, 4)
    batch = [
        Completed(a.id, W, 1, result=b"ok"),
        Completed(b.id, "someone-else", 1),  # refused: not its holder
        Retried(c.id, W, 1, run_at=time.time() + 60, error="later"),
        Completed(a.id, W, 1),  # refused: the job's outcome is already in this batch
        Failed(d.id, W, 2, error="x"),  # refused: another attempt
        Released(d.id, W, 1),
    ]
    assert await driver.settle(batch) == [True, False, True, False, False, True]
    done = await driver.get(a.id)
    assert (done is None) if not keep else (done is not None and done.result == b"ok")
    still = await driver.get(b.id)
    assert still is not None and still.state is JobState.ACTIVE
    later = await driver.get(c.id)
    assert later is not None and (later.state, later.error) == (JobState.SCHEDULED, "later")
    back = await driver.get(d.id)
    assert back is not None and (back.state, back.attempts) == (JobState.PENDING, 0)


@only_backends("mysql")
async def test_long_errors_are_cut_and_big_batches_split(backend: Backend) -> None:
    driver = await backend.new_driver()
    assert isinstance(driver, MySQLDriver)
    driver._max_statement = 200_000  # as if max_allowed_packet were small
    jobs = await claimed(driver, 30)
    huge = "Traceback ...\n" + "x" * (ERROR_TEXT_MAX_CHARS + 5000) + "\nValueError: end"
    outcomes = [Failed(job.id, W, 1, error=f"{i}: " + "y" * 20_000) for i, job in enumerate(jobs)]
    outcomes[0] = Failed(jobs[0].id, W, 1, error=huge)
    driver._max_statement = 8 << 20  # the cut error still has to fit
    assert await driver.settle(outcomes[:1]) == [True]
    driver._max_statement = 200_000
    assert await driver.settle(outcomes[1:]) == [True] * 29  # several statements
    first = await driver.get(jobs[0].id)
    assert first is not None and first.error is not None
    assert len(first.error) == ERROR_TEXT_MAX_CHARS and "characters cut]" in first.error
    assert first.error.startswith("Traceback") and first.error.endswith("ValueError: end")
    failed = await driver.list_jobs("default", JobState.FAILED, limit=100)
    assert len(failed) == 30


@only_backends("mysql")
async def test_a_result_too_big_for_a_packet_fails_its_job_instead_of_the_batch(
    backend: Backend,
) -> None:
    driver = await backend.new_driver(keep_completed=True)
    assert isinstance(driver, MySQLDriver)
    big, small = await claimed(driver, 2)
    driver._max_statement = 100_000
    batch = [Completed(big.id, W, 1, result=b"r" * 200_000), Completed(small.id, W, 1, result=b"s")]
    assert await driver.settle(batch) == [True, True]
    got = await driver.get(big.id)
    assert got is not None and got.state is JobState.FAILED
    assert got.error is not None and got.error.startswith("ResultTooLarge")
    ok = await driver.get(small.id)
    assert ok is not None and ok.result == b"s"


@only_backends("mysql")
async def test_a_payload_too_big_for_a_packet_is_refused_clearly(backend: Backend) -> None:
    driver = await backend.new_driver()
    assert isinstance(driver, MySQLDriver)
    driver._max_statement = 100_000
    with pytest.raises(ValueError, match="max_allowed_packet"):
        await driver.enqueue([Job(task="t", payload=b"p" * 60_000)])
    jobs = [Job(task="t", payload=bytes([i % 256]) * 20_000) for i in range(20)]
    assert await driver.enqueue(jobs) == [j.id for j in jobs]  # split across statements
    got = await driver.get(jobs[7].id)
    assert got is not None and got.payload == bytes([7]) * 20_000
