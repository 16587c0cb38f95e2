"""The token bucket every broker implements (capability ``RateLimits``).

A bucket holds at most ``burst`` tokens (the limit, unless set) and refills at
``limit / interval`` tokens a second; a start takes one. Brokers keep
``(tokens, updated_at)`` per key and apply ``take`` atomically (a Lua script in
Redis, a compare-and-set elsewhere, a dict under the event loop in memory). This
module states the arithmetic once; the Lua script mirrors it.

``spare``: a worker may take up to that many tokens more than it needs now, but
only from the upper half of the bucket (it keeps them a moment for its next
starts: one round trip for many starts while the limit does not bite; once the
bucket is below half full nobody takes spares, so none are hoarded when it bites).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DEFAULT_RATE_INTERVAL", "EPSILON", "Bucket", "RateLimit", "take"]

#: a token short by less than this is a whole one (float sums of refills drift)
EPSILON = 1e-9

#: seconds of ``rate_interval`` when none is given
DEFAULT_RATE_INTERVAL = 1.0

#: (tokens left, epoch of the last refill)
Bucket = tuple[float, float]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A limit stored in the broker: ``limit`` starts per ``interval`` seconds
    (0 blocks), a bucket of ``burst`` tokens (None: the limit)."""

    limit: int
    interval: float = DEFAULT_RATE_INTERVAL
    burst: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 0:
            raise ValueError(f"rate_limit={self.limit!r}: expected a whole number >= 0")
        interval = self.interval
        if isinstance(interval, bool) or not isinstance(interval, int | float):
            raise ValueError(f"rate_interval={interval!r}: expected seconds > 0")
        if not math.isfinite(interval) or interval <= 0:
            raise ValueError(f"rate_interval={interval!r}: expected seconds > 0")
        object.__setattr__(self, "interval", float(interval))
        burst = self.burst
        if burst is not None and (
            isinstance(burst, bool) or not isinstance(burst, int) or burst < 1
        ):
            raise ValueError(f"rate_burst={burst!r}: expected a whole number >= 1")


def take(
    bucket: Bucket | None,
    count: int,
    limit: int,
    interval: float,
    now: float,
    burst: int | None = None,
    spare: int = 0,
) -> tuple[Bucket, int, float]:
    """The bucket after taking up to ``count`` tokens (and up to ``spare`` more from
    its upper half), how many were taken, and the seconds until the next token when
    fewer than ``count`` were (else 0.0). A key never seen starts full; ``limit=0``
    never gives a token and leaves the bucket as it was (wait: ``interval``)."""
    if limit <= 0:
        return (bucket if bucket is not None else (0.0, now)), 0, interval
    size = float(limit if burst is None else burst)
    rate = limit / interval
    tokens, updated = bucket if bucket is not None else (size, now)
    # a caller whose time is behind the bucket's (it read the clock before a round
    # trip another writer beat) neither refills it nor sets its time back: the time
    # between would be refilled twice
    now = max(now, updated)
    tokens = min(size, tokens + (now - updated) * rate)
    taken = min(count, math.floor(tokens + EPSILON))
    tokens = max(tokens - taken, 0.0)
    wait = 0.0 if taken == count else (1.0 - tokens) / rate
    if spare > 0 and taken == count:
        extra = min(spare, math.floor(tokens - size / 2 + EPSILON))
        if extra > 0:
            taken += extra
            tokens = max(tokens - extra, 0.0)
    return (tokens, now), taken, wait
