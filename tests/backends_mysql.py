"""The "mysql" backend: the local MariaDB/MySQL server, one database per test, dropped
afterwards.

ASYNCTASQ_TEST_MYSQL_DSN points the tests at another server (default: root on
127.0.0.1:3306); its database part is only used to log in, each test creates its own.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiomysql

from asynctasq.config import Config, redact_url
from asynctasq.drivers.base import Driver
from asynctasq.drivers.mysql import MySQLDriver
from asynctasq.drivers.mysql.dsn import MySQLSettings
from tests.backend_base import Backend
from tests.services import missing_service

SERVER_DSN = os.environ.get("ASYNCTASQ_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3306/test")


def dsn_for(database: str) -> str:
    parts = urlsplit(SERVER_DSN)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def admin_connection() -> Any:
    """A connection to the test server, no database selected, autocommit."""
    kwargs = MySQLSettings.from_dsn(SERVER_DSN).connect_kwargs()
    kwargs.pop("db")
    return await aiomysql.connect(autocommit=True, **kwargs)


async def admin_execute(*statements: str) -> None:
    conn = await admin_connection()
    try:
        async with conn.cursor() as cur:
            for statement in statements:
                await cur.execute(statement)
    finally:
        conn.close()


async def kill_connections(database: str) -> int:
    """KILL every connection using ``database`` (a crash of the network or a DBA's
    hand, short of restarting the shared server); returns how many."""
    conn = await admin_connection()
    killed = 0
    try:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT id FROM information_schema.PROCESSLIST "
                "WHERE db = %s AND id <> CONNECTION_ID()",
                (database,),
            )
            for (thread_id,) in await cur.fetchall():
                try:
                    await cur.execute(f"KILL {int(thread_id)}")
                    killed += 1
                except aiomysql.OperationalError:
                    pass  # it went away on its own meanwhile
    finally:
        conn.close()
    return killed


class MySQLBackend(Backend):
    name = "mysql"

    @property
    def database(self) -> str:
        return f"asynctasq_{self.namespace}"

    @property
    def dsn(self) -> str:
        return dsn_for(self.database)

    def make_driver(self, **options: Any) -> Driver:
        options.setdefault("max_pool_size", 4)
        return MySQLDriver(self.dsn, **options)

    def config(self, **overrides: Any) -> Config:
        return Config(driver="mysql", mysql_dsn=self.dsn, **overrides)

    def env(self) -> dict[str, str]:
        return {"ASYNCTASQ_DRIVER": "mysql", "ASYNCTASQ_MYSQL_DSN": self.dsn}

    async def setup(self) -> None:
        try:
            await admin_execute(f"CREATE DATABASE `{self.database}`")
        except (OSError, aiomysql.OperationalError) as exc:
            missing_service(f"MySQL not reachable at {redact_url(SERVER_DSN)}: {exc}")

    async def drop(self) -> None:
        await admin_execute(f"DROP DATABASE IF EXISTS `{self.database}`")


BACKENDS_EXTRA = {"mysql": MySQLBackend}
