"""arq: asyncio jobs in Redis. Its worker polls the queue (a sorted set) every
``poll_delay`` (0.5 s by default) and keeps every job's result for an hour.

Worker: ``arq benchmarks.peers.arq.WorkerSettings``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.jobs import Job, JobStatus

from benchmarks.suite import workload
from benchmarks.suite.protocol import (
    CONCURRENCY_ENV,
    REDIS_URL_ENV,
    Kind,
    OwnRedisDatabase,
    System,
    WorkerSpec,
    redis_url,
)


async def mark(ctx: dict[str, Any]) -> None:
    workload.mark()


async def io(ctx: dict[str, Any]) -> None:
    await asyncio.sleep(workload.IO_SECONDS)
    workload.mark()


class WorkerSettings:
    functions = [mark, io]
    redis_settings = RedisSettings.from_dsn(os.environ.get(REDIS_URL_ENV, "redis://127.0.0.1/10"))
    max_jobs = int(os.environ.get(CONCURRENCY_ENV, "10"))


#: per-job lines at INFO would cost arq time no other worker spends
LOG_CONFIG = {
    "version": 1,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"arq": {"handlers": ["stderr"], "level": "WARNING"}},
}


class ArqSystem(OwnRedisDatabase, System):
    name = "arq"
    distribution = "arq"
    broker = "redis"
    best_concurrency = 200  # see benchmarks/suite/plan.py: BEST_FROM
    settings = (
        "max_jobs = the step's concurrency (default 10)",
        "log level WARNING (--custom-log-dict): no per-job log lines",
    )

    async def setup(self) -> None:
        self.flush()
        self.pool: ArqRedis = await create_pool(RedisSettings.from_dsn(redis_url()))

    async def reset(self) -> None:
        self.flush()

    async def teardown(self) -> None:
        self.flush()
        await self.pool.aclose()

    async def enqueue(self, kind: Kind) -> Job | None:
        # results are kept by default: the probe is a plain no-op job
        return await self.pool.enqueue_job("mark" if kind == "probe" else kind)

    async def is_complete(self, handle: Job) -> bool:
        return await handle.status() == JobStatus.complete

    def worker(self, kind: Kind, concurrency: int) -> WorkerSpec:
        arq = str(Path(sys.executable).with_name("arq"))
        argv = [arq, "--custom-log-dict", f"{__name__}.LOG_CONFIG", f"{__name__}.WorkerSettings"]
        return WorkerSpec(argv, {CONCURRENCY_ENV: str(concurrency)})
