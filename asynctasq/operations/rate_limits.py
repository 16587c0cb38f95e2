"""Queue rate limits stored in the broker (capability ``RateLimits``): the one place
that sets and reads them, for ``Queue(rate_limit=)``, ``asynctasq queue rate-limit``
and the dashboard. Every worker serving a queue reads its stored limit (at start,
then every few seconds), however the worker was started (docs/flow-control.md)."""

from __future__ import annotations

from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import RateLimits, require
from asynctasq.jobs import validate_name
from asynctasq.ratelimit import DEFAULT_RATE_INTERVAL, RateLimit

__all__ = ["queue_rate_limits", "rate_limit_record", "set_queue_rate_limit"]


async def set_queue_rate_limit(
    driver: Driver,
    queue: str,
    limit: int | None,
    interval: float = DEFAULT_RATE_INTERVAL,
    *,
    burst: int | None = None,
) -> RateLimit | None:
    """Store ``queue``'s limit: ``limit`` starts per ``interval`` seconds across every
    worker (0 blocks the queue: no job starts), a bucket of ``burst`` tokens (the
    limit when None). ``limit=None`` removes it. The limit stored (None: removed);
    ValueError for a limit that is not one."""
    validate_name("queue", queue)
    stored = None if limit is None else RateLimit(limit, interval, burst)
    buckets = require(driver, RateLimits, "a queue rate limit")
    await buckets.set_queue_rate_limit(queue, stored)
    return stored


async def queue_rate_limits(driver: Driver) -> dict[str, RateLimit]:
    """Every queue's stored limit (none when the broker holds no buckets)."""
    if not isinstance(driver, RateLimits):
        return {}
    return await driver.queue_rate_limits()


def rate_limit_record(limit: RateLimit | None) -> dict[str, float | int | None] | None:
    """A stored limit as JSON output shows it."""
    if limit is None:
        return None
    return {"limit": limit.limit, "interval": limit.interval, "burst": limit.burst}
