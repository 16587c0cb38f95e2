"""Job results kept by the broker (the ``Results`` capability), as drivers hold them.

A completed job's return value (msgpack bytes) is stored in the same atomic step
that completes it (the settle script or transaction), kept ``result_retention``
seconds (24 h by default) even when completed jobs are not kept, and read back by
id together with how the job ended. ``asynctasq.results`` waits for it: brokers
that can push (Redis pub/sub, PostgreSQL NOTIFY, the memory broker's event) wake
the waiter when a settle ends a job; the others are polled (``PollingNotices``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from asynctasq.jobs import JobState

__all__ = [
    "DEFAULT_RESULT_RETENTION",
    "EventNotices",
    "FinishNotices",
    "NoticeHub",
    "OutcomeSource",
    "PollingNotices",
    "StoredOutcome",
    "polling_notices",
]

#: seconds a result (and a completed job's id) is kept: dependencies.OUTCOME_RETENTION
DEFAULT_RESULT_RETENTION = 86_400.0

#: how long a waiter on a pushing broker sleeps at most before it looks again (the
#: paths that push no notice: operator cancel, lease recovery, expiry at claim)
SAFETY_POLL = 2.0


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    """How a job stands, as far as results go: its state; the stored result of a
    completed one (None when it returned None or its result was not kept); the
    error of one that ended otherwise."""

    job_id: str
    state: JobState
    result: bytes | None = None
    error: str | None = None


class OutcomeSource(Protocol):
    """Where stored outcomes are read: a Results driver, or reads shared by a worker's
    jobs (core/worker/parent_reads.py)."""

    async def job_outcomes(self, job_ids: Sequence[str]) -> dict[str, StoredOutcome]: ...


class FinishNotices(Protocol):
    """Wakes a result waiter when some job may have finished (then it looks). The
    waiter calls ``arm()`` before each look, so a notice that comes between the look
    and ``wait()`` is not lost."""

    def arm(self) -> None: ...

    async def wait(self, timeout: float) -> None:
        """Return at the next notice since ``arm()``, or after ``timeout`` seconds."""


class PollingNotices:
    """For brokers that push nothing: a pause that doubles from ``floor`` to
    ``ceiling`` between two looks (SQLite, MySQL, a custom driver)."""

    def __init__(self, *, floor: float = 0.01, ceiling: float = 0.5) -> None:
        self.interval = floor
        self.ceiling = ceiling

    def arm(self) -> None:
        pass

    async def wait(self, timeout: float) -> None:
        pause = min(self.interval, max(timeout, 0.0))
        self.interval = min(self.interval * 2, self.ceiling)
        await asyncio.sleep(pause)


@asynccontextmanager
async def polling_notices() -> AsyncIterator[FinishNotices]:
    yield PollingNotices()


class NoticeHub:
    """An in-process signal (the memory broker, a listener connection): ``notify()``
    wakes every waiter of ``waiter()``; a waiter also looks every ``SAFETY_POLL``
    seconds (the paths that push no notice)."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    @property
    def event(self) -> asyncio.Event:
        """What the next ``notify()`` sets: made when a waiter arms, so a notice
        nobody waits for (one per job the memory broker finishes) costs a look."""
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    def waiter(self) -> EventNotices:
        return EventNotices(self)


class EventNotices:
    def __init__(self, hub: NoticeHub) -> None:
        self.hub = hub
        self._armed = hub.event

    def arm(self) -> None:
        self._armed = self.hub.event

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._armed.wait(), min(max(timeout, 0.0), SAFETY_POLL))
        except TimeoutError:
            pass
