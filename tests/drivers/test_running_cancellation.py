"""Cancelling a running job on every broker with RunningCancellation: the job ends
``cancelled`` at once, its lease is withdrawn (renewal does not hold it) and its
worker's outcome is refused.

Written to move into ``asynctasq.testing.conformance`` later: parametrised on the
``backend`` fixture, skipped by capability name.
"""

from __future__ import annotations

from asynctasq.drivers.capabilities import Inspection, Management, RunningCancellation
from asynctasq.jobs import Completed, Job, JobState
from asynctasq.operations.jobs import cancel_jobs
from tests.backends import Backend
from tests.conftest import skip_without


async def test_an_active_job_is_cancelled_and_its_outcome_refused(backend: Backend) -> None:
    skip_without(backend, RunningCancellation, Inspection, Management)
    driver = await backend.new_driver()
    assert isinstance(driver, RunningCancellation) and isinstance(driver, Inspection)
    running, waiting = (
        Job(task="t", payload=b"", priority=0),
        Job(task="t", payload=b"", priority=1),
    )
    await driver.enqueue([running, waiting])
    [claimed] = await driver.claim(["default"], limit=1, worker_id="w1", lease_seconds=60)
    assert claimed.id == running.id

    assert not await driver.cancel_running(waiting.id)  # not started: plain cancel's job
    assert not await driver.is_job_cancelled(running.id)
    assert await driver.cancel_running(running.id)
    assert await driver.is_job_cancelled(running.id)
    assert not await driver.cancel_running(running.id)  # once

    assert await driver.renew("w1", [running.id], 60) == []  # how its worker learns
    assert await driver.settle([Completed(running.id, "w1", 1, queue="default")]) == [False]
    stored = await driver.get(running.id)
    assert stored is not None and stored.state is JobState.CANCELLED
    assert stored.worker_id is None


async def test_the_service_function_cancels_waiting_and_running_jobs(backend: Backend) -> None:
    skip_without(backend, RunningCancellation, Inspection, Management)
    driver = await backend.new_driver()
    assert isinstance(driver, Inspection)
    running, finished, waiting = (Job(task="t", payload=b"", priority=i) for i in range(3))
    await driver.enqueue([running, finished, waiting])
    await driver.claim(["default"], limit=1, worker_id="w1", lease_seconds=60)
    await driver.claim(["default"], limit=1, worker_id="w1", lease_seconds=60)
    await driver.settle([Completed(finished.id, "w1", 1, queue="default")])

    result = await cancel_jobs(driver, [running.id, finished.id, waiting.id])
    assert (result.done, result.skipped) == (2, [finished.id])
    for job in (running, waiting):
        stored = await driver.get(job.id)
        assert stored is not None and stored.state is JobState.CANCELLED
