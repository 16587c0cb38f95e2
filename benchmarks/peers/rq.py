"""RQ with its SimpleWorker: one job at a time, in the worker's own process (no fork
per job). Results are kept for 500 s by default.

Worker: ``rq worker --worker-class rq.worker.SimpleWorker bench``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus

from benchmarks.suite import workload
from benchmarks.suite.protocol import QUEUE, Kind, OwnRedisDatabase, System, WorkerSpec, redis_url


def mark() -> None:
    workload.mark()


def io() -> None:
    time.sleep(workload.IO_SECONDS)
    workload.mark()


class RqSystem(OwnRedisDatabase, System):
    name = "rq"
    distribution = "rq"
    broker = "redis"
    bulk_api = "Queue.enqueue_many()"
    fixed_concurrency = 1
    settings = (
        "--worker-class rq.worker.SimpleWorker: one job at a time, no fork per job",
        "--logging_level WARNING: no per-job log lines",
    )
    functions = {"mark": mark, "io": io, "probe": mark}

    async def setup(self) -> None:
        self.flush()
        self.queue = Queue(QUEUE, connection=Redis.from_url(redis_url()))

    async def reset(self) -> None:
        self.flush()

    async def enqueue(self, kind: Kind) -> Job:
        return self.queue.enqueue(self.functions[kind])

    async def enqueue_bulk(self, kind: Kind, count: int) -> None:
        data = Queue.prepare_data(self.functions[kind])
        self.queue.enqueue_many([data] * count)

    async def is_complete(self, handle: Job) -> bool:
        return handle.get_status(refresh=True) == JobStatus.FINISHED

    def worker(self, kind: Kind, concurrency: int) -> WorkerSpec:
        rq = str(Path(sys.executable).with_name("rq"))
        argv = [rq, "worker", "--worker-class", "rq.worker.SimpleWorker", "--url", redis_url(),
                "--logging_level", "WARNING", QUEUE]  # fmt: skip
        return WorkerSpec(argv)
