"""The MongoDB driver's rate limit buckets (capability RateLimits): one document per
key in ``<prefix>_rate_buckets`` (``_id`` the key, ``tokens``, ``at``, ``version``),
taken by compare-and-set (drivers/buckets.py): an insert that fails on the duplicate
``_id`` when another writer created the bucket first, an update filtered on the
version read. The queues' stored limits: a document per queue in
``<prefix>_rate_limits``."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from asynctasq.drivers.buckets import CasRateLimits
from asynctasq.drivers.mongodb.store import Store
from asynctasq.ratelimit import RateLimit

__all__ = ["MongoRateLimits"]


class MongoRateLimits(CasRateLimits):
    @property
    def store(self) -> Store:
        raise NotImplementedError

    async def _bucket_read(self, key: str) -> tuple[float, float, int] | None:
        found = await self.store.rate_buckets.find_one({"_id": key})
        if found is None:
            return None
        return float(found["tokens"]), float(found["at"]), int(found["version"])

    async def _bucket_add(self, key: str, tokens: float, at: float) -> bool:
        try:
            await self.store.rate_buckets.insert_one(
                {"_id": key, "tokens": tokens, "at": at, "version": 0}
            )
        except DuplicateKeyError:
            return False
        return True

    async def _bucket_set(self, key: str, tokens: float, at: float, version: int) -> bool:
        result = await self.store.rate_buckets.update_one(
            {"_id": key, "version": version},
            {"$set": {"tokens": tokens, "at": at}, "$inc": {"version": 1}},
        )
        return result.modified_count == 1

    async def _limits_read(self) -> dict[str, RateLimit]:
        return {
            doc["_id"]: RateLimit(int(doc["limit"]), float(doc["interval"]), doc.get("burst"))
            async for doc in self.store.rate_limits.find({})
        }

    async def _limit_put(self, queue: str, limit: RateLimit) -> None:
        await self.store.rate_limits.replace_one(
            {"_id": queue},
            {"limit": limit.limit, "interval": limit.interval, "burst": limit.burst},
            upsert=True,
        )

    async def _limit_drop(self, queue: str) -> None:
        await self.store.rate_limits.delete_one({"_id": queue})
