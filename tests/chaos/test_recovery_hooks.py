"""A job whose task kills its worker process, on its last attempt: no worker is left
to run its ``failed`` hook, so the worker whose recovery sweep dead-letters it runs
the hook, exactly once, in another process."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.base import LEASE_EXPIRED_ERROR
from asynctasq.jobs import JobState
from tests.backends import Backend
from tests.chaos.fleet import Fleet, settled, until
from tests.chaos.recovery_tasks import KillWorkerHooked
from tests.conftest import only_backends
from tests.sample_tasks import Record, recorded

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@only_backends("sqlite", "redis", "postgres", "mysql")
async def test_the_failed_hook_of_a_job_that_killed_its_worker_runs_once_elsewhere(
    backend: Backend, tmp_path: Path
) -> None:
    env = {**backend.env(), "ASYNCTASQ_LEASE_SECONDS": "1", "ASYNCTASQ_CONCURRENCY": "2"}
    driver = await backend.new_driver()
    log = str(tmp_path / "effects.log")
    dispatcher = Dispatcher(driver, backend.config())
    killer = await dispatcher.dispatch(KillWorkerHooked(key="killer", log=log))
    others = await dispatcher.dispatch_many(
        Record(key=f"ok{i}", log=log, seconds=0.05) for i in range(10)
    )
    fleet = Fleet(env, 2, log_dir=tmp_path, imports="tests.chaos.recovery_tasks,tests.sample_tasks")
    fleet.start()
    try:
        await until(lambda: settled(driver), 60, "every job to settle")
        await until(lambda: _hooked(log), 10, "the failed hook")
        await asyncio.sleep(1.5)  # a few more sweeps by every worker: none runs it again
        codes = sorted(fleet.stop())
    finally:
        fleet.kill_all()

    assert codes == [0, 1], fleet.logs()  # the killer's worker died; the other went on
    job = await driver.get(killer)
    assert job is not None and (job.state, job.attempts) == (JobState.FAILED, 1), job
    assert job.error == LEASE_EXPIRED_ERROR
    effects = Counter(recorded(log))
    assert effects["killer"] == 1
    assert effects["failedkiller:LeaseExpiredError"] == 1, fleet.logs()
    # at least once: one the dying worker had claimed alongside may run again
    assert all(effects[f"ok{i}"] >= 1 for i in range(10)), effects
    for job_id in others:
        assert await driver.get(job_id) is None  # completed (and not kept)


async def _hooked(log: str) -> bool:
    return "failedkiller:LeaseExpiredError" in recorded(log)
