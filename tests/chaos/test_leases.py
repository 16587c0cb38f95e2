"""Leases under a busy worker: renewal must not starve while CPU-heavy SyncTasks
hold the GIL or an AsyncTask blocks the event loop, yet a worker hung for good
must not keep its jobs forever.

A second worker runs alongside as the witness: had a lease lapsed, its recovery
would have handed the job out again and the job would have run twice.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.base import Driver
from asynctasq.jobs import JobState
from tests.backends import Backend
from tests.chaos.fleet import completed, kill_left_over, until
from tests.chaos.tasks import BlockLoop, BurnCpu
from tests.conftest import only_backends
from tests.sample_tasks import recorded
from tests.workers import spawn_worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

IMPORTS = "tests.chaos.tasks,tests.sample_tasks"


def lease_env(backend: Backend, lease: str) -> dict[str, str]:
    if not backend.shared_across_processes:
        pytest.skip(f"{backend.name} cannot be shared by worker processes")
    return {
        **backend.env(),
        "ASYNCTASQ_LEASE_SECONDS": lease,
        "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true",
        "ASYNCTASQ_LOG_LEVEL": "INFO",
    }


@only_backends("sqlite", "redis", "postgres")
async def test_leases_hold_while_the_gil_and_the_loop_are_busy(
    backend: Backend, tmp_path: Path
) -> None:
    # renewed every 2/3 s; the jobs hold the GIL and the loop for two lease lengths (a
    # 1 s lease missed a renewal on a CI host loaded 6 deep, which is not the point here)
    env = lease_env(backend, "2")
    driver = await backend.new_driver()
    log = str(tmp_path / "effects.log")
    dispatcher = Dispatcher(driver, backend.config(default_max_retries=5))
    ids = await dispatcher.dispatch_many(
        [
            *(BurnCpu(key=f"cpu{i}", log=log, seconds=4) for i in range(3)),
            BlockLoop(key="blocked", log=log, seconds=4),
        ]
    )
    busy = spawn_worker(env, "--concurrency", "4", imports=IMPORTS, log_path=tmp_path / "busy.log")
    witness = None
    try:
        await until(lambda: _active(driver, 4), 60, "the busy worker to take all four jobs")
        witness = spawn_worker(env, imports=IMPORTS, log_path=tmp_path / "witness.log")
        await until(lambda: completed(driver, ids), 60, "the jobs to finish")
        busy.send_signal(signal.SIGTERM)
        witness.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(busy.wait, 30) == 0
        assert await asyncio.to_thread(witness.wait, 30) == 0
    finally:
        kill_left_over(busy, witness)
    logs = (tmp_path / "busy.log").read_text() + (tmp_path / "witness.log").read_text()
    for job_id in ids:
        job = await driver.get(job_id)
        assert job is not None and (job.state, job.attempts) == (JobState.COMPLETED, 1), logs
    assert Counter(recorded(log)) == {"cpu0": 1, "cpu1": 1, "cpu2": 1, "blocked": 1}
    assert "was lost" not in logs and "recovered" not in logs, logs
    assert "event loop has been blocked" in logs  # and the worker said why it stalled


@only_backends("sqlite")
async def test_a_worker_hung_past_the_job_timeout_lets_its_lease_lapse(
    backend: Backend, tmp_path: Path
) -> None:
    env = lease_env(backend, "1")
    driver = await backend.new_driver()
    log = str(tmp_path / "effects.log")
    marker = str(tmp_path / "hung-once")
    dispatcher = Dispatcher(driver, backend.config(default_max_retries=3))
    # blocks its loop for a minute on the first run: the timeout cannot fire meanwhile
    job_id = await dispatcher.dispatch(
        BlockLoop(key="hung", log=log, seconds=60, marker=marker).with_options(timeout=2)
    )
    hung = spawn_worker(env, imports=IMPORTS, log_path=tmp_path / "hung.log")
    rescuer = None
    try:
        await until(lambda: _exists(marker), 60, "the job to hang its worker")
        rescuer = spawn_worker(env, imports=IMPORTS, log_path=tmp_path / "rescuer.log")
        started = time.monotonic()
        await until(lambda: completed(driver, [job_id]), 60, "another worker to take it over")
        took_over = time.monotonic() - started
        rescuer.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(rescuer.wait, 30) == 0
    finally:
        kill_left_over(hung, rescuer)
    job = await driver.get(job_id)
    assert job is not None and (job.state, job.attempts) == (JobState.COMPLETED, 2)
    assert recorded(log) == ["hung"]
    assert took_over < 30  # about timeout + lease, not the minute the loop is stuck


async def _active(driver: Driver, count: int) -> bool:
    return (await driver.stats("default")).processing == count


async def _exists(path: str) -> bool:
    return Path(path).exists()
