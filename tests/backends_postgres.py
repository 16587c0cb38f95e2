"""The "postgres" backend: the local server, one schema per test, dropped afterwards.

ASYNCTASQ_TEST_POSTGRES_DSN points the tests at another server (default: the
``test`` database on 127.0.0.1:5432 as ``postgres``).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlencode

import asyncpg

from asynctasq.config import Config, redact_url
from asynctasq.drivers.base import Driver
from asynctasq.drivers.postgres import PostgresDriver
from tests.backend_base import Backend
from tests.services import missing_service

#: commits here do not wait for the WAL flush (3.5 ms each on the CI host, 0.3 ms
#: without): the tests check behaviour, not durability across a server crash, as the
#: test Redis runs without persistence. Benchmarks keep PostgreSQL's default.
DSN = os.environ.get(
    "ASYNCTASQ_TEST_POSTGRES_DSN",
    "postgresql://postgres@127.0.0.1:5432/test?synchronous_commit=off",
)


def dsn_with(dsn: str, **settings: str) -> str:
    """``dsn`` with more server settings in its query (it may have some already)."""
    return f"{dsn}{'&' if '?' in dsn else '?'}{urlencode(settings)}"


class PostgresBackend(Backend):
    name = "postgres"

    dsn = DSN

    @property
    def schema(self) -> str:
        return f"asynctasq_{self.namespace}"

    def make_driver(self, **options: Any) -> Driver:
        options.setdefault("max_pool_size", 4)
        return PostgresDriver(self.dsn, schema=self.schema, **options)

    def config(self, **overrides: Any) -> Config:
        return Config(
            driver="postgres", postgres_dsn=self.dsn, postgres_schema=self.schema, **overrides
        )

    def env(self) -> dict[str, str]:
        return {
            "ASYNCTASQ_DRIVER": "postgres",
            "ASYNCTASQ_POSTGRES_DSN": self.dsn,
            "ASYNCTASQ_POSTGRES_SCHEMA": self.schema,
        }

    async def setup(self) -> None:
        try:
            con = await asyncpg.connect(self.dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            missing_service(f"PostgreSQL not reachable at {redact_url(self.dsn)}: {exc}")
        await con.close()

    async def drop(self) -> None:
        await drop_schema(self.dsn, self.schema)


async def drop_schema(dsn: str, schema: str) -> None:
    con = await asyncpg.connect(dsn)
    try:
        # a session a failed test left open may hold a lock on the schema: end those
        # sessions rather than wait on them forever
        await con.execute(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l"
            " JOIN pg_class c ON l.relation = c.oid JOIN pg_namespace n"
            " ON c.relnamespace = n.oid WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()",
            schema,
        )
        await con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await con.close()


BACKENDS_EXTRA = {"postgres": PostgresBackend}
