"""Where time comes from: the system clock, or a clock a test moves by hand.

Every component that reads the time (drivers, the worker, schedulers) takes a
``clock`` and asks it, never ``time.time()`` directly, so tests of delays, leases,
TTLs and cron move time instead of sleeping.

Brokers compare times the *client* sends (epoch seconds), never their own clock, so
a manual clock reaches inside Lua scripts and SQL statements too.
"""

from __future__ import annotations

import asyncio
import time as _time
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock epoch seconds: what job times (run_at, leases) are stored in."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go backwards: for timeouts and intervals."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real time. Its methods are the stdlib's own, so the hot paths pay nothing."""

    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.monotonic)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """A clock that moves only when told to; sleepers wake when it passes their time.

    ``advance()`` moves wall and monotonic time together. Sleeping with a manual clock
    returns once the clock has been advanced far enough (from another task).
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._wall = float(start)
        self._mono = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError(f"a clock moves forward: advance({seconds!r})")
        self._wall += seconds
        self._mono += seconds
        due = [(at, f) for at, f in self._sleepers if at <= self._mono]
        self._sleepers = [(at, f) for at, f in self._sleepers if at > self._mono]
        for _, future in due:
            if not future.done():
                future.set_result(None)

    def set(self, epoch: float) -> None:
        """Jump to a wall-clock time (forward only)."""
        self.advance(epoch - self._wall)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._mono + seconds, future))
        await future

    def __repr__(self) -> str:
        return f"ManualClock(time={self._wall!r})"
