"""Tasks that misbehave on purpose, imported by chaos worker subprocesses
(``--import tests.chaos.tasks``).

Like tests/sample_tasks.py, each records what happened by appending a token to a
file: ``<key>`` for a run, ``retry?<key>:<Exception>`` when asked whether to retry,
``failed<key>:<Exception>`` when the failed hook runs. Tokens hold no spaces.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import signal
import time

from asynctasq import AsyncTask, PermanentError, SyncProcessTask, SyncTask
from tests.sample_tasks import record

__all__ = [
    "AsyncHang",
    "BlockLoop",
    "BurnCpu",
    "FailedRaises",
    "KillWorker",
    "ProcessExit",
    "ProcessFails",
    "ProcessHang",
    "ProcessOutOfMemory",
    "ProcessSegfault",
    "ProcessSigkill",
    "SlowOnceInProcess",
    "SlowOnceSync",
    "SyncHang",
]

HOOKED = {"max_attempts": 2, "retry_delay": 0.05}


class Hooked:
    """Records should_retry and failed calls (mixed into each task below)."""

    key: str
    log: str

    def should_retry(self, exception: BaseException) -> bool:
        record(self.log, f"retry?{self.key}:{type(exception).__name__}")
        return not isinstance(exception, PermanentError)

    def failed(self, exception: BaseException) -> None:
        record(self.log, f"failed{self.key}:{type(exception).__name__}")


# -- one of each timeout mode: hangs on its first attempt, succeeds on the next ------


class AsyncHang(Hooked, AsyncTask[str]):
    config = {**HOOKED, "timeout": 0.5}
    hang_attempts: int = 1

    async def execute(self) -> str:
        record(self.log, self.key)
        if self._attempts <= self.hang_attempts:
            await asyncio.sleep(600)
        return self.key


class SyncHang(Hooked, SyncTask[str]):
    config = {**HOOKED, "timeout": 0.5}
    hang_attempts: int = 1

    def execute(self) -> str:
        record(self.log, self.key)
        if self._attempts <= self.hang_attempts:
            time.sleep(5)  # a thread cannot be stopped: it is abandoned, then finishes
        return self.key


class ProcessHang(Hooked, SyncProcessTask[str]):
    config = {**HOOKED, "timeout": 1.0}
    #: the pool process does not see attempts: hang while this file is missing
    marker: str

    def execute(self) -> str:
        record(self.log, self.key)
        if not os.path.exists(self.marker):
            open(self.marker, "w").close()
            time.sleep(600)
        return self.key


# -- crashes of a pool process ----------------------------------------------------


class ProcessExit(Hooked, SyncProcessTask[None]):
    config = {"max_attempts": 1}

    def execute(self) -> None:
        record(self.log, self.key)
        os._exit(3)


class ProcessSegfault(Hooked, SyncProcessTask[None]):
    config = {"max_attempts": 1}

    def execute(self) -> None:
        record(self.log, self.key)
        ctypes.string_at(0)


class ProcessOutOfMemory(Hooked, SyncProcessTask[None]):
    """Allocates far past an address-space limit it sets on its own process, so it
    fails fast and safely instead of pushing the machine into swap."""

    config = {"max_attempts": 1}

    def execute(self) -> None:
        record(self.log, self.key)
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (_address_space() + 64 * 2**20, hard))
        hog = [bytearray(8 * 2**20) for _ in range(1024)]  # 8 GiB, never reached
        raise AssertionError(f"allocated {len(hog)} blocks past the limit")


class ProcessSigkill(Hooked, SyncProcessTask[None]):
    """What the kernel's OOM killer does: SIGKILL, no warning."""

    config = {"max_attempts": 1}

    def execute(self) -> None:
        record(self.log, self.key)
        os.kill(os.getpid(), signal.SIGKILL)


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


class ProcessFails(Hooked, SyncProcessTask[None]):
    config = {"max_attempts": 3, "retry_delay": 0.01}

    def execute(self) -> None:
        record(self.log, self.key)
        raise LookupError(f"no {self.key} here")


# -- hooks that misbehave -------------------------------------------------------------


class FailedRaises(AsyncTask[None]):
    config = {"max_attempts": 2, "retry_delay": 0.05}
    key: str
    log: str

    async def execute(self) -> None:
        record(self.log, self.key)
        raise ValueError(f"broken {self.key}")

    async def failed(self, exception: BaseException) -> None:
        record(self.log, f"failed{self.key}:{type(exception).__name__}")
        raise RuntimeError("the failed hook itself blew up")


# -- tasks that take their worker down or hold it ----------------------------------------


class KillWorker(AsyncTask[None]):
    """Ends the worker process itself (a native crash, an os._exit in a library)."""

    config = {"max_attempts": 3}
    key: str
    log: str

    async def execute(self) -> None:
        record(self.log, self.key)
        os._exit(1)


class BurnCpu(SyncTask[int]):
    """Pure-Python CPU work in a worker thread: it competes with the event loop for
    the GIL for ``seconds``."""

    key: str
    log: str
    seconds: float

    def execute(self) -> int:
        end, n = time.monotonic() + self.seconds, 0
        while time.monotonic() < end:
            n += sum(i * i for i in range(2000))
        record(self.log, self.key)
        return n


class BlockLoop(AsyncTask[None]):
    """An AsyncTask calling blocking code: the worker's event loop stops for
    ``seconds`` (only while ``marker`` is missing, when one is given)."""

    key: str
    log: str
    seconds: float
    marker: str = ""

    async def execute(self) -> None:
        if not self.marker or not os.path.exists(self.marker):
            if self.marker:
                open(self.marker, "w").close()
            time.sleep(self.seconds)  # blocking on purpose: the point of this task
        record(self.log, self.key)


# -- hang on the first run only (shutdown tests): marker files, as SlowOnce ------------


class SlowOnceSync(SyncTask[None]):
    key: str
    log: str
    marker: str

    def execute(self) -> None:
        if not os.path.exists(self.marker):
            open(self.marker, "w").close()
            time.sleep(120)
        record(self.log, self.key)


class SlowOnceInProcess(SyncProcessTask[None]):
    key: str
    log: str
    marker: str

    def execute(self) -> None:
        if not os.path.exists(self.marker):
            open(self.marker, "w").close()
            time.sleep(120)
        record(self.log, self.key)
