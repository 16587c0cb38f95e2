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
from tests.backends import Backend
from tests.chaos.tasks import SlowOnceInProcess, SlowOnceSync
from tests.conftest import only_backends
from tests.sample_tasks import SlowOnce, recorded
from tests.workers import spawn_worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

#: far longer than the test: a job back early was released, not recovered
LEASE = "300"


async def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def active_in(driver: Driver, queue: str) -> int:
    return (await driver.stats(queue)).processing


@only_backends("sqlite", "redis", "postgres", "mysql")
async def test_shutdown_releases_jobs_in_flight_to_another_worker(
    backend: Backend, tmp_path: Path
) -> None:
    if not backend.shared_across_processes:
        pytest.skip(f"{backend.name} cannot be shared by worker processes")
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, backend.config())
    log = str(tmp_path / "effects.log")

    def hanging_jobs(queue: str) -> list[object]:
        marker = lambda kind: str(tmp_path / f"{queue}-{kind}")  # noqa: E731
        return [
            SlowOnce(key=f"{queue}-async", log=log, marker=marker("async")).on_queue(queue),
            SlowOnceSync(key=f"{queue}-sync", log=log, marker=marker("sync")).on_queue(queue),
            SlowOnceInProcess(key=f"{queue}-proc", log=log, marker=marker("proc")).on_queue(
                queue
            ),
        ]

    ids = await dispatcher.dispatch_many([*hanging_jobs("graceful"), *hanging_jobs("at-once")])  # type: ignore[list-item]
    env = {
        **backend.env(),
        "ASYNCTASQ_LEASE_SECONDS": LEASE,
        "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true",
        "ASYNCTASQ_PROCESS_POOL_SIZE": "1",
    }
    imports = "tests.chaos.tasks,tests.sample_tasks"
    # one worker stops gracefully (a short grace period runs out), the other is
    # told twice (at once, though its grace period is long)
    graceful = spawn_worker(
        {**env, "ASYNCTASQ_SHUTDOWN_TIMEOUT": "0.5"},
        queues=["graceful"],
        imports=imports,
        log_path=tmp_path / "graceful.log",
    )
    at_once = spawn_worker(
        {**env, "ASYNCTASQ_SHUTDOWN_TIMEOUT": "60"},
        queues=["at-once"],
        imports=imports,
        log_path=tmp_path / "at-once.log",
    )
    try:
        for queue in ("graceful", "at-once"):
            await wait_for(
                lambda q=queue: _is(active_in(driver, q), 3), 60, f"3 jobs running in {queue}"
            )
        await wait_for(lambda: _markers_exist(tmp_path), 60, "the jobs to start hanging")
        # the other worker is up before the first two stop: it takes what they release
        spare = spawn_worker(
            env, queues=["graceful", "at-once"], imports=imports, log_path=tmp_path / "spare.log"
        )
        await wait_for(lambda: _is(_worker_count(driver), 3), 60, "the spare worker")

        stopped = time.monotonic()
        graceful.send_signal(signal.SIGTERM)
        at_once.send_signal(signal.SIGTERM)
        at_once.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(at_once.wait, 15) == 0
        at_once_took = time.monotonic() - stopped
        assert await asyncio.to_thread(graceful.wait, 20) == 0
        graceful_took = time.monotonic() - stopped
        await wait_for(lambda: _all_completed(driver, ids), 40, "the spare to finish them")
        picked_up = time.monotonic() - stopped
        spare.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(spare.wait, 30) == 0
    finally:
        for process in ("graceful", "at_once", "spare"):
            worker = locals().get(process)
            if worker is not None and worker.poll() is None:
                worker.kill()

    logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
    assert at_once_took < 10, logs
    assert graceful_took < 15, logs
    assert picked_up < 40, logs  # the lease is 300 s: they were released, not recovered
    for job_id in ids:
        job = await driver.get(job_id)
        # released jobs keep their attempt count: the spare ran attempt 1
        assert job is not None and (job.state, job.attempts) == (JobState.COMPLETED, 1), job
    keys = [f"{q}-{kind}" for q in ("graceful", "at-once") for kind in ("async", "sync", "proc")]
    assert Counter(recorded(log)) == dict.fromkeys(keys, 1)


async def _is(value: object, expected: int) -> bool:
    return await value == expected  # type: ignore[misc]


async def _markers_exist(folder: Path) -> bool:
    return len(list(folder.glob("graceful-*"))) + len(list(folder.glob("at-once-*"))) >= 6


async def _worker_count(driver: Driver) -> int:
    return len(await driver.list_workers())


async def _all_completed(driver: Driver, ids: list[str]) -> bool:
    for job_id in ids:
        job = await driver.get(job_id)
        if job is None or job.state is not JobState.COMPLETED:
            return False
    return True
