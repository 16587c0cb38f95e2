"""Jobs per second per queue over a sliding window, counted from the event stream
(``task_completed``, ``task_failed``, ``task_retrying``, ``task_dead``): what ``watch``
and a dashboard show as rates."""

from __future__ import annotations

import time
from collections import defaultdict, deque

__all__ = ["EventRates"]

COUNTED = ("task_completed", "task_failed", "task_retrying", "task_dead")


class EventRates:
    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._seen: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        #: when counting started: a rate is over min(window, time since then)
        self.since = time.time()

    def add(self, event_type: str, queue: str | None, at: float) -> None:
        if event_type in COUNTED and queue is not None:
            self._seen[(queue, event_type)].append(at)

    def per_second(self, queue: str, event_type: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        stamps = self._seen.get((queue, event_type))
        if not stamps:
            return 0.0
        while stamps and stamps[0] < now - self.window:
            stamps.popleft()
        span = max(1.0, min(self.window, now - self.since))
        return len(stamps) / span

    def queues(self) -> list[str]:
        return sorted({queue for queue, _ in self._seen})
