"""The deliveries a process holds, by job id: leases, their fencing and their renewal.

A delivery is held by the channel it came on (a :class:`Lane`), so only the driver
instance that owns that channel can settle it. Its *lease* (the time the worker
asked for, extended by ``renew``) is kept here, in a book shared by every driver
instance of the process that talks to the same broker and prefix: a worker renews
from a second connection on a thread of its own (so a blocked event loop cannot
starve renewal), and that connection must see the leases the first one holds.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from asynctasq.drivers.rabbitmq.lane import Lane
from asynctasq.jobs import Job, Outcome

__all__ = ["Held", "LeaseBook", "book_for"]


@dataclass(slots=True)
class Held:
    job: Job  # as handed out: active, attempts = this attempt, worker_id
    tag: int
    lane: Lane
    owner: object  # the driver instance that owns the lane
    lease_until: float


class LeaseBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, Held] = {}

    def add(self, held: Held) -> bool:
        """Record a claim; False if this process holds that job already (a duplicate
        of the message: at-least-once publishing can make one). A delivery whose
        channel closed is no longer held: the broker took it back."""
        with self._lock:
            existing = self._held.get(held.job.id)
            if existing is not None and existing.lane.open:
                return False
            self._held[held.job.id] = held
            return True

    def take(self, outcomes: Sequence[Outcome], owner: object) -> list[Held | None]:
        """Remove and return the delivery of each outcome that is still held by
        ``owner`` on an open channel for the outcome's worker and attempt (fencing)."""
        found: list[Held | None] = []
        with self._lock:
            held = self._held
            for outcome in outcomes:
                entry = held.get(outcome.job_id)
                if (
                    entry is None
                    or entry.owner is not owner
                    or not entry.lane.open
                    or entry.job.worker_id != outcome.worker_id
                    or entry.job.attempts != outcome.attempt
                ):
                    found.append(None)
                    continue
                del held[outcome.job_id]
                found.append(entry)
        return found

    def renew(self, worker_id: str, job_ids: Sequence[str], until: float) -> list[str]:
        kept = []
        with self._lock:
            for job_id in job_ids:
                entry = self._held.get(job_id)
                if entry is not None and entry.job.worker_id == worker_id and entry.lane.open:
                    entry.lease_until = until
                    kept.append(job_id)
        return kept

    def expired(self, owner: object, now: float) -> tuple[list[Held], int]:
        """Remove ``owner``'s deliveries whose lease lapsed (returned), and forget
        those whose channel closed (the broker took them back: returns how many)."""
        lapsed, gone = [], 0
        with self._lock:
            for job_id, entry in list(self._held.items()):
                if entry.owner is not owner:
                    continue
                if not entry.lane.open:
                    del self._held[job_id]
                    gone += 1
                elif entry.lease_until <= now:
                    del self._held[job_id]
                    lapsed.append(entry)
        return lapsed, gone

    def release_owner(self, owner: object) -> int:
        """Forget every delivery of a driver that disconnects."""
        with self._lock:
            mine = [k for k, v in self._held.items() if v.owner is owner]
            for job_id in mine:
                del self._held[job_id]
        return len(mine)


_books: dict[tuple[str, str], LeaseBook] = {}
_books_lock = threading.Lock()


def book_for(url: str, prefix: str) -> LeaseBook:
    """The process's book for one broker and prefix."""
    with _books_lock:
        return _books.setdefault((url, prefix), LeaseBook())
