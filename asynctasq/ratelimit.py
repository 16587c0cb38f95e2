"""The token bucket every broker implements (capability ``RateLimits``).

A bucket holds at most ``limit`` tokens and refills at ``limit / interval`` tokens a
second; a start takes one. Brokers keep ``(tokens, updated_at)`` per key and apply
``take`` atomically (a Lua script in Redis, a dict under the event loop in memory).
This module states the arithmetic once; the Lua script mirrors it.
"""

from __future__ import annotations

import math

__all__ = ["EPSILON", "Bucket", "take"]

#: a token short by less than this is a whole one (float sums of refills drift)
EPSILON = 1e-9

#: (tokens left, epoch of the last refill)
Bucket = tuple[float, float]


def take(
    bucket: Bucket | None, count: int, limit: int, interval: float, now: float
) -> tuple[Bucket, int, float]:
    """The bucket after taking up to ``count`` tokens, how many were taken, and the
    seconds until the next token when fewer than ``count`` were (else 0.0). A key
    never seen starts full; ``limit=0`` never gives a token (wait: ``interval``)."""
    if limit <= 0:
        return (0.0, now), 0, interval
    rate = limit / interval
    tokens, updated = bucket if bucket is not None else (float(limit), now)
    tokens = min(float(limit), tokens + max(now - updated, 0.0) * rate)
    taken = min(count, math.floor(tokens + EPSILON))
    tokens = max(tokens - taken, 0.0)
    wait = 0.0 if taken == count else (1.0 - tokens) / rate
    return (tokens, now), taken, wait
