"""SAQ (Simple Async Queue) on Redis: jobs in lists moved with BLMOVE, statuses and
results kept for ``ttl`` (600 s) by default.

Worker: ``saq benchmarks.peers.saq.worker_settings``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from saq import Job, Queue, Status

from benchmarks.suite import workload
from benchmarks.suite.protocol import (
    CONCURRENCY_ENV,
    QUEUE,
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


def settings_for(url: str) -> dict[str, Any]:
    return {
        "queue": Queue.from_url(url, name=QUEUE),
        "functions": [mark, io],
        "concurrency": int(os.environ.get(CONCURRENCY_ENV, "10")),
    }


worker_settings = settings_for(os.environ.get(REDIS_URL_ENV, "redis://127.0.0.1/11"))


class SaqSystem(OwnRedisDatabase, System):
    name = "saq"
    distribution = "saq"
    broker = "redis"
    best_concurrency = 20  # see benchmarks/suite/plan.py: BEST_FROM
    settings = ("concurrency = the step's concurrency (default 10)",)

    def url(self) -> str:
        return redis_url()

    async def setup(self) -> None:
        await self.reset()
        self.queue = Queue.from_url(self.url(), name=QUEUE)
        await self.queue.connect()

    async def reset(self) -> None:
        self.flush()

    async def teardown(self) -> None:
        await self.reset()
        await self.queue.disconnect()

    async def enqueue(self, kind: Kind) -> Job | None:
        # statuses are kept by default: the probe is a plain no-op job
        return await self.queue.enqueue("mark" if kind == "probe" else kind)

    async def is_complete(self, handle: Job) -> bool:
        await handle.refresh()
        return handle.status == Status.COMPLETE

    def worker(self, kind: Kind, concurrency: int) -> WorkerSpec:
        saq = str(Path(sys.executable).with_name("saq"))
        argv = [saq, f"{self.__module__}.worker_settings", "--workers", "1"]
        return WorkerSpec(argv, {CONCURRENCY_ENV: str(concurrency)})
