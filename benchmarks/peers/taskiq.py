"""taskiq with taskiq-redis's RedisStreamBroker (the one its README starts with): a
Redis stream read by a consumer group, messages acknowledged once run.

Worker: ``taskiq worker benchmarks.peers.taskiq:broker --workers 1``. Results need a
result backend on the broker; only the latency probe has one (``results_broker``,
its own stream), so the other jobs store nothing, as by default.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from taskiq import AsyncTaskiqTask
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from benchmarks.suite import workload
from benchmarks.suite.protocol import (
    QUEUE,
    REDIS_URL_ENV,
    Kind,
    OwnRedisDatabase,
    System,
    WorkerSpec,
)

_URL = os.environ.get(REDIS_URL_ENV, "redis://127.0.0.1/12")
broker = RedisStreamBroker(url=_URL, queue_name=QUEUE)
results_broker = RedisStreamBroker(url=_URL, queue_name=f"{QUEUE}-probe").with_result_backend(
    RedisAsyncResultBackend(redis_url=_URL)
)


@broker.task(task_name="mark")
async def mark() -> None:
    workload.mark()


@broker.task(task_name="io")
async def io() -> None:
    await asyncio.sleep(workload.IO_SECONDS)
    workload.mark()


@results_broker.task(task_name="probe")
async def probe() -> None:
    workload.mark()


class TaskiqSystem(OwnRedisDatabase, System):
    name = "taskiq"
    distribution = "taskiq"
    broker = "redis"
    best_concurrency = 100  # see benchmarks/suite/plan.py: BEST_FROM
    settings = (
        "--workers 1 (default: 2 processes); --max-async-tasks = the step's concurrency "
        "(default 100)",
        "--log-level WARNING: no per-job log lines",
        "latency probe only: a RedisAsyncResultBackend, to see completion",
    )

    async def setup(self) -> None:
        await self.reset()

    async def reset(self) -> None:
        self.flush()
        # the consumer group starts at the stream's end ("$"): create it before
        # jobs are queued, or a worker started later would skip them
        await broker.startup()
        await results_broker.startup()

    async def teardown(self) -> None:
        self.flush()
        await broker.shutdown()
        await results_broker.shutdown()

    async def enqueue(self, kind: Kind) -> AsyncTaskiqTask[Any]:
        task = {"mark": mark, "io": io, "probe": probe}[kind]
        return await task.kiq()

    async def is_complete(self, handle: AsyncTaskiqTask[Any]) -> bool:
        return await handle.is_ready()

    def worker(self, kind: Kind, concurrency: int) -> WorkerSpec:
        taskiq = str(Path(sys.executable).with_name("taskiq"))
        target = "results_broker" if kind == "probe" else "broker"
        argv = [taskiq, "worker", f"{__name__}:{target}", "--workers", "1",
                "--max-async-tasks", str(concurrency), "--log-level", "WARNING"]  # fmt: skip
        return WorkerSpec(argv)
