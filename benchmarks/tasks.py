"""The workloads: a no-op job, and a probe that reports how late it started."""

from __future__ import annotations

import asyncio
import os
import resource
import time

from asynctasq import AsyncTask


class Countdown:
    """Counts executed no-op jobs; fires an event at the target (no I/O per job)."""

    def __init__(self) -> None:
        self.target = 0
        self.done = 0
        self.finished: asyncio.Event | None = None

    def arm(self, target: int) -> asyncio.Event:
        self.target, self.done = target, 0
        self.finished = asyncio.Event()
        return self.finished

    def hit(self) -> None:
        self.done += 1
        if self.done >= self.target and self.finished is not None:
            self.finished.set()


countdown = Countdown()


class NoOp(AsyncTask[None], name="bench.noop"):
    async def execute(self) -> None:
        countdown.hit()


class LatencyProbe(AsyncTask[None], name="bench.latency"):
    """Appends `started - sent` (and `finished - sent`) in microseconds to ``log``."""

    sent: float
    log: str

    async def execute(self) -> None:
        started = time.time()
        line = f"{(started - self.sent) * 1e6:.0f}\n".encode()
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


class StartProbe(AsyncTask[None], name="bench.startup"):
    """Writes the time it started to ``log``, and the CPU seconds its worker process
    had used by then (benchmarks/startup.py); with ``exit``, then ends that process
    (what callgrind counts is the launch to the first job, nothing after)."""

    log: str
    exit: bool = False

    async def execute(self) -> None:
        used = resource.getrusage(resource.RUSAGE_SELF)  # this process alone, in µs
        cpu = used.ru_utime + used.ru_stime
        with open(self.log, "w") as f:
            f.write(f"{time.time():.6f} {cpu:.6f}\n")
        if self.exit:
            os._exit(0)
