"""How long to wait before the next attempt."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff", "RetryDelay", "retry_delay_for"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: ``base * factor ** (attempt - 1)``, capped at ``max_delay``.

    With ``jitter`` (the default) the delay is drawn uniformly from zero to that
    value ("full jitter"), which spreads a burst of failures instead of retrying
    them in lock-step against a struggling dependency.
    """

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 3600.0
    jitter: bool = True

    def delay(self, attempt: int) -> float:
        ceiling = min(self.max_delay, self.base * self.factor ** max(attempt - 1, 0))
        return random.uniform(0.0, ceiling) if self.jitter else ceiling


#: a number is a fixed delay in seconds; a Backoff grows with each attempt
RetryDelay = float | int | Backoff


def retry_delay_for(policy: RetryDelay, attempt: int) -> float:
    if isinstance(policy, Backoff):
        return policy.delay(attempt)
    return float(policy)
