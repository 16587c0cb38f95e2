"""Rate limit buckets in SQL (capability RateLimits): a row per key in
``rate_buckets`` (tokens, at, version), taken by compare-and-set (drivers/buckets.py)
with the same three statements on SQLite, PostgreSQL and MySQL; the queues' stored
limits, a row per queue in ``rate_limits``."""

from __future__ import annotations

from asynctasq.drivers.buckets import CasRateLimits
from asynctasq.drivers.sql.statements import Statements
from asynctasq.ratelimit import RateLimit

__all__ = ["SQLRateLimits"]


class SQLRateLimits(CasRateLimits):
    statements: Statements

    async def _bucket_read(self, key: str) -> tuple[float, float, int] | None:
        rows = await self.statements.tuples("rate_bucket", key=key)
        if not rows:
            return None
        tokens, at, version = rows[0]
        return float(tokens), float(at), int(version)

    async def _bucket_add(self, key: str, tokens: float, at: float) -> bool:
        return await self.statements.change("rate_bucket_add", key=key, tokens=tokens, at=at) > 0

    async def _bucket_set(self, key: str, tokens: float, at: float, version: int) -> bool:
        changed = await self.statements.change(
            "rate_bucket_set", key=key, tokens=tokens, at=at, version=version
        )
        return changed > 0

    async def _limits_read(self) -> dict[str, RateLimit]:
        rows = await self.statements.tuples("rate_limits")
        return {
            str(queue): RateLimit(
                int(limit), float(interval), None if burst is None else int(burst)
            )
            for queue, limit, interval, burst in rows
        }

    async def _limit_put(self, queue: str, limit: RateLimit) -> None:
        await self.statements.change(
            "rate_limit_put",
            queue=queue,
            rate_limit=limit.limit,
            rate_interval=limit.interval,
            burst=limit.burst,
        )

    async def _limit_drop(self, queue: str) -> None:
        await self.statements.change("rate_limit_drop", queue=queue)
