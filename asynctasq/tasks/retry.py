"""How long to wait before the next attempt."""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass

from asynctasq.checks import MAX_SECONDS, check_seconds

__all__ = ["Backoff", "RetryDelay", "retry_delay_for"]

log = logging.getLogger("asynctasq.worker")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: ``base * factor ** (attempt - 1)``, capped at ``max_delay``.

    With ``jitter`` (the default) the delay is drawn uniformly between the previous
    step and this one: the first retry waits ``base`` (the delay you set, as
    ``ASYNCTASQ_DEFAULT_RETRY_DELAY=120`` promises two minutes), the second between
    ``base`` and ``base * factor``, the third between ``base * factor`` and
    ``base * factor**2``... Never sooner than you set, always growing, and spread, so
    a burst of failures does not keep retrying in lock-step against a struggling
    dependency.
    """

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 3600.0
    jitter: bool = True

    def __post_init__(self) -> None:
        check_seconds("Backoff.base", self.base)
        check_seconds("Backoff.max_delay", self.max_delay)
        factor = self.factor
        if (
            isinstance(factor, bool)
            or not isinstance(factor, int | float)
            or not 1 <= factor < math.inf
        ):
            raise ValueError(
                f"Backoff.factor={factor!r} is not valid: expected a finite number >= 1"
            )

    def delay(self, attempt: int) -> float:
        ceiling = self._step(attempt)
        if not self.jitter or attempt <= 1:
            return ceiling
        return random.uniform(self._step(attempt - 1), ceiling)

    def _step(self, attempt: int) -> float:
        try:
            grown = self.base * self.factor ** max(attempt - 1, 0)
        except OverflowError:  # thousands of attempts: far beyond any cap
            grown = math.inf
        return min(self.max_delay, grown)


#: a number is a fixed delay in seconds; a Backoff grows with each attempt
RetryDelay = float | int | Backoff


def retry_delay_for(policy: RetryDelay, attempt: int) -> float:
    """Seconds before the next attempt: always a finite number from 0 to 100 years.

    A policy that fails or answers NaN, a negative number or an infinity (a Backoff
    subclass with a bug, options forged in a payload) must not lose the job: the
    answer is clamped (NaN and negative: at once; too long: 100 years) and logged."""
    try:
        answer = policy.delay(attempt) if isinstance(policy, Backoff) else policy
        seconds = float(answer)
    except Exception as exc:
        log.warning(
            "retry delay policy %r failed for attempt %d (%s: %s); retrying at once",
            policy, attempt, type(exc).__name__, exc,
        )  # fmt: skip
        return 0.0
    if 0.0 <= seconds <= MAX_SECONDS:
        return seconds
    clamped = MAX_SECONDS if seconds > MAX_SECONDS else 0.0  # NaN compares False
    log.warning(
        "retry delay policy %r answered %r for attempt %d; using %.0f seconds instead",
        policy, answer, attempt, clamped,
    )  # fmt: skip
    return clamped
