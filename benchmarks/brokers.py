"""Settings for each broker, pointed at a namespace of their own so a benchmark
never touches other data. Each driver adds its entry here."""

from __future__ import annotations

import dataclasses
import os
import secrets
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from asynctasq.config import Config
from asynctasq.drivers.base import Driver
from asynctasq.jobs import Job, Outcome
from asynctasq.serialization.payload import encode_payload

__all__ = ["bench_config", "cleanup", "clear_queue", "config_env", "finish_jobs"]

#: jobs finished per round trip by finish_jobs
CHUNK = 5000

_TOKEN = secrets.token_hex(3)


def bench_config(driver: str) -> Config:
    """The global settings (ASYNCTASQ_* variables) with an isolated namespace."""
    base = Config.from_env(env_file=None, driver=driver)
    if driver == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="asynctasq-bench-"))
        return base.replace(sqlite_path=str(folder / "bench.db"))
    if driver == "redis":
        return base.replace(redis_prefix=f"bench-{_TOKEN}")
    if driver == "postgres":
        return base.replace(postgres_schema=f"bench_{_TOKEN}")
    if driver == "mysql":
        return base.replace(mysql_dsn=_create_mysql_database(base, f"asynctasq_bench_{_TOKEN}"))
    if driver == "rabbitmq":
        return base.replace(rabbitmq_prefix=f"asynctasq-bench-{_TOKEN}")
    return base


def config_env(config: Config) -> dict[str, str]:
    """The ASYNCTASQ_* variables that give a worker subprocess these settings."""
    env = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is None:
            continue
        env[f.metadata["env"]] = ",".join(value) if isinstance(value, tuple) else str(value)
    return env


def cleanup(config: Config) -> None:
    if config.driver == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            path = Path(config.sqlite_path + suffix)
            if path.exists():
                os.unlink(path)
    if config.driver == "redis":
        _unlink_redis_prefix(config)
    if config.driver == "postgres":
        _drop_postgres_schema(config)
    if config.driver == "mysql":
        _mysql_admin(config, "DROP DATABASE IF EXISTS `{}`")
    if config.driver == "rabbitmq":
        _in_thread(_delete_rabbitmq_prefix(config))


async def clear_queue(config: Config, queue: str) -> None:
    """Empty ``queue`` between scenarios, for drivers without operator actions
    (Management): RabbitMQ purges the queue's band queues and dead letters."""
    if config.driver != "rabbitmq":
        raise ValueError(f"no way to clear a queue of the {config.driver} driver")
    import aiormq

    from asynctasq.drivers.rabbitmq.topology import Topology

    topology = Topology(config.rabbitmq_prefix)
    connection = await aiormq.connect(config.rabbitmq_url)
    try:
        channel = await connection.channel()
        for name in [*topology.band_queues(queue), topology.failed_queue(queue)]:
            await channel.queue_purge(name)
    finally:
        await connection.close()


async def _delete_rabbitmq_prefix(config: Config) -> None:
    """The run's queues and exchanges (asynctasq-bench-<token>.*), never more."""
    import aiormq

    from asynctasq.drivers.rabbitmq.topology import delete_topology

    connection = await aiormq.connect(config.rabbitmq_url)
    try:
        channel = await connection.channel()
        await delete_topology(channel, config.rabbitmq_prefix, ["bench", *config.queues])
    finally:
        await connection.close()


def _in_thread(work: Coroutine[Any, Any, None]) -> None:
    """cleanup() is called from inside the benchmarks' event loop: run from a thread."""
    import asyncio
    import threading

    runner = threading.Thread(target=asyncio.run, args=(work,))
    runner.start()
    runner.join()


def _unlink_redis_prefix(config: Config) -> None:
    """Every key of the run's prefix (queues, registry, worker records), never more."""
    import redis

    from asynctasq.drivers.keys import RedisKeys

    cls = redis.RedisCluster if config.redis_cluster else redis.Redis
    client = cls.from_url(config.redis_url, password=config.redis_password)
    try:
        for key in client.scan_iter(match=RedisKeys(config.redis_prefix).pattern, count=1000):
            client.unlink(key)
    finally:
        client.close()


def _drop_postgres_schema(config: Config) -> None:
    """The run's schema (bench_<token>) and everything in it, never more."""
    import asyncio
    import threading

    import asyncpg

    async def drop() -> None:
        con = await asyncpg.connect(config.postgres_dsn)
        try:
            await con.execute(f'DROP SCHEMA IF EXISTS "{config.postgres_schema}" CASCADE')
        finally:
            await con.close()

    # cleanup() is called from inside the benchmarks' event loop: drop from a thread
    dropper = threading.Thread(target=asyncio.run, args=(drop(),))
    dropper.start()
    dropper.join()


def _mysql_admin(config: Config, statement: str) -> str:
    """Run ``statement`` (``{}``: the DSN's database) as the DSN's user; returns the
    database name."""
    import pymysql

    from asynctasq.drivers.mysql.dsn import MySQLSettings

    settings = MySQLSettings.from_dsn(config.mysql_dsn)
    kwargs = settings.connect_kwargs()
    kwargs.pop("db")
    con = pymysql.connect(**kwargs)
    try:
        with con.cursor() as cur:
            cur.execute(statement.format(settings.database))
    finally:
        con.close()
    return settings.database


def _create_mysql_database(base: Config, database: str) -> str:
    """A database of the run's own (asynctasq_bench_<token>) on the DSN's server."""
    from urllib.parse import urlsplit, urlunsplit

    dsn = urlunsplit(urlsplit(base.mysql_dsn)._replace(path=f"/{database}"))
    _mysql_admin(base.replace(mysql_dsn=dsn), "CREATE DATABASE IF NOT EXISTS `{}`")
    return dsn


async def finish_jobs(
    driver: Driver, queue: str, jobs: int, task: str, outcome: Callable[[Job], Outcome]
) -> None:
    """Put ``jobs`` jobs of ``queue`` in a final state through the driver's core
    (enqueue, claim, settle with ``outcome(job)``, in batches): no worker needed."""
    payload = encode_payload({"order": 1})
    for start in range(0, jobs, CHUNK):
        size = min(CHUNK, jobs - start)
        await driver.enqueue([Job(task=task, payload=payload, queue=queue) for _ in range(size)])
        while size > 0:  # a driver may hand out fewer jobs per claim than asked
            claimed = await driver.claim([queue], limit=size, worker_id="bench", lease_seconds=600)
            size -= len(claimed)
            await driver.settle([outcome(j) for j in claimed])
