"""kill -9 of a RabbitMQ worker every second while 3,000 jobs run across 3 workers.

RabbitMQ's own crash recovery at work: what a killed worker held (claimed and
prefetched deliveries) goes back to the queue when its connection dies. Every job's
side effect must happen (at least once) and nothing may be dead-lettered; the report
counts how many ran more than once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from asynctasq.core.dispatcher import Dispatcher
from tests.backends_rabbitmq import RabbitMQBackend
from tests.chaos.fleet import ChaosReport, Fleet
from tests.conftest import only_backends
from tests.sample_tasks import Record, recorded

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

JOBS = 3000
WORKERS = 3
KILL_EVERY = 1.0


@only_backends("rabbitmq")
async def test_kill_9_every_second_loses_nothing(
    backend: RabbitMQBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "effects.log"
    driver = await backend.new_driver()
    # a job may be caught by several kills in a row: give it attempts to spare
    dispatcher = Dispatcher(driver, backend.config(default_max_retries=50))
    tasks = [Record(key=f"j{i}", log=str(log), seconds=0.03) for i in range(JOBS)]
    for start in range(0, JOBS, 1000):
        await dispatcher.dispatch_many(tasks[start : start + 1000])
    env = {**backend.env(), "ASYNCTASQ_CONCURRENCY": "8"}
    fleet = Fleet(env, WORKERS, log_dir=tmp_path).start()
    started = time.monotonic()
    try:
        while True:
            await asyncio.sleep(KILL_EVERY)  # a replacement gets that long to start
            if len(set(recorded(str(log)))) == JOBS:
                break
            assert time.monotonic() - started < 120, fleet.logs()
            fleet.kill_one()
        elapsed = time.monotonic() - started
        assert fleet.stop() == [0] * WORKERS, fleet.logs()
    finally:
        fleet.kill_all()
    runs = Counter(recorded(str(log)))
    # no job states to read back (no Inspection): completed means its effect happened
    report = ChaosReport(
        backend.name, JOBS, kills=fleet.kills, seconds=elapsed, runs=runs, completed=len(runs)
    )
    with capsys.disabled():
        print(f"\n{report}")
    assert fleet.kills >= 3, f"the run ended before the chaos began: {report}"
    assert report.lost == 0, report
    assert await backend.dead_letters() == []
