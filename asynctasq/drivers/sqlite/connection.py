"""One SQLite connection owned by one thread: every driver call is one hop to it,
and a whole transaction runs inside that hop (nothing interleaves with it). The
driver's named statements (``sql/sqlite/queries.sql``) run on it."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from asynctasq.drivers.base import DriverNotConnected
from asynctasq.drivers.sql.loader import load_queries
from asynctasq.drivers.sql.statements import Statements, Step

__all__ = ["Q", "SQLiteConnection", "data_error", "data_version", "write_in"]

R = TypeVar("R")
Q = load_queries("sqlite")

#: what SQLite (or the sqlite3 module binding a value) raises for a value it cannot
#: store; anything else (a locked or unreadable file) is not the data's fault
_DATA_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.DataError,
    sqlite3.InterfaceError,
    UnicodeEncodeError,
    OverflowError,
)


def data_error(exc: BaseException) -> bool:
    return isinstance(exc, _DATA_ERRORS)


class SQLiteConnection(Statements):
    def __init__(self, path: str, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._db: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None

    @property
    def is_open(self) -> bool:
        return self._db is not None

    async def open(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="asynctasq-sqlite")
        self._db = await asyncio.get_running_loop().run_in_executor(self._thread, self._connect)

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout
        )
        db.row_factory = sqlite3.Row
        self._use_wal(db)
        # NORMAL in WAL mode survives a killed process; only an OS crash or power loss
        # can undo the last commits (it never corrupts the file)
        db.execute("PRAGMA synchronous = NORMAL")
        return db

    def _use_wal(self, db: sqlite3.Connection) -> None:
        """WAL mode, retried while another process opening a new database at the same
        moment holds it: SQLite answers "database is locked" to that switch at once,
        without its busy handler (two workers of ``--processes 2`` starting together
        on a fresh file). Once a file is in WAL mode it stays so: the switch is then
        a no-op that takes no lock."""
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.005
        while True:
            try:
                db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    async def close(self) -> None:
        if self._db is None or self._thread is None:
            return
        db, thread = self._db, self._thread
        self._db, self._thread = None, None
        await asyncio.get_running_loop().run_in_executor(thread, db.close)
        thread.shutdown(wait=True)

    async def read(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        """Run ``fn`` on the connection's thread (reads, or a function that opens
        its own transaction with ``write_in``)."""
        if self._db is None or self._thread is None:
            raise DriverNotConnected("sqlite")
        db = self._db
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, db)

    async def write(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        """Run ``fn`` in one writer transaction on the connection's thread."""
        return await self.read(lambda db: write_in(db, fn))

    # -- named statements (the interface the shared SQL driver uses) ------------------

    async def records(self, name: str, **params: Any) -> list[Any]:
        return await self.read(lambda db: db.execute(Q[name], params).fetchall())

    async def tuples(self, name: str, **params: Any) -> list[Sequence[Any]]:
        return await self.records(name, **params)  # a sqlite3.Row is both

    async def value(self, name: str, **params: Any) -> Any:
        def read(db: sqlite3.Connection) -> Any:
            row = db.execute(Q[name], params).fetchone()
            return None if row is None else row[0]

        return await self.read(read)

    async def change(self, name: str, **params: Any) -> int:
        return await self.write(lambda db: db.execute(Q[name], params).rowcount)

    async def change_all(self, *steps: Step) -> None:
        def run(db: sqlite3.Connection) -> None:
            for name, params in steps:
                db.execute(Q[name], params)

        await self.write(run)

    def unique_conflict(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)

    def data_error(self, exc: BaseException) -> bool:
        return data_error(exc)


def write_in(db: sqlite3.Connection, fn: Callable[[sqlite3.Connection], R]) -> R:
    """``fn`` inside BEGIN IMMEDIATE ... COMMIT: the write lock is taken up front, so
    two writers never deadlock upgrading a read lock."""
    db.execute("BEGIN IMMEDIATE")
    try:
        result = fn(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return result


def data_version(db: sqlite3.Connection) -> int:
    """Changes committed by other connections to this file (a read of the WAL index)."""
    return int(db.execute("PRAGMA data_version").fetchone()[0])
