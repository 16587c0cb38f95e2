"""A queue limited to 20 starts a second, stored in the broker, served by three
worker PROCESSES that were told nothing of it: over 10 s the queue starts 20 a
second within 10%, and no job runs twice.

Real time and real processes (the bucket tests in tests/drivers pass the time in);
each start appends its time to a file. The first second is left out of the count:
the bucket starts full (a burst of the limit), then refills at the limit."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.operations import set_queue_rate_limit
from tests.backends import Backend
from tests.conftest import only_backends
from tests.rate_tasks import RATED_QUEUE, Stamp
from tests.workers import spawn_worker, stop, wait_until

# 10 s per broker: CI holds the limit on Redis and PostgreSQL, make test-deep on every one
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.slow,
    pytest.mark.ci_backends("redis", "postgres"),
]

RATE = 20
SECONDS = 10
JOBS = RATE * (SECONDS + 4)


@only_backends("redis", "postgres", "sqlite", "mysql", "mongodb")
async def test_three_worker_processes_hold_a_stored_queue_limit(
    backend: Backend, tmp_path: Path
) -> None:
    starts = tmp_path / "starts.txt"
    starts.touch()
    producer = await backend.new_driver()
    await set_queue_rate_limit(producer, RATED_QUEUE, RATE, 1.0)
    dispatcher = Dispatcher(producer, backend.config())
    for n in range(JOBS):
        await dispatcher.dispatch(Stamp(n=n))
    env = {**backend.env(), "STARTS_FILE": str(starts)}
    fleet = [
        spawn_worker(env, "--concurrency", "10", queues=(RATED_QUEUE,),
                     imports="tests.rate_tasks", log_path=tmp_path / f"w{i}.log")
        for i in range(3)
    ]  # fmt: skip
    try:
        wait_until(lambda: starts.read_text() != "", 30, "the first start")
        first = min(float(line.split()[0]) for line in starts.read_text().splitlines())
        wait_until(lambda: time.time() > first + SECONDS + 1.5, SECONDS + 5, "the window")
    finally:
        for process in fleet:
            stop(process)
    lines = [line.split() for line in starts.read_text().splitlines()]
    times = sorted(float(at) for at, _, _ in lines)
    runs = Counter(job_id for _, job_id, _ in lines)
    assert max(runs.values()) == 1
    assert len({pid for _, _, pid in lines}) >= 2, "the workers shared the work"
    window = [at for at in times if first + 1.0 <= at < first + 1.0 + SECONDS]
    rate = len(window) / SECONDS
    print(f"{backend.name}: {rate:.1f} starts/s over {SECONDS} s")  # shown with -s
    assert RATE * 0.9 <= rate <= RATE * 1.1, f"{rate:.1f} starts/s, not {RATE} within 10%"
    burst = [at for at in times if at < first + 1.0]
    assert len(burst) <= 2 * RATE + 2  # the full bucket, then the refill of that second
