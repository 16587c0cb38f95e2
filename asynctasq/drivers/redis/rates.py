"""The Redis driver's rate limits (capability RateLimits): one token bucket per key,
refilled and taken from in one script call (lua/rate.lua), so every worker shares it;
the queues' stored limits in one hash (queue -> "limit interval burst")."""

from __future__ import annotations

from asynctasq.drivers.base import DriverNotConnected
from asynctasq.drivers.redis.base import RedisBase
from asynctasq.drivers.redis.scripts import Call
from asynctasq.ratelimit import RateLimit

__all__ = ["RedisRates"]


class RedisRates(RedisBase):
    async def take_tokens(
        self,
        key: str,
        count: int,
        limit: int,
        interval: float,
        now: float,
        *,
        burst: int | None = None,
        spare: int = 0,
    ) -> tuple[int, float]:
        if self._client is None:
            raise DriverNotConnected(self.name)
        args = (count, limit, repr(interval), repr(now), "" if burst is None else burst, spare)
        taken, wait = await self._scripts.run(Call("rate", (self.keys.rate(key),), args))
        return int(taken), float(wait)

    async def set_queue_rate_limit(self, queue: str, limit: RateLimit | None) -> None:
        if limit is None:
            await self.client.hdel(self.keys.rate_limits, queue)
            return
        burst = "" if limit.burst is None else str(limit.burst)
        await self.client.hset(
            self.keys.rate_limits, queue, f"{limit.limit} {limit.interval!r} {burst}".strip()
        )

    async def queue_rate_limits(self) -> dict[str, RateLimit]:
        stored = await self.client.hgetall(self.keys.rate_limits)
        limits = {}
        for queue, text in stored.items():
            parts = (text.decode() if isinstance(text, bytes) else text).split()
            name = queue.decode() if isinstance(queue, bytes) else queue
            burst = int(parts[2]) if len(parts) > 2 else None
            limits[name] = RateLimit(int(parts[0]), float(parts[1]), burst)
        return limits
