"""How an idle ``reserve()`` waits for work: shared by every driver.

``Driver.reserve()`` is a template (see base.py): arm the wake-up, claim, and when
nothing was due, ``idle()`` until a notification, the next due job, or the poll
interval. Drivers bring only the broker call (``claim``) and, when their broker can
push notifications, what sets the wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["AdaptivePoll", "Wakeup", "wait_for"]


class Wakeup:
    """Wakes the reserves of this process. The event is replaced, not cleared, so a
    waiter that armed it before a claim never misses a wake-up that follows."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def armed(self) -> asyncio.Event:
        return self._event

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()


async def wait_for(event: asyncio.Event, timeout: float) -> bool:
    """True if ``event`` was set within ``timeout`` seconds."""
    if event.is_set() or timeout <= 0:
        return event.is_set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
    return event.is_set()


class AdaptivePoll:
    """The pause between two looks of an idle reserve: ``floor`` after work was
    found, doubling each empty look up to ``ceiling``."""

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
