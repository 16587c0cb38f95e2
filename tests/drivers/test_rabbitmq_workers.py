"""Workers on RabbitMQ: a worker drains, retries and dead-letters; a worker killed
with SIGKILL loses its jobs to another (RabbitMQ redelivers what the dead
connection held); a job that kills every worker it runs on is dead-lettered after
its attempts, with its failed() hook run by a surviving worker."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker import Worker
from asynctasq.drivers.base import LEASE_EXPIRED_ERROR
from asynctasq.drivers.rabbitmq.envelope import decode
from tests.backends_rabbitmq import RabbitMQBackend
from tests.chaos.fleet import Fleet, until
from tests.chaos.tasks import KillWorker
from tests.conftest import only_backends
from tests.sample_tasks import Explode, Record, SlowOnce, recorded

rabbitmq = only_backends("rabbitmq")


@rabbitmq
async def test_a_worker_drains_retries_and_dead_letters(
    backend: RabbitMQBackend, tmp_path: Path
) -> None:
    log = str(tmp_path / "effects.log")
    config = backend.config(concurrency=20, lease_seconds=5)
    producer = await backend.new_driver()
    dispatcher = Dispatcher(producer, config)
    await dispatcher.dispatch_many(Record(key=f"r{i}", log=log) for i in range(300))
    exploding = [await dispatcher.dispatch(Explode(key=f"x{i}", log=log)) for i in range(2)]
    worker = Worker(config=config, handle_signals=False)  # its own driver, as in production
    running = asyncio.create_task(worker.start())
    try:

        async def done() -> bool:
            effects = Counter(recorded(log))
            return len(effects) == 302 and effects["x0"] == effects["x1"] == 2

        await until(done, 30, "every job to run")
        await until(lambda: _true(len(worker._outcomes) == 0), 10, "the outcomes")
    finally:
        worker.stop()
        await asyncio.wait_for(running, 20)
    effects = Counter(recorded(log))
    assert all(effects[f"r{i}"] == 1 for i in range(300))
    dead = [decode(body)[0] for body, _ in await backend.dead_letters()]
    assert sorted(j.id for j in dead) == sorted(exploding)
    assert all("exploded" in (j.error or "") for j in dead)


@rabbitmq
async def test_a_killed_worker_loses_its_job_to_another(
    backend: RabbitMQBackend, tmp_path: Path
) -> None:
    log, marker = str(tmp_path / "effects.log"), str(tmp_path / "started")
    producer = await backend.new_driver()
    dispatcher = Dispatcher(producer, backend.config(default_max_retries=2))
    await dispatcher.dispatch(SlowOnce(key="slow", log=log, marker=marker))
    fleet = Fleet(backend.env(), 1, log_dir=tmp_path).start()
    try:
        await until(lambda: _true(os.path.exists(marker)), 30, "the job to start")
        fleet.workers[0].send_signal(signal.SIGKILL)  # no ack, no release: the connection dies
        fleet.workers[0].wait(10)
        fleet.workers[0] = fleet.spawn()
        await until(lambda: _true(recorded(log) == ["slow"]), 30, "the job to finish elsewhere")
        assert fleet.stop() == [0], fleet.logs()
    finally:
        fleet.kill_all()


@rabbitmq
async def test_a_job_that_keeps_killing_its_worker_is_dead_lettered(
    backend: RabbitMQBackend, tmp_path: Path
) -> None:
    log = str(tmp_path / "effects.log")
    producer = await backend.new_driver()
    dispatcher = Dispatcher(producer, backend.config())
    killer = await dispatcher.dispatch(KillWorker(key="killer", log=log))  # 3 attempts
    fine = await dispatcher.dispatch_many(Record(key=f"ok{i}", log=log) for i in range(20))
    fleet = Fleet(
        backend.env(), 1, log_dir=tmp_path, imports="tests.chaos.tasks,tests.sample_tasks"
    )
    fleet.start()
    dead: list[bytes] = []
    try:

        async def supervise() -> bool:
            fleet.restart_dead()  # as systemd would
            dead.extend(body for body, _ in await backend.dead_letters())
            return len(dead) == 1 and len(set(recorded(log))) == 21

        await until(supervise, 60, "the killer to be dead-lettered")
        assert fleet.stop() == [0], fleet.logs()
    finally:
        fleet.kill_all()
    effects = Counter(recorded(log))
    assert effects["killer"] == 3 and fleet.started == 4
    job = decode(dead[0])[0]
    assert (job.id, job.error) == (killer, LEASE_EXPIRED_ERROR)
    assert len(fine) == 20 and all(effects[f"ok{i}"] >= 1 for i in range(20))


def _true(value: bool):  # type: ignore[no-untyped-def]
    """``until`` awaits its condition: a plain check as an awaitable."""

    async def answer() -> bool:
        return value

    return answer()
