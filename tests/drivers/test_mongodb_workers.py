"""Workers on MongoDB, the acceptance of the basics: class tasks drain; a failing task
is retried then dead-lettered; a delayed job waits for its time; priority decides the
order; a worker killed with SIGKILL loses its job to another once the lease lapses,
and a job that kills every worker is dead-lettered with LeaseExpired.

Small on purpose: the test server scans the collection on every claim."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker import Worker
from asynctasq.drivers.base import LEASE_EXPIRED_ERROR
from asynctasq.drivers.capabilities import Inspection, require
from asynctasq.jobs import JobState
from tests.backends_mongodb import MongoDBBackend
from tests.chaos.fleet import Fleet, until
from tests.chaos.tasks import KillWorker
from tests.conftest import only_backends
from tests.sample_tasks import Explode, Record, SlowOnce, recorded

mongodb = only_backends("mongodb")
#: the kill -9 tests run in the serial phase: they time leases of real processes
killing = pytest.mark.slow


def _true(value: bool):  # type: ignore[no-untyped-def]
    async def answer() -> bool:
        return value

    return answer()


@mongodb
async def test_a_worker_drains_retries_and_dead_letters(
    backend: MongoDBBackend, tmp_path: Path
) -> None:
    log = str(tmp_path / "effects.log")
    config = backend.config(concurrency=10, lease_seconds=5)
    producer = require(await backend.new_driver(), Inspection)
    dispatcher = Dispatcher(producer, config)  # type: ignore[arg-type]
    await dispatcher.dispatch_many(Record(key=f"r{i}", log=log) for i in range(100))
    exploding = [await dispatcher.dispatch(Explode(key=f"x{i}", log=log)) for i in range(2)]
    worker = Worker(config=config, handle_signals=False)  # its own driver, as in production
    running = asyncio.create_task(worker.start())
    try:

        async def done() -> bool:
            dead = await producer.list_jobs("default", JobState.FAILED)
            return len(set(recorded(log))) == 102 and len(dead) == 2

        await until(done, 60, "every job to run")
    finally:
        worker.stop()
        await asyncio.wait_for(running, 20)
    effects = Counter(recorded(log))
    assert all(effects[f"r{i}"] == 1 for i in range(100))
    assert effects["x0"] == effects["x1"] == 2  # two attempts each
    dead = await producer.list_jobs("default", JobState.FAILED)
    assert sorted(j.id for j in dead) == sorted(exploding)
    assert all("exploded" in (j.error or "") and j.attempts == 2 for j in dead)
    assert (await producer.stats("default")).depth == 0


@mongodb
async def test_delayed_and_priority_jobs_run_in_order(
    backend: MongoDBBackend, tmp_path: Path
) -> None:
    log = str(tmp_path / "effects.log")
    config = backend.config(concurrency=1, prefetch=0)
    dispatcher = Dispatcher(await backend.new_driver(), config)
    delayed_at = time.time() + 1.5
    await dispatcher.dispatch(Record(key="later", log=log).delay(1.5))
    for key, priority in (("low", 5), ("high", -5), ("mid", 0)):
        await dispatcher.dispatch(Record(key=key, log=log).with_options(priority=priority))
    worker = Worker(config=config, handle_signals=False)
    running = asyncio.create_task(worker.start())
    try:
        await until(lambda: _true(len(recorded(log)) == 4), 30, "every job to run")
    finally:
        worker.stop()
        await asyncio.wait_for(running, 20)
    assert recorded(log) == ["high", "mid", "low", "later"]
    assert os.path.getmtime(log) >= delayed_at - 0.05  # the delayed one ran at its time


@killing
@mongodb
async def test_a_killed_worker_loses_its_job_to_another(
    backend: MongoDBBackend, tmp_path: Path
) -> None:
    log, marker = str(tmp_path / "effects.log"), str(tmp_path / "started")
    producer = require(await backend.new_driver(), Inspection)
    dispatcher = Dispatcher(producer, backend.config(default_max_retries=2))  # type: ignore[arg-type]
    job_id = await dispatcher.dispatch(SlowOnce(key="slow", log=log, marker=marker))
    env = {**backend.env(), "ASYNCTASQ_LEASE_SECONDS": "2"}
    fleet = Fleet(env, 1, log_dir=tmp_path).start()
    try:
        await until(lambda: _true(os.path.exists(marker)), 30, "the job to start")
        fleet.workers[0].send_signal(signal.SIGKILL)  # no outcome, no release
        fleet.workers[0].wait(10)
        fleet.workers[0] = fleet.spawn()  # recovers the lapsed lease, runs the job again
        await until(lambda: _true(recorded(log) == ["slow"]), 40, "the job to finish elsewhere")
        assert fleet.stop() == [0], fleet.logs()
    finally:
        fleet.kill_all()
    assert await producer.get(job_id) is None  # completed (not kept)


@killing
@mongodb
async def test_a_job_that_keeps_killing_its_worker_is_dead_lettered(
    backend: MongoDBBackend, tmp_path: Path
) -> None:
    log = str(tmp_path / "effects.log")
    producer = require(await backend.new_driver(), Inspection)
    dispatcher = Dispatcher(producer, backend.config())  # type: ignore[arg-type]
    killer = await dispatcher.dispatch(KillWorker(key="killer", log=log))  # 3 attempts
    await dispatcher.dispatch_many(Record(key=f"ok{i}", log=log) for i in range(20))
    env = {**backend.env(), "ASYNCTASQ_LEASE_SECONDS": "2"}
    fleet = Fleet(env, 1, log_dir=tmp_path, imports="tests.chaos.tasks,tests.sample_tasks")
    fleet.start()
    try:

        async def supervise() -> bool:
            fleet.restart_dead()  # as systemd would
            job = await producer.get(killer)
            return (
                job is not None and job.state is JobState.FAILED and (len(set(recorded(log))) == 21)
            )

        await until(supervise, 90, "the killer to be dead-lettered")
        assert fleet.stop() == [0], fleet.logs()
    finally:
        fleet.kill_all()
    job = await producer.get(killer)
    assert job is not None and job.error == LEASE_EXPIRED_ERROR
    assert Counter(recorded(log))["killer"] == 3
