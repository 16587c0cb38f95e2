"""How an idle reserve waits without LISTEN/NOTIFY.

MySQL cannot push a wake-up to another connection, so an idle reserve asks the
server (one indexed read) how soon the next job is due: often while jobs flow,
backing off to ``ceiling`` once the queues stay empty. The longest idle pause bounds
the extra latency of a job enqueued by another process; jobs enqueued, retried or
released by this process wake its reserves at once.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["AdaptivePoll", "LocalWakeup", "wait_for"]


class LocalWakeup:
    """Wakes reserves of this process. The event is replaced, not cleared, so a
    waiter that took it before a claim never misses a wake-up that follows."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        return self._event

    def wake(self) -> None:
        self._event.set()
        self._event = asyncio.Event()


async def wait_for(event: asyncio.Event, timeout: float) -> bool:
    """True if ``event`` was set within ``timeout`` seconds."""
    if timeout <= 0:
        return event.is_set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
    return event.is_set()


class AdaptivePoll:
    """The pause between two reads of an idle reserve: ``floor`` after work was
    found, doubling each empty read up to ``ceiling``."""

    def __init__(self, *, floor: float = 0.005, ceiling: float = 0.05) -> None:
        if not 0 < floor <= ceiling:
            raise ValueError(f"poll interval must be > 0 and >= {floor}, got {ceiling}")
        self.floor = floor
        self.ceiling = ceiling
        self.interval = floor

    def busy(self) -> None:
        self.interval = self.floor

    def next(self) -> float:
        pause = self.interval
        self.interval = min(self.interval * 2, self.ceiling)
        return pause
