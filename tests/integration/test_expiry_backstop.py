"""The worker's ttl backstop: a job claimed ahead (prefetch) whose ttl runs out
while it waits in the worker is never started; the broker's next claim of it moves
it to ``expired``. One slot, one job holding it, a ManualClock moved meanwhile. And
the background sweep a worker runs on its maintenance tick."""
# (the memory driver reads the system clock: SQLite, whose claim reads the same
# ManualClock as the worker, stands for every broker here)

from __future__ import annotations

import asyncio
from pathlib import Path

from asynctasq import AsyncTask, Config, Worker
from asynctasq.clock import ManualClock
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.sqlite import SQLiteDriver
from asynctasq.expiry import expired_reason
from asynctasq.jobs import JobState

RAN: list[str] = []
HOLDING = asyncio.Event()
LET_GO = asyncio.Event()


class Hold(AsyncTask[None]):
    config = {"queue": "ttl", "priority": 0}

    async def execute(self) -> None:
        HOLDING.set()
        await LET_GO.wait()


class Quick(AsyncTask[None]):
    config = {"queue": "ttl", "priority": 1, "ttl": 5}

    async def execute(self) -> None:
        RAN.append("quick")


async def test_a_job_whose_ttl_runs_out_in_the_worker_is_not_run(tmp_path: Path) -> None:
    RAN.clear()
    HOLDING.clear()
    LET_GO.clear()
    clock = ManualClock()
    driver = SQLiteDriver(tmp_path / "ttl.db", clock=clock)
    await driver.connect()
    worker = Worker(
        SQLiteDriver(tmp_path / "ttl.db", clock=clock),
        ["ttl"],
        config=Config(),
        concurrency=1,
        prefetch=1,
        clock=clock,
        handle_signals=False,
    )
    dispatcher = Dispatcher(driver, Config())
    now = clock.time()
    jobs = [dispatcher.build_job(Hold(), now), dispatcher.build_job(Quick(), now)]
    await driver.enqueue(jobs)
    quick = jobs[1]
    assert quick.expires_at == now + 5
    running = asyncio.create_task(worker.start())
    try:
        await asyncio.wait_for(HOLDING.wait(), 10)  # Quick is claimed too, waiting
        clock.advance(10)  # its ttl runs out while it waits in the worker
        LET_GO.set()
        for _ in range(500):
            # any claim after the worker handed it back expires it (here: ours, so
            # the test does not wait for the worker's next poll)
            assert await driver.claim(["ttl"], limit=1, worker_id="probe", lease_seconds=60) == []
            stored = await driver.get(quick.id)
            if stored is not None and stored.state is JobState.EXPIRED:
                break
            await asyncio.sleep(0.01)
        assert stored is not None and stored.state is JobState.EXPIRED
        assert stored.error == expired_reason(now + 5)
        assert RAN == []
    finally:
        worker.stop(immediate=True)
        await asyncio.wait_for(running, 10)
        await driver.disconnect()


async def test_the_workers_maintenance_tick_sweeps_expired_jobs(tmp_path: Path) -> None:
    """Without any claim: a job waiting in a queue no worker serves is moved to
    ``expired`` by a worker's maintenance tick (beside lease recovery) once its ttl
    runs out on the clock, so it does not sit in the queue."""
    clock = ManualClock()
    driver = SQLiteDriver(tmp_path / "sweep.db", clock=clock)
    await driver.connect()
    worker = Worker(
        SQLiteDriver(tmp_path / "sweep.db", clock=clock),
        ["elsewhere"],
        config=Config(heartbeat_interval=1.0),
        clock=clock,
        handle_signals=False,
    )
    now = clock.time()
    job = Dispatcher(driver, Config()).build_job(Quick(), now)  # queue "ttl", ttl=5
    await driver.enqueue([job])
    running = asyncio.create_task(worker.start())
    try:
        for _ in range(50):  # the worker is up and ticking: the job is still waiting
            await asyncio.sleep(0.01)
        stored = await driver.get(job.id)
        assert stored is not None and stored.state is JobState.PENDING
        clock.advance(10)  # its ttl runs out; the tick that follows sweeps it
        for _ in range(500):
            stored = await driver.get(job.id)
            if stored is not None and stored.state is JobState.EXPIRED:
                break
            await asyncio.sleep(0.01)
        assert stored is not None and stored.state is JobState.EXPIRED
        assert stored.error == expired_reason(now + 5) and stored.attempts == 0
        assert (await driver.stats("ttl")).failed == 1
    finally:
        worker.stop(immediate=True)
        await asyncio.wait_for(running, 10)
        await driver.disconnect()
