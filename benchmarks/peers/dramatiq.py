"""Dramatiq on Redis: sync actors on threads, messages acknowledged once processed.

Worker: ``dramatiq benchmarks.peers.dramatiq --processes 1 --threads N``. Only the
latency probe stores its result (the Results middleware), to see its completion.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq import group
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import ResultMissing, Results
from dramatiq.results.backends.redis import RedisBackend

from benchmarks.suite import workload
from benchmarks.suite.protocol import (
    QUEUE,
    REDIS_URL_ENV,
    Kind,
    OwnRedisDatabase,
    System,
    WorkerSpec,
)

_URL = os.environ.get(REDIS_URL_ENV, "redis://127.0.0.1/14")
broker = RedisBroker(url=_URL)
broker.add_middleware(Results(backend=RedisBackend(url=_URL)))
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=QUEUE, actor_name="mark")
def mark() -> None:
    workload.mark()


@dramatiq.actor(queue_name=QUEUE, actor_name="io")
def io() -> None:
    time.sleep(workload.IO_SECONDS)
    workload.mark()


@dramatiq.actor(queue_name=QUEUE, actor_name="probe", store_results=True)
def probe() -> None:
    workload.mark()


class DramatiqSystem(OwnRedisDatabase, System):
    name = "dramatiq"
    distribution = "dramatiq"
    broker = "redis"
    bulk_api = "group(...).run()"
    best_concurrency = 100  # see benchmarks/suite/plan.py: BEST_FROM
    settings = (
        "--processes 1 (default: one per core) --threads = the step's concurrency (default 8)",
        "the Results middleware (Redis), used by the latency probe only",
    )
    actors = {"mark": mark, "io": io, "probe": probe}

    async def setup(self) -> None:
        self.flush()

    async def reset(self) -> None:
        self.flush()

    async def enqueue(self, kind: Kind) -> dramatiq.Message[Any]:
        return self.actors[kind].send()

    async def enqueue_bulk(self, kind: Kind, count: int) -> None:
        actor = self.actors[kind]
        group(actor.message() for _ in range(count)).run()

    async def is_complete(self, handle: dramatiq.Message[Any]) -> bool:
        try:
            handle.get_result(block=False)
        except ResultMissing:
            return False
        return True

    def worker(self, kind: Kind, concurrency: int) -> WorkerSpec:
        dramatiq_cli = str(Path(sys.executable).with_name("dramatiq"))
        argv = [dramatiq_cli, __name__, "--processes", "1", "--threads", str(concurrency),
                "--queues", QUEUE]  # fmt: skip
        return WorkerSpec(argv)
