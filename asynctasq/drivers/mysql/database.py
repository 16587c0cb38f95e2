"""The connection side of the MySQL driver: the aiomysql pool, sessions that run
named statements, and retrying work whose connection was lost or that lost a
deadlock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiomysql

from asynctasq.drivers.base import DriverError, DriverNotConnected
from asynctasq.drivers.mysql.dsn import MySQLSettings
from asynctasq.drivers.mysql.session import Session

__all__ = ["Database", "connection_lost", "data_error", "error_code"]

log = logging.getLogger("asynctasq.drivers.mysql")
R = TypeVar("R")

#: the connection is gone (server restart, KILL, network), not the statement wrong
_LOST_CODES = frozenset({1053, 1927, 2003, 2006, 2013, 2055, 4031})
#: InnoDB gave up on this transaction (deadlock) or statement (lock wait): run it again
_CONFLICT_CODES = frozenset({1205, 1213})
#: pymysql.constants.CLIENT: FOUND_ROWS (an UPDATE reports the rows it matched, not
#: those it changed) and MULTI_STATEMENTS (several statements per round trip)
_CLIENT_FLAGS = 2 | 1 << 16
ER_NO_SUCH_TABLE = 1146
ER_DUP_ENTRY = 1062


def error_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


#: the server refused a value or a row (too long, out of range, not in the column's
#: character set, invalid JSON, a constraint broken), not the statement or the link
_DATA_CODES = frozenset({1048, 1062, 1264, 1292, 1366, 1406, 3140, 3141, 3819, 4025, 4038})


def data_error(exc: BaseException) -> bool:
    """A value or row the server (or our rendering of it into SQL) refused: isolate
    the item at fault. ValueError: a value that has no SQL form (sqltext.py), or text
    the connection's character set cannot encode."""
    if isinstance(exc, ValueError) or error_code(exc) in _DATA_CODES:
        return True
    return isinstance(exc, aiomysql.DataError | aiomysql.IntegrityError)


def connection_lost(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | OSError | asyncio.IncompleteReadError):
        return True
    if isinstance(exc, aiomysql.InterfaceError):  # a connection aiomysql saw close
        return True
    return isinstance(exc, aiomysql.OperationalError) and error_code(exc) in _LOST_CODES


class Database:
    """A pool of connections that all read committed data and report matched rows.

    READ COMMITTED keeps InnoDB from taking gap locks, so a claim never blocks an
    enqueue; FOUND_ROWS makes an UPDATE that changes nothing still count its row.
    """

    retries = 3

    def __init__(self, settings: MySQLSettings, *, min_size: int, max_size: int) -> None:
        self.settings = settings
        self.min_size = min(min_size, max_size)
        self.max_size = max_size
        self._pool: Any = None
        #: SQL one request may carry (the driver sets it from max_allowed_packet)
        self.max_request = 4 << 20

    @property
    def connected(self) -> bool:
        return self._pool is not None

    async def open(self) -> None:
        try:
            self._pool = await aiomysql.create_pool(
                minsize=self.min_size,
                maxsize=self.max_size,
                autocommit=True,
                charset="utf8mb4",
                client_flag=_CLIENT_FLAGS,
                init_command="SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                pool_recycle=1800,
                **self.settings.connect_kwargs(),
            )
        except Exception as exc:
            raise self.unreachable(exc) from exc

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            await pool.wait_closed()

    def unreachable(self, exc: BaseException) -> DriverError:
        # aiomysql's messages name the user and host, never the password
        hint = ""
        if error_code(exc) == 1049:
            hint = f" (create the database: CREATE DATABASE `{self.settings.database}`)"
        return DriverError(
            f"cannot use MySQL at {self.settings.where}: {type(exc).__name__}: {exc}{hint}"
        )

    @asynccontextmanager
    async def connection(self, *, begin: bool = False) -> AsyncIterator[Session]:
        """One pooled connection (a transaction opened by its first statement if
        ``begin``, else autocommit), for work that retries itself."""
        if self._pool is None:
            raise DriverNotConnected("mysql")
        try:
            conn = await self._pool.acquire()
        except Exception as exc:
            raise self.unreachable(exc) from exc
        try:
            yield Session(conn, multi=True, begin=begin, max_request=self.max_request)
        except BaseException as exc:
            if not isinstance(exc, Exception) or connection_lost(exc):
                conn.close()  # cancelled mid-statement or broken: never hand it out again
            raise
        finally:
            # the pool closes a connection returned inside an open transaction
            self._pool.release(conn)

    async def run(
        self,
        work: Callable[[Session], Awaitable[R]],
        *,
        transaction: bool = False,
    ) -> R:
        """Run ``work`` on a pooled connection (in one transaction if asked), again
        when its connection was lost or InnoDB chose it as a deadlock victim.

        Running work again is safe for everything the driver sends: enqueue skips
        ids already stored, outcomes are fenced (one applied already is refused, not
        applied twice), and jobs of a claim whose answer was lost come back once
        their lease lapses. It is also what the caller would do on an error.
        """
        attempt = 0
        while True:
            try:
                async with self.connection(begin=transaction) as session:
                    try:
                        result = await work(session)
                        if session.in_transaction and not session.committed:
                            await session.batch("COMMIT")
                        return result
                    except Exception:
                        open_transaction = session.in_transaction and not session.committed
                        if open_transaction and not session.conn.closed:
                            with contextlib.suppress(Exception):
                                await session.conn.rollback()
                        raise
            except Exception as exc:
                cause = exc.__cause__ if isinstance(exc, DriverError) else None
                code = error_code(cause or exc)
                lost = connection_lost(cause or exc)
                if code == ER_NO_SUCH_TABLE:
                    raise DriverError(
                        f"the asynctasq tables are missing in {self.settings.where}: run "
                        "`python -m asynctasq migrate` (or connect with auto_migrate=True)"
                    ) from exc
                retry = lost or code in _CONFLICT_CODES
                if not retry or attempt >= self.retries:
                    if lost and cause is None:
                        raise self.unreachable(exc) from exc
                    raise
                attempt += 1
                if lost and self._pool is not None:
                    # a server restart or a KILL of every session leaves the other
                    # idle connections dead too: open fresh ones
                    with contextlib.suppress(Exception):
                        await self._pool.clear()
                log.info(
                    "MySQL %s (%s); retrying (%d/%d)",
                    "connection lost" if lost else "deadlock",
                    exc,
                    attempt,
                    self.retries,
                )
                await asyncio.sleep(0.02 * 3**attempt)
