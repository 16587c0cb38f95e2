"""The Redis driver's rate limits (capability RateLimits): one token bucket per key,
refilled and taken from in one script call (lua/rate.lua), so every worker shares it."""

from __future__ import annotations

from asynctasq.drivers.base import DriverNotConnected
from asynctasq.drivers.redis.base import RedisBase
from asynctasq.drivers.redis.scripts import Call

__all__ = ["RedisRates"]


class RedisRates(RedisBase):
    async def take_tokens(
        self, key: str, count: int, limit: int, interval: float, now: float
    ) -> tuple[int, float]:
        if self._client is None:
            raise DriverNotConnected(self.name)
        args = (count, limit, repr(interval), repr(now))
        taken, wait = await self._scripts.run(Call("rate", (self.keys.rate(key),), args))
        return int(taken), float(wait)
