"""Procrastinate: PostgreSQL jobs fetched with ``FOR UPDATE SKIP LOCKED`` through a
stored procedure, LISTEN/NOTIFY wake-ups; finished jobs stay in the table.

Worker: ``procrastinate --app benchmarks.peers.procrastinate.app worker``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import procrastinate

from benchmarks.suite import workload
from benchmarks.suite.protocol import (
    PG_DSN_ENV,
    QUEUE,
    Kind,
    OwnPostgresDatabase,
    System,
    WorkerSpec,
)

_DSN = os.environ.get(PG_DSN_ENV, "postgresql://postgres@127.0.0.1/procrastinate")
app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=_DSN))


@app.task(name="mark", queue=QUEUE)
async def mark() -> None:
    workload.mark()


@app.task(name="io", queue=QUEUE)
async def io() -> None:
    await asyncio.sleep(workload.IO_SECONDS)
    workload.mark()


class ProcrastinateSystem(OwnPostgresDatabase, System):
    name = "procrastinate"
    distribution = "procrastinate"
    broker = "postgres"
    bulk_api = "Task.batch_defer_async()"
    best_concurrency = 200  # see benchmarks/suite/plan.py: BEST_FROM
    settings = ("--concurrency = the step's concurrency (default 1)",)
    tasks = {"mark": mark, "io": io, "probe": mark}

    async def setup(self) -> None:
        self.create_database()
        await app.open_async()
        await app.schema_manager.apply_schema_async()

    async def reset(self) -> None:
        self.truncate(["procrastinate_jobs", "procrastinate_events"])

    async def teardown(self) -> None:
        await app.close_async()
        self.drop_database()

    async def enqueue(self, kind: Kind) -> int:
        return await self.tasks[kind].defer_async()

    async def enqueue_bulk(self, kind: Kind, count: int) -> None:
        await self.tasks[kind].batch_defer_async(*({} for _ in range(count)))

    async def is_complete(self, handle: int) -> bool:
        jobs = await app.job_manager.list_jobs_async(id=handle)
        return bool(jobs) and jobs[0].status == "succeeded"

    def worker(self, kind: Kind, concurrency: int) -> WorkerSpec:
        cli = str(Path(sys.executable).with_name("procrastinate"))
        argv = [cli, "--app", f"{__name__}.app", "--log-level", "warning", "worker",
                "--queues", QUEUE, "--concurrency", str(concurrency)]  # fmt: skip
        return WorkerSpec(argv)
