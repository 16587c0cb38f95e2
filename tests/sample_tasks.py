"""Tasks that worker subprocesses import in tests (``--import tests.sample_tasks``).

Each records its side effect by appending a line to a file, so a test can count how
many times each job really ran, across processes and crashes.
"""

from __future__ import annotations

import asyncio
import os
import time

from asynctasq import AsyncTask, SyncProcessTask, SyncTask


def record(path: str, line: str) -> None:
    # one small O_APPEND write is atomic: concurrent workers never interleave lines
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def recorded(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


class Record(AsyncTask[str]):
    """Appends its key (and the attempt) to ``log``, after ``seconds`` of work."""

    key: str
    log: str
    seconds: float = 0.0
    started: str = ""  # a file the key is appended to when the work starts

    async def execute(self) -> str:
        if self.started:
            record(self.started, self.key)
        if self.seconds:
            await asyncio.sleep(self.seconds)
        record(self.log, self.key)
        return self.key


class RecordSync(SyncTask[str]):
    key: str
    log: str
    seconds: float = 0.0

    def execute(self) -> str:
        if self.seconds:
            time.sleep(self.seconds)
        record(self.log, self.key)
        return self.key


class RecordInProcess(SyncProcessTask[int]):
    key: str
    log: str

    def execute(self) -> int:
        record(self.log, self.key)
        return os.getpid()


class Explode(AsyncTask[None]):
    config = {"max_attempts": 2, "retry_delay": 0.05}

    key: str
    log: str

    async def execute(self) -> None:
        record(self.log, self.key)
        raise RuntimeError(f"exploded {self.key}")


class SlowOnce(AsyncTask[None]):
    """Hangs on its first run (leaving ``marker`` behind), finishes at once after."""

    key: str
    log: str
    marker: str

    async def execute(self) -> None:
        if not os.path.exists(self.marker):
            open(self.marker, "w").close()
            await asyncio.sleep(600)
        record(self.log, self.key)
