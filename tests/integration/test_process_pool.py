"""Process tasks: results, errors, timeouts, crashes and recycling."""

from __future__ import annotations

import pytest

from asynctasq import Config, JobState
from asynctasq.testing import run_job
from tests.integration.process_tasks import AsyncPid, Exit, Pid, Raise, Segfault, Spin

pytestmark = pytest.mark.timeout(120)


def cfg(**kw: object) -> Config:
    return Config(process_pool_size=1, default_retry_delay=0.01, **kw)  # type: ignore[arg-type]


async def test_sync_and_async_process_tasks_run_in_another_process() -> None:
    import os

    sync = await run_job(Pid(), config=cfg())
    assert sync.state is JobState.COMPLETED
    assert sync.result != os.getpid()
    outcome = await run_job(AsyncPid(), config=cfg())
    assert outcome.state is JobState.COMPLETED
    assert outcome.result[1] == 1 and outcome.result[0] != os.getpid()


async def test_an_exception_comes_back_as_itself() -> None:
    outcome = await run_job(Raise(), config=cfg())
    assert outcome.state is JobState.FAILED
    assert outcome.error is not None and outcome.error.startswith("LookupError: from the pool")
    assert "Traceback" in outcome.error


async def test_a_timeout_kills_the_process() -> None:
    outcome = await run_job(Spin(), config=cfg())
    assert outcome.state is JobState.FAILED
    assert (outcome.error or "").startswith("TaskTimeoutError")
    assert "killed" in (outcome.error or "")


@pytest.mark.parametrize(
    ("task", "expected"), [(Exit, "exited with code 3"), (Segfault, "SIGSEGV")]
)
async def test_a_crashed_process_fails_only_its_job(task: type, expected: str) -> None:
    outcome = await run_job(task(), config=cfg())
    assert outcome.state is JobState.FAILED
    assert (outcome.error or "").startswith("ProcessCrashedError")
    assert expected in (outcome.error or "")


async def test_the_pool_recovers_and_recycles_processes() -> None:
    from asynctasq.core.dispatcher import Dispatcher
    from asynctasq.drivers.memory import MemoryDriver
    from asynctasq.testing import drain

    driver = MemoryDriver(keep_completed=True)
    await driver.connect()
    config = cfg(process_pool_max_tasks_per_child=2)
    dispatcher = Dispatcher(driver, config)
    ids = await dispatcher.dispatch_many([Pid(), Exit(), Pid(), Pid(), Pid(), Pid()])
    await drain(driver, config=config, concurrency=1)
    from asynctasq.serialization import loads

    jobs = [await driver.get(i) for i in ids]
    assert [j.state for j in jobs] == [JobState.COMPLETED, JobState.FAILED] + [
        JobState.COMPLETED
    ] * 4  # type: ignore[union-attr]
    pids = [loads(j.result) for j in jobs if j and j.result]  # type: ignore[arg-type]
    # one process per two jobs (the crash counts as the end of a process)
    assert len(set(pids)) >= 3


async def test_a_jobs_timeout_counts_from_its_start_not_the_pool_processs() -> None:
    from asynctasq.core.worker.process_pool import ProcessPool
    from asynctasq.serialization import dumps

    # the new process takes 1.5 s to import its modules, the job has 1 s
    pool = ProcessPool(1, modules=["tests.integration.slow_import", Pid.__module__])
    try:
        pid = await pool.run(Pid.task_name, dumps({"args": {}}), timeout=1.0)
    finally:
        await pool.close()
    assert isinstance(pid, int)


async def test_a_task_module_that_cannot_be_imported_fails_the_job_clearly() -> None:
    from asynctasq.core.worker.process_pool import ProcessPool
    from asynctasq.errors import ProcessCrashedError
    from asynctasq.serialization import dumps

    pool = ProcessPool(1, modules=["tests.integration.no_such_module"])
    try:
        await pool.warm_up()  # logs the failure, raises nothing
        with pytest.raises(ProcessCrashedError, match="while importing the task modules"):
            await pool.run(Pid.task_name, dumps({"args": {}}), timeout=5.0)
    finally:
        await pool.close()
