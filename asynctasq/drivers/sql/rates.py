"""Rate limit buckets in SQL (capability RateLimits): a row per key in
``rate_buckets`` (tokens, at, version), taken by compare-and-set (drivers/buckets.py)
with the same three statements on SQLite, PostgreSQL and MySQL."""

from __future__ import annotations

from asynctasq.drivers.buckets import CasRateLimits
from asynctasq.drivers.sql.statements import Statements

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
