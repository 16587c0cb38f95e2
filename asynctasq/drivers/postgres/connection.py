"""The connection side of the driver: the pool, the DSN, and retrying a statement
once its connection was lost (server restart, ``pg_terminate_backend``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import asyncpg

from asynctasq.config import redact_url
from asynctasq.drivers.base import DriverError, DriverNotConnected

__all__ = ["ConnectionSettings", "PoolRunner", "connection_lost"]

log = logging.getLogger("asynctasq.drivers.postgres")
R = TypeVar("R")

#: server errors that mean "this connection is gone", not "this statement is wrong"
_LOST = (
    asyncpg.PostgresConnectionError,  # 08xxx
    asyncpg.AdminShutdownError,  # pg_terminate_backend, fast shutdown
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    ConnectionError,
    OSError,
)


def connection_lost(exc: BaseException) -> bool:
    if isinstance(exc, _LOST):
        return True
    # a connection the server closed under it, seen by asyncpg before the socket
    # closed: "another operation is in progress" on an idle pooled connection
    if isinstance(exc, asyncpg.InternalClientError):
        return True
    # asyncpg raises a bare InterfaceError on a connection it already saw close
    return type(exc) is asyncpg.InterfaceError and "closed" in str(exc)


class ConnectionSettings:
    """What every connection of the driver is opened with."""

    def __init__(self, dsn: str, application_name: str = "asynctasq") -> None:
        parts = urlsplit(dsn)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(
                f"invalid PostgreSQL DSN {redact_url(dsn)!r} (ASYNCTASQ_POSTGRES_DSN): use "
                "postgresql://user:password@host:port/database"
            )
        self.dsn = dsn
        given = parse_qs(parts.query)
        # Settings in the DSN win. JIT compilation costs more than these short statements
        # ever run. The jobs table's statistics swing between "empty" and "full" as the
        # queue drains and fills; planned on a day it looked empty, a statement would scan
        # the whole table for a batch of ids: every statement of the driver reaches rows
        # through an index, so its connections rule sequential scans out.
        defaults = {"application_name": application_name, "jit": "off", "enable_seqscan": "off"}
        self.server_settings = {k: v for k, v in defaults.items() if k not in given}

    @property
    def safe_dsn(self) -> str:
        return redact_url(self.dsn)

    async def connect(self, timeout: float = 60.0) -> Any:
        return await asyncpg.connect(
            self.dsn, server_settings=self.server_settings, timeout=timeout
        )

    async def create_pool(self, min_size: int, max_size: int) -> Any:
        return await asyncpg.create_pool(
            self.dsn,
            min_size=min(min_size, max_size),
            max_size=max_size,
            server_settings=self.server_settings,
            reset=_keep_session,
        )

    def unreachable(self, exc: BaseException) -> DriverError:
        # asyncpg's messages name host and port, and may quote a DSN: redacted whole
        return DriverError(
            redact_url(f"cannot connect to PostgreSQL at {self.dsn}: {type(exc).__name__}: {exc}")
        )


async def _keep_session(con: Any) -> None:
    """asyncpg's default reset on release (UNLISTEN, RESET ALL, ... : one more round
    trip per statement) undoes nothing here: the driver never changes session state on
    pooled connections (transactions are rolled back by asyncpg itself)."""


def _discard(con: Any) -> None:
    """Close a broken pooled connection so the pool never hands it out again (asyncpg
    may have detached it already, when it saw the socket close)."""
    with contextlib.suppress(asyncpg.InterfaceError):
        con.terminate()


class PoolRunner:
    """Runs statements on pooled connections, retrying those whose connection was lost.

    Retrying is safe for every statement the driver sends: enqueue skips ids already
    stored, outcomes are fenced (a repeated one is refused, never applied twice), and
    a claim whose reply was lost leaves jobs that recover_expired() hands out again.
    """

    retries = 3

    def __init__(self) -> None:
        self.pool: Any = None

    def require(self) -> Any:
        if self.pool is None:
            raise DriverNotConnected("postgres")
        return self.pool

    async def run(self, action: Callable[[Any], Awaitable[R]]) -> R:
        """``action(connection)`` on a pooled connection, again on a fresh one if the
        connection was lost."""
        attempt = 0
        while True:
            pool = self.require()
            try:
                async with pool.acquire() as con:
                    try:
                        return await action(con)
                    except Exception as exc:
                        if connection_lost(exc):
                            _discard(con)
                        raise
            except Exception as exc:
                if attempt >= self.retries or not connection_lost(exc):
                    raise
                attempt += 1
                log.info(
                    "PostgreSQL connection lost (%s: %s); retrying (%d/%d)",
                    type(exc).__name__,
                    exc,
                    attempt,
                    self.retries,
                )
                await asyncio.sleep(0.05 * 3**attempt)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        return await self.run(lambda con: con.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        return await self.run(lambda con: con.fetchrow(sql, *args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.run(lambda con: con.fetchval(sql, *args))

    async def execute(self, sql: str, *args: Any) -> str:
        return await self.run(lambda con: con.execute(sql, *args))
