"""Every way one job can go wrong, in a real worker process on each broker: each
timeout mode, each crash mode of a pool process, poison jobs, a ``failed`` hook that
raises, and a job that kills its own worker. The worker (or its replacement) keeps
serving the other jobs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.base import LEASE_EXPIRED_ERROR, Driver
from asynctasq.jobs import Job, JobState
from asynctasq.serialization import dumps, loads
from tests.backends import Backend
from tests.chaos.fleet import Fleet, settled, until
from tests.chaos.tasks import (
    AsyncHang,
    FailedRaises,
    KillWorker,
    ProcessExit,
    ProcessHang,
    ProcessOutOfMemory,
    ProcessSegfault,
    ProcessSigkill,
    SyncHang,
)
from tests.conftest import only_backends
from tests.sample_tasks import Record, RecordInProcess, recorded
from tests.workers import spawn_worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SHARED = ("sqlite", "redis", "postgres", "mysql", "mongodb")


def worker_env(backend: Backend, **extra: str) -> dict[str, str]:
    if not backend.shared_across_processes:
        pytest.skip(f"{backend.name} cannot be shared by worker processes")
    return {**backend.env(), "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true", **extra}


async def states(driver: Driver, ids: dict[str, str]) -> dict[str, Job]:
    jobs = {name: await driver.get(job_id) for name, job_id in ids.items()}
    missing = [name for name, job in jobs.items() if job is None]
    assert not missing, f"jobs vanished: {missing}"
    return jobs  # type: ignore[return-value]


@only_backends(*SHARED)
async def test_every_timeout_crash_and_poison_mode_in_one_worker(
    backend: Backend, tmp_path: Path
) -> None:
    env = worker_env(
        backend,
        ASYNCTASQ_PROCESS_POOL_SIZE="2",
        ASYNCTASQ_PROCESS_POOL_MAX_TASKS_PER_CHILD="2",
        ASYNCTASQ_CONCURRENCY="6",
        ASYNCTASQ_LOG_LEVEL="INFO",
        ASYNCTASQ_UNKNOWN_TASK_GRACE="0",  # poison at once: no wait for a redeploy
    )
    driver = await backend.new_driver()
    log = str(tmp_path / "effects.log")
    dispatcher = Dispatcher(driver, backend.config())
    tasks: dict[str, Any] = {
        "async-timeout": AsyncHang(key="async-timeout", log=log),
        "sync-timeout": SyncHang(key="sync-timeout", log=log),
        "process-timeout": ProcessHang(
            key="process-timeout", log=log, marker=str(tmp_path / "hung-once")
        ),
        "async-timeout-twice": AsyncHang(key="async-timeout-twice", log=log, hang_attempts=2),
        "sync-timeout-twice": SyncHang(key="sync-timeout-twice", log=log, hang_attempts=2),
        "exit": ProcessExit(key="exit", log=log),
        "segfault": ProcessSegfault(key="segfault", log=log),
        "oom": ProcessOutOfMemory(key="oom", log=log),
        "sigkill": ProcessSigkill(key="sigkill", log=log),
        "failed-raises": FailedRaises(key="failed-raises", log=log),
    }
    ids = dict(zip(tasks, await dispatcher.dispatch_many(tasks.values()), strict=True))
    poison = {
        "undecodable": Job(task=Record.task_name, payload=b"\xc1\xc1"),
        "unknown-task": Job(task="app.tasks.RenamedLongAgo", payload=dumps({"args": {}})),
        "wrong-arguments": Job(task=Record.task_name, payload=dumps({"args": {"nope": 1}})),
    }
    await driver.enqueue(list(poison.values()))
    ids.update({name: job.id for name, job in poison.items()})
    # dispatched after the troublemakers: they run on the recovered pool and worker
    good = [Record(key=f"ok{i}", log=log) for i in range(20)]
    good += [RecordInProcess(key=f"okp{i}", log=log) for i in range(6)]
    good_ids = await dispatcher.dispatch_many(good)

    worker = spawn_worker(
        env, "--burst", imports="tests.chaos.tasks,tests.sample_tasks", log_path=tmp_path / "w.log"
    )
    assert worker.wait(120) == 0, (tmp_path / "w.log").read_text()

    jobs = await states(driver, ids)
    effects = Counter(recorded(log))
    # timeouts, each mode: the first attempt fails with TaskTimeoutError, should_retry is
    # asked, the second attempt succeeds; twice in a row: failed() once, dead-lettered
    for mode in ("async", "sync", "process"):
        name = f"{mode}-timeout"
        assert (jobs[name].state, jobs[name].attempts) == (JobState.COMPLETED, 2), jobs[name]
        assert effects[f"retry?{name}:TaskTimeoutError"] == 1
        assert effects[f"failed{name}:TaskTimeoutError"] == 0
    for mode in ("async", "sync"):
        name = f"{mode}-timeout-twice"
        assert (jobs[name].state, jobs[name].attempts) == (JobState.FAILED, 2)
        assert (jobs[name].error or "").startswith("TaskTimeoutError")
        assert effects[f"failed{name}:TaskTimeoutError"] == 1
    # (the retry of the process timeout is logged: that is where its first error shows)
    assert "its process was killed" in (tmp_path / "w.log").read_text()
    # crashes of a pool process fail that job only, with a clear error
    expected = {
        "exit": "exited with code 3",
        "segfault": "killed by SIGSEGV",
        "sigkill": "killed by SIGKILL (out of memory?)",
    }
    for name, words in expected.items():
        assert jobs[name].state is JobState.FAILED
        assert (jobs[name].error or "").startswith("ProcessCrashedError"), jobs[name].error
        assert words in (jobs[name].error or "")
        assert effects[f"failed{name}:ProcessCrashedError"] == 1
    assert jobs["oom"].state is JobState.FAILED
    assert (jobs["oom"].error or "").startswith("MemoryError"), jobs["oom"].error
    assert effects["failedoom:MemoryError"] == 1
    # failed() raising is logged, never looped: called once, the job dead-lettered
    assert jobs["failed-raises"].state is JobState.FAILED
    assert effects["failed-raises"] == 2
    assert effects["failedfailed-raises:ValueError"] == 1
    assert "failed() raised" in (tmp_path / "w.log").read_text()
    # poison: dead-lettered on the first attempt, with the reason
    reasons = {
        "undecodable": "undecodable payload",
        "unknown-task": "unknown task 'app.tasks.RenamedLongAgo'",
        "wrong-arguments": "arguments no longer match",
    }
    for name, reason in reasons.items():
        assert (jobs[name].state, jobs[name].attempts) == (JobState.FAILED, 1)
        assert reason in (jobs[name].error or ""), jobs[name].error
    # and the worker went on: every good job completed once
    for job_id in good_ids:
        job = await driver.get(job_id)
        assert job is not None and job.state is JobState.COMPLETED, job
    assert all(effects[f"ok{i}"] == 1 for i in range(20))
    assert all(effects[f"okp{i}"] == 1 for i in range(6))
    # max_tasks_per_child=2: six process jobs needed at least three processes
    pids = {loads((await driver.get(job_id)).result) for job_id in good_ids[20:]}  # type: ignore[union-attr,arg-type]
    assert len(pids) >= 3, pids


@only_backends(*SHARED)
async def test_a_job_that_keeps_killing_its_worker_is_dead_lettered(
    backend: Backend, tmp_path: Path
) -> None:
    env = worker_env(backend, ASYNCTASQ_LEASE_SECONDS="1", ASYNCTASQ_CONCURRENCY="4")
    driver = await backend.new_driver()
    log = str(tmp_path / "effects.log")
    dispatcher = Dispatcher(driver, backend.config(default_max_retries=10))
    killer = await dispatcher.dispatch(KillWorker(key="killer", log=log))
    others = await dispatcher.dispatch_many(
        Record(key=f"ok{i}", log=log, seconds=0.05) for i in range(40)
    )
    fleet = Fleet(env, 1, log_dir=tmp_path, imports="tests.chaos.tasks,tests.sample_tasks")
    fleet.start()
    restarts = 0

    async def supervise() -> bool:
        """Like systemd or Kubernetes would: a worker that died is started again."""
        nonlocal restarts
        restarts += fleet.restart_dead()
        return await settled(driver)

    try:
        await until(supervise, 90, "every job to settle")
        assert fleet.stop() == [0], fleet.logs()
    finally:
        fleet.kill_all()

    job = await driver.get(killer)
    assert job is not None, "the job vanished"
    # each attempt took the worker down; after the last, recovery dead-letters it
    assert (job.state, job.attempts) == (JobState.FAILED, 3), job
    assert job.error == LEASE_EXPIRED_ERROR
    effects = Counter(recorded(log))
    assert effects["killer"] == 3
    assert restarts == 3
    for job_id in others:
        other = await driver.get(job_id)
        assert other is not None and other.state is JobState.COMPLETED, other
    assert all(effects[f"ok{i}"] >= 1 for i in range(40))
