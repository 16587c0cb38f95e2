"""Process tasks for the pool tests: importable by pool processes."""

from __future__ import annotations

import asyncio
import ctypes
import os
import time

from asynctasq import AsyncProcessTask, SyncProcessTask


class Pid(SyncProcessTask[int]):
    def execute(self) -> int:
        return os.getpid()


class AsyncPid(AsyncProcessTask[list[int]]):
    async def execute(self) -> list[int]:
        await asyncio.sleep(0.01)
        return [os.getpid(), 1]


class Spin(SyncProcessTask[None]):
    config = {"timeout": 0.5, "max_attempts": 1}

    def execute(self) -> None:
        while True:
            time.sleep(0.01)


class Exit(SyncProcessTask[None]):
    config = {"max_attempts": 1}

    def execute(self) -> None:
        os._exit(3)


class Segfault(SyncProcessTask[None]):
    config = {"max_attempts": 1}

    def execute(self) -> None:
        ctypes.string_at(0)


class Raise(SyncProcessTask[None]):
    config = {"max_attempts": 1}

    def execute(self) -> None:
        raise LookupError("from the pool")


class SleepForever(SyncProcessTask[None]):
    """Writes its pid to ``pid_file``, then sleeps until killed (cancellation tests)."""

    config = {"queue": "cancel", "max_attempts": 3}

    pid_file: str

    def execute(self) -> None:
        with open(self.pid_file, "w") as out:
            out.write(str(os.getpid()))
        while True:
            time.sleep(0.05)


class AsyncSleepForever(AsyncProcessTask[None]):
    """The async flavour of SleepForever: its coroutine runs in the pool process."""

    config = {"queue": "cancel", "max_attempts": 3}

    pid_file: str

    async def execute(self) -> None:
        with open(self.pid_file, "w") as out:
            out.write(str(os.getpid()))
        while True:
            await asyncio.sleep(0.05)
