"""Celery on Redis (kombu's Redis transport), threads pool for the I/O and no-op
scenarios, prefork pool for the CPU-bound one.

Worker: ``celery -A benchmarks.peers.celery worker --pool threads``. Celery has no
result backend by default; only the latency probe stores its result (in the same
Redis database) so its completion can be seen.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from celery import Celery, group
from celery.result import AsyncResult

from benchmarks.suite import workload
from benchmarks.suite.protocol import (
    QUEUE,
    REDIS_URL_ENV,
    Kind,
    OwnRedisDatabase,
    System,
    WorkerSpec,
)

_URL = os.environ.get(REDIS_URL_ENV, "redis://127.0.0.1/13")
app = Celery("bench", broker=_URL, backend=_URL)
app.conf.task_default_queue = QUEUE
app.conf.broker_connection_retry_on_startup = True  # silences a start-up warning


@app.task(name="mark", ignore_result=True)
def mark() -> None:
    workload.mark()


@app.task(name="io", ignore_result=True)
def io() -> None:
    time.sleep(workload.IO_SECONDS)
    workload.mark()


@app.task(name="cpu", ignore_result=True)
def cpu() -> None:
    workload.burn()
    workload.mark()


@app.task(name="probe")
def probe() -> None:
    workload.mark()


class CelerySystem(OwnRedisDatabase, System):
    name = "celery"
    distribution = "celery"
    broker = "redis"
    bulk_api = "group(...).apply_async()"
    best_concurrency = 50  # see benchmarks/suite/plan.py: BEST_FROM
    cpu_pool = "prefork pool, one process per core"
    settings = (
        "--pool threads --concurrency = the step's concurrency (default: prefork, one per core)",
        "--without-mingle --without-gossip: no start-up sync and chatter between workers",
        "a Redis result backend, used by the latency probe only (other tasks ignore_result)",
    )
    tasks = {"mark": mark, "io": io, "cpu": cpu, "probe": probe}

    async def setup(self) -> None:
        self.flush()

    async def reset(self) -> None:
        self.flush()

    async def enqueue(self, kind: Kind) -> AsyncResult[Any]:
        return self.tasks[kind].delay()

    async def enqueue_bulk(self, kind: Kind, count: int) -> None:
        signature = self.tasks[kind].s()
        group(signature.clone() for _ in range(count)).apply_async()

    async def is_complete(self, handle: AsyncResult[Any]) -> bool:
        return handle.ready()

    def worker(self, kind: Kind, concurrency: int) -> WorkerSpec:
        celery = str(Path(sys.executable).with_name("celery"))
        pool = "prefork" if kind == "cpu" else "threads"
        argv = [celery, "-A", __name__, "worker", "-Q", QUEUE, "--pool", pool,
                "--concurrency", str(concurrency), "--loglevel", "WARNING",
                "--without-mingle", "--without-gossip"]  # fmt: skip
        return WorkerSpec(argv)
