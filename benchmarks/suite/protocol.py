"""What the suite needs from a task queue: one adapter class per system.

An adapter runs inside its system's own virtualenv (asynctasq in the project's, each
peer in benchmarks/.venv-peers/<group>/), drives the system through its public API,
and names the command line of its normal worker. Standard library only here; the
broker clients are imported inside the methods that need them.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

#: the job kinds every adapter defines: no-op, 10 ms await, ~5 ms CPU, latency probe
Kind = Literal["mark", "io", "cpu", "probe"]

QUEUE = "bench"
REDIS_URL_ENV = "BENCH_REDIS_URL"
PG_DSN_ENV = "BENCH_PG_DSN"
CONCURRENCY_ENV = "BENCH_CONCURRENCY"
#: Redis databases the suite owns while it runs (flushed before and after each step)
OWN_REDIS_DBS = range(9, 16)


@dataclass(frozen=True)
class WorkerSpec:
    """How to start one worker process: its argv and extra environment."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


class System(abc.ABC):
    #: the name used on the command line and in tables, e.g. "arq"
    name: ClassVar[str]
    #: the distribution whose version the table reports
    distribution: ClassVar[str]
    broker: ClassVar[Literal["redis", "postgres", "sqlite"]]
    #: the public call that enqueues many jobs at once, None when there is none
    bulk_api: ClassVar[str | None] = None
    #: the concurrency at which one worker process drains fastest (``--sweep`` finds it)
    best_concurrency: ClassVar[int] = 10
    #: jobs one worker process runs at once, when the system has no such setting
    fixed_concurrency: ClassVar[int | None] = None
    #: how CPU-bound jobs run in parallel, None when the system is not in that scenario
    cpu_pool: ClassVar[str | None] = None
    #: every setting that differs from the system's defaults, and why
    settings: ClassVar[tuple[str, ...]] = ()
    #: whether ``default_worker(processes=N)`` runs N processes under one supervisor
    supervisor: ClassVar[bool] = False

    async def setup(self) -> None:  # noqa: B027 (a hook: most systems need nothing)
        """Create this system's namespace (database, schema); start empty."""

    @abc.abstractmethod
    async def reset(self) -> None:
        """Empty the namespace between steps (no worker is running)."""

    async def teardown(self) -> None:
        """Remove everything the benchmark created."""
        await self.reset()

    async def before_drain(self) -> None:  # noqa: B027 (a hook: most systems need nothing)
        """The drain's jobs are queued and its worker is about to start."""

    @abc.abstractmethod
    async def enqueue(self, kind: Kind) -> Any:
        """Enqueue one job; returns what is_complete() needs to follow it."""

    async def enqueue_bulk(self, kind: Kind, count: int) -> None:
        """Enqueue ``count`` jobs through the bulk API (only when bulk_api is set)."""
        raise NotImplementedError(f"{self.name} has no bulk enqueue")

    @abc.abstractmethod
    async def is_complete(self, handle: Any) -> bool:
        """Has the job been reported finished, as a user of the public API sees it?"""

    @abc.abstractmethod
    def worker(self, kind: Kind, concurrency: int) -> WorkerSpec:
        """One worker process serving QUEUE with ``concurrency`` jobs at once."""

    def default_worker(self, kind: Kind, processes: int = 1) -> WorkerSpec:
        """The worker as a user starts it, with no tuning flag. Peers: their worker at
        concurrency 10 (what most of them default to)."""
        return self.worker(kind, 10)

    def version(self) -> str:
        from importlib.metadata import version

        return version(self.distribution)


def redis_url() -> str:
    return os.environ[REDIS_URL_ENV]


def pg_dsn() -> str:
    return os.environ[PG_DSN_ENV]


class OwnRedisDatabase:
    """A Redis database number the suite owns for the run (9-15), emptied with FLUSHDB."""

    def flush(self) -> None:
        import redis

        client = redis.Redis.from_url(redis_url())
        try:
            db = client.connection_pool.connection_kwargs.get("db", 0)
            if db not in OWN_REDIS_DBS:
                raise RuntimeError(
                    f"refusing to FLUSHDB database {db}: the suite only owns "
                    f"{OWN_REDIS_DBS.start}-{OWN_REDIS_DBS.stop - 1}"
                )
            client.flushdb()
        finally:
            client.close()


class OwnPostgresDatabase:
    """A PostgreSQL database created for the run and dropped at the end (psycopg)."""

    def _admin(self) -> tuple[Any, str]:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(pg_dsn())
        name = str(params["dbname"])
        if not name.startswith("bench_"):
            raise RuntimeError(f"refusing to manage database {name!r}: not a bench_ database")
        admin = psycopg.connect(make_conninfo(pg_dsn(), dbname="postgres"), autocommit=True)
        return admin, name

    def create_database(self) -> None:
        from psycopg import sql

        admin, name = self._admin()
        with admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self) -> None:
        from psycopg import sql

        admin, name = self._admin()
        with admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    async def before_drain(self) -> None:
        # a table that was just emptied and refilled still has the planner statistics
        # of an empty one; autovacuum would analyze it within a minute, a measurement
        # of a few seconds must not hinge on when that happens
        import psycopg

        with psycopg.connect(pg_dsn(), autocommit=True) as conn:
            conn.execute("ANALYZE")

    def truncate(self, tables: Sequence[str]) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(pg_dsn(), autocommit=True) as conn:
            names = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
            conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(names))
