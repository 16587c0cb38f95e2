"""Huey on Redis: a small synchronous queue, tasks run on the consumer's threads.

Worker: ``huey_consumer benchmarks.peers.huey.huey --workers N --worker-type thread
--quiet``. Only the latency probe returns a value, so only its result is stored
(Huey keeps no result for a task that returns None), to see its completion.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from huey import RedisHuey

from benchmarks.suite import workload
from benchmarks.suite.protocol import (
    QUEUE,
    REDIS_URL_ENV,
    Kind,
    OwnRedisDatabase,
    System,
    WorkerSpec,
)

huey = RedisHuey(QUEUE, url=os.environ.get(REDIS_URL_ENV, "redis://127.0.0.1/9"))


@huey.task()
def mark() -> None:
    workload.mark()


@huey.task()
def io() -> None:
    time.sleep(workload.IO_SECONDS)
    workload.mark()


@huey.task()
def probe() -> bool:
    workload.mark()
    return True


class HueySystem(OwnRedisDatabase, System):
    name = "huey"
    distribution = "huey"
    broker = "redis"
    best_concurrency = 10  # not swept
    settings = (
        "--workers = the step's concurrency (default 1) --worker-type thread",
        "--quiet: no per-job log lines",
    )
    tasks = {"mark": mark, "io": io, "probe": probe}

    async def setup(self) -> None:
        self.flush()

    async def reset(self) -> None:
        self.flush()

    async def enqueue(self, kind: Kind) -> Any:
        return self.tasks[kind]()

    async def is_complete(self, handle: Any) -> bool:
        return handle.get(blocking=False, preserve=True) is not None

    def worker(self, kind: Kind, concurrency: int) -> WorkerSpec:
        consumer = str(Path(sys.executable).with_name("huey_consumer"))
        argv = [consumer, f"{__name__}.huey", "--workers", str(concurrency),
                "--worker-type", "thread", "--quiet"]  # fmt: skip
        return WorkerSpec(argv)
