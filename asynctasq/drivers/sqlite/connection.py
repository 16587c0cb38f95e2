"""One SQLite connection owned by one thread: every driver call is one hop to it,
and a whole transaction runs inside that hop (nothing interleaves with it)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from asynctasq.drivers.base import DriverNotConnected

__all__ = ["SQLiteConnection", "data_version"]

R = TypeVar("R")


class SQLiteConnection:
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
        db.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode survives a killed process; only an OS crash or power loss
        # can undo the last commits (it never corrupts the file)
        db.execute("PRAGMA synchronous = NORMAL")
        return db

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
