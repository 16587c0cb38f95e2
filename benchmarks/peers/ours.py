"""asynctasq itself, on each broker, driven exactly like the peers: its public
Dispatcher to enqueue, its CLI worker (``python -m asynctasq worker``) in a
subprocess, settings from benchmarks/brokers.py (an isolated key prefix, schema
or file).
"""

from __future__ import annotations

import asyncio
import os
import sys

from asynctasq import AsyncTask, SyncProcessTask
from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.drivers.base import Driver
from asynctasq.jobs import JobState
from asynctasq.tasks.base import BaseTask
from benchmarks.brokers import bench_config, cleanup, config_env
from benchmarks.suite import workload
from benchmarks.suite.protocol import (
    PG_DSN_ENV,
    QUEUE,
    REDIS_URL_ENV,
    Kind,
    System,
    WorkerSpec,
)


class Mark(AsyncTask[None], name="bench.peers.mark"):
    async def execute(self) -> None:
        workload.mark()


class Sleep(AsyncTask[None], name="bench.peers.io"):
    async def execute(self) -> None:
        await asyncio.sleep(workload.IO_SECONDS)
        workload.mark()


class Burn(SyncProcessTask[None], name="bench.peers.cpu"):
    def execute(self) -> None:
        workload.burn()
        workload.mark()


TASKS: dict[str, type[BaseTask[None]]] = {"mark": Mark, "io": Sleep, "cpu": Burn, "probe": Mark}
_LEFTOVER_STATES = (JobState.PENDING, JobState.SCHEDULED, JobState.FAILED, JobState.COMPLETED)


class AsyncTasqSystem(System):
    distribution = "asynctasq"
    bulk_api = "dispatch_many()"
    best_concurrency = 100  # not swept on SQLite
    cpu_pool = "SyncProcessTask on the process pool, one process per core"
    settings = (
        "--concurrency = the step's concurrency (default 10); CPU step: "
        "--process-pool-size = cores, --concurrency = 2 x cores",
        "--log-level WARNING: no per-job log lines",
        "default-settings steps: no flag at all but the queue and the jobs' module",
    )
    supervisor = True
    driver_name: str

    def config(self) -> Config:
        config = bench_config(self.driver_name)
        if self.driver_name == "redis" and REDIS_URL_ENV in os.environ:
            config = config.replace(redis_url=os.environ[REDIS_URL_ENV])
        if self.driver_name == "postgres" and PG_DSN_ENV in os.environ:
            config = config.replace(postgres_dsn=os.environ[PG_DSN_ENV])
        return config

    async def setup(self) -> None:
        self._config = self.config()
        self.driver: Driver = DriverFactory.create_from_config(self._config)
        await self.driver.connect()
        await self.driver.migrate()
        self.dispatcher = Dispatcher(self.driver, self._config)
        self.generation = 0
        self.queue = QUEUE

    async def reset(self) -> None:
        for state in _LEFTOVER_STATES:
            await self.driver.purge(self.queue, state)
        # jobs a stopped worker still held come back after their lease: a fresh
        # queue per step keeps them out of the next measurement
        self.generation += 1
        self.queue = f"{QUEUE}{self.generation}"

    async def teardown(self) -> None:
        await self.reset()
        await self.drop_namespace()
        await self.driver.disconnect()
        cleanup(self._config)

    async def drop_namespace(self) -> None:
        """Remove every key or table of the benchmark's prefix or schema."""

    async def enqueue(self, kind: Kind) -> str:
        return await self.dispatcher.dispatch(TASKS[kind]().on_queue(self.queue))

    async def enqueue_bulk(self, kind: Kind, count: int) -> None:
        task = TASKS[kind]
        await self.dispatcher.dispatch_many(task().on_queue(self.queue) for _ in range(count))

    async def is_complete(self, handle: str) -> bool:
        job = await self.driver.get(handle)  # completed jobs are deleted by default
        return job is None or job.state is JobState.COMPLETED

    def default_worker(self, kind: Kind, processes: int = 1) -> WorkerSpec:
        """``python -m asynctasq worker --queues Q``: nothing else but the module of the
        jobs (and ``--processes``)."""
        argv = [sys.executable, "-m", "asynctasq", "worker", "--queues", self.queue,
                "--import", __name__]  # fmt: skip
        if processes > 1:
            argv += ["--processes", str(processes)]
        return WorkerSpec(argv, self._env(kind))

    def _env(self, kind: Kind) -> dict[str, str]:
        env = {k: "" for k in os.environ if k.startswith("ASYNCTASQ_")}
        # like the peers' workers, one that serves no CPU jobs starts no process pool
        prestart = {"ASYNCTASQ_PROCESS_POOL_PRESTART": str(kind == "cpu").lower()}
        return {**env, **config_env(self._config), **prestart}

    def worker(self, kind: Kind, concurrency: int) -> WorkerSpec:
        argv = [sys.executable, "-m", "asynctasq", "worker", "--queues", self.queue,
                "--import", __name__, "--log-level", "WARNING"]  # fmt: skip
        if kind == "cpu":
            argv += ["--process-pool-size", str(concurrency), "--concurrency", str(2 * concurrency)]
        else:
            argv += ["--concurrency", str(concurrency)]
        return WorkerSpec(argv, self._env(kind))


class RedisSystem(AsyncTasqSystem):
    name = "asynctasq-redis"
    broker = "redis"
    best_concurrency = 50  # see benchmarks/suite/plan.py: BEST_FROM
    driver_name = "redis"

    async def drop_namespace(self) -> None:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(self._config.redis_url)
        try:
            async for key in client.scan_iter(match=f"{self._config.redis_prefix}*", count=1000):
                await client.unlink(key)
        finally:
            await client.aclose()


class PostgresSystem(AsyncTasqSystem):
    name = "asynctasq-postgres"
    broker = "postgres"
    best_concurrency = 20  # see benchmarks/suite/plan.py: BEST_FROM
    driver_name = "postgres"

    async def before_drain(self) -> None:
        # as for the PostgreSQL peers (OwnPostgresDatabase.before_drain): planner
        # statistics that match the queued jobs
        import asyncpg

        conn = await asyncpg.connect(self._config.postgres_dsn)
        try:
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = $1",
                self._config.postgres_schema,
            )
            for row in tables:
                await conn.execute(f'ANALYZE "{self._config.postgres_schema}"."{row["tablename"]}"')
        finally:
            await conn.close()

    async def drop_namespace(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self._config.postgres_dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self._config.postgres_schema}" CASCADE')
        finally:
            await conn.close()


class MySQLSystem(AsyncTasqSystem):
    name = "asynctasq-mysql"
    broker = "mysql"
    best_concurrency = 100  # not swept: no peer on MySQL
    driver_name = "mysql"


class SQLiteSystem(AsyncTasqSystem):
    name = "asynctasq-sqlite"
    broker = "sqlite"
    driver_name = "sqlite"
