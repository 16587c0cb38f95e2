"""Shutdown with jobs in flight, in every execution mode: what did not finish goes
straight back to pending (not after its lease) and another worker, already
running, picks it up."""

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
from asynctasq.tasks.base import BaseTask
from tests.backends import Backend
from tests.chaos.fleet import completed, kill_left_over, until
from tests.chaos.tasks import SlowOnceInProcess, SlowOnceSync
from tests.conftest import only_backends
from tests.sample_tasks import SlowOnce, recorded
from tests.workers import spawn_worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

#: far longer than the test: a job back early was released, not recovered
LEASE = "300"
IMPORTS = "tests.chaos.tasks,tests.sample_tasks"
KINDS = ("async", "sync", "proc")


def hanging_jobs(queue: str, log: str, folder: Path) -> list[BaseTask[None]]:
    """One job per execution mode that hangs on its first run only."""
    kinds = {"async": SlowOnce, "sync": SlowOnceSync, "proc": SlowOnceInProcess}
    return [
        kinds[kind](
            key=f"{queue}-{kind}", log=log, marker=str(folder / f"{queue}-{kind}")
        ).on_queue(queue)
        for kind in KINDS
    ]


@only_backends("sqlite", "redis", "postgres", "mysql")
async def test_shutdown_releases_jobs_in_flight_to_another_worker(
    backend: Backend, tmp_path: Path
) -> None:
    if not backend.shared_across_processes:
        pytest.skip(f"{backend.name} cannot be shared by worker processes")
    driver = await backend.new_driver()
    log = str(tmp_path / "effects.log")
    jobs = hanging_jobs("graceful", log, tmp_path) + hanging_jobs("at-once", log, tmp_path)
    ids = await Dispatcher(driver, backend.config()).dispatch_many(jobs)
    env = {
        **backend.env(),
        "ASYNCTASQ_LEASE_SECONDS": LEASE,
        "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true",
        "ASYNCTASQ_PROCESS_POOL_SIZE": "1",
    }
    # one worker stops gracefully and its short grace period runs out; the other is
    # told twice, to stop at once although its grace period is long
    graceful = spawn_worker(
        {**env, "ASYNCTASQ_SHUTDOWN_TIMEOUT": "0.5"},
        queues=["graceful"],
        imports=IMPORTS,
        log_path=tmp_path / "graceful.log",
    )
    at_once = spawn_worker(
        {**env, "ASYNCTASQ_SHUTDOWN_TIMEOUT": "60"},
        queues=["at-once"],
        imports=IMPORTS,
        log_path=tmp_path / "at-once.log",
    )
    spare = None
    try:
        await until(lambda: _hanging(tmp_path), 60, "every job to start and hang")
        # the spare is up before the others stop: it takes what they release
        spare = spawn_worker(
            env, queues=["graceful", "at-once"], imports=IMPORTS, log_path=tmp_path / "spare.log"
        )
        await until(lambda: _workers(driver, 3), 60, "the spare worker")
        stopped = time.monotonic()
        graceful.send_signal(signal.SIGTERM)
        at_once.send_signal(signal.SIGTERM)
        at_once.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(at_once.wait, 15) == 0
        at_once_took = time.monotonic() - stopped
        assert await asyncio.to_thread(graceful.wait, 20) == 0
        graceful_took = time.monotonic() - stopped
        await until(lambda: completed(driver, ids), 40, "the spare to run them")
        picked_up = time.monotonic() - stopped
        spare.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(spare.wait, 30) == 0
    finally:
        kill_left_over(graceful, at_once, spare)

    logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
    assert at_once_took < 10, logs
    assert graceful_took < 15, logs
    assert picked_up < 40, logs  # the lease is 300 s: they were released, not recovered
    for job_id in ids:
        job = await driver.get(job_id)
        # a release does not count the attempt: the spare ran attempt 1
        assert job is not None and (job.state, job.attempts) == (JobState.COMPLETED, 1), job
    keys = [f"{q}-{kind}" for q in ("graceful", "at-once") for kind in KINDS]
    assert Counter(recorded(log)) == dict.fromkeys(keys, 1)


async def _hanging(folder: Path) -> bool:
    return all((folder / f"{q}-{k}").exists() for q in ("graceful", "at-once") for k in KINDS)


async def _workers(driver: Driver, count: int) -> bool:
    return len(await driver.list_workers()) == count
