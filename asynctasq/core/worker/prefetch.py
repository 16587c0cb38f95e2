"""How many jobs a worker claims ahead of its free slots.

A worker that claims only its free slots leaves them idle while each claim is on its
way: for jobs of a few microseconds, most of the time. Claiming ahead keeps them fed,
but a job claimed ahead waits in this worker while another worker may be idle, and
for jobs of seconds that costs more than it saves. So by default the prefetch
follows the work: about what the slots finish during two claims' round trips,
measured as the worker goes (completions per second x claim round trip x 2), from
nothing for long jobs up to ``most`` (10 x concurrency, at most 1,000) for no-op
jobs. ``--prefetch N`` (``ASYNCTASQ_PREFETCH``) fixes it at N instead; 0 claims only
free slots.
"""

from __future__ import annotations

__all__ = ["Prefetch"]

#: weight of the newest measure in the moving averages
_WEIGHT = 0.3
#: a claim that took longer waited for work: it says nothing about the round trip
_LONGEST_ROUND_TRIP = 0.25


class Prefetch:
    def __init__(self, concurrency: int, fixed: int | None = None) -> None:
        self.fixed = fixed
        self.most = fixed if fixed is not None else min(max(10 * concurrency, 100), 1000)
        self._rate = 0.0  # jobs finished per second, recently
        self._round_trip = 0.0  # seconds a claim that found jobs took, recently
        self._since: tuple[float, int] | None = None  # (when, jobs finished then)

    @property
    def ahead(self) -> int:
        """Jobs to hold beyond the free slots now."""
        if self.fixed is not None:
            return self.fixed
        return min(self.most, int(self._rate * self._round_trip * 2 + 0.5))

    def claimed(self, found: int, took: float, now: float, finished: int) -> None:
        """A claim returned ``found`` jobs after ``took`` seconds; ``finished``: the
        jobs this worker has finished so far, ``now`` its monotonic clock."""
        if self.fixed is not None:
            return
        if found and took <= _LONGEST_ROUND_TRIP:
            self._round_trip += _WEIGHT * (took - self._round_trip)
        if self._since is not None:
            then, done = self._since
            if now > then:
                rate = (finished - done) / (now - then)
                self._rate += _WEIGHT * (rate - self._rate)
        self._since = (now, finished)
