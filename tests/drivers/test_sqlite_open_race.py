"""Worker processes that open a new SQLite file at the same moment (``--processes
2`` on a fresh database) all connect: SQLite answers "database is locked" to the
switch to WAL mode at once, without its busy handler, and the connection retries it."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

from asynctasq.drivers.sqlite.connection import SQLiteConnection

PROCESSES = 4
ROUNDS = 12


def _open(path: str, start: multiprocessing.synchronize.Barrier) -> None:
    async def main() -> None:
        connection = SQLiteConnection(path, busy_timeout=5.0)
        start.wait()
        await connection.open()
        await connection.close()

    asyncio.run(main())


def test_processes_opening_a_new_file_together_all_connect(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    failed = 0
    for round_ in range(ROUNDS):  # (the race hit about one round in four before)
        path = str(tmp_path / f"fresh{round_}.db")
        start = context.Barrier(PROCESSES)
        children = [context.Process(target=_open, args=(path, start)) for _ in range(PROCESSES)]
        for child in children:
            child.start()
        for child in children:
            child.join(30)
            failed += child.exitcode != 0
    assert failed == 0
