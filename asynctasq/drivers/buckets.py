"""Rate limit buckets by compare-and-set (capability RateLimits), for brokers with no
script to run next to the data (the SQL brokers and MongoDB; Redis runs rate.lua): a
record per key (tokens, at, version), the arithmetic of asynctasq/ratelimit.py.

Taking tokens is a compare-and-set: read the record, compute, write it back only if
its version is the one read (a new key: insert it only if absent). A writer that loses
the race reads again, so the bucket holds across every worker and connection, no lock
held across a round trip. A broker brings the three steps (``_bucket_read``,
``_bucket_add``, ``_bucket_set``), and the three of the queues' stored limits
(``_limits_read``, ``_limit_put``, ``_limit_drop``).
Within one driver the takes queue on a local lock: a worker's own coroutines never
race each other (a race costs a round trip and, under a burst, starves them), so
only workers in other processes can make a round lose.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import random

from asynctasq.drivers.capabilities import RateLimits
from asynctasq.ratelimit import RateLimit, take

__all__ = ["CasRateLimits", "bucket_key"]

#: a key longer than this (or not ASCII) is stored as its digest (MySQL's key column
#: is ASCII, 100 characters)
KEY_MAX_CHARS = 100

#: compare-and-set rounds before giving up (each lost round means another writer won)
MAX_ROUNDS = 200
#: most seconds a lost round waits before reading again (spreads racing processes)
BACKOFF_MAX = 0.005


def bucket_key(key: str) -> str:
    if len(key) <= KEY_MAX_CHARS and key.isascii():
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


_Taken = asyncio.Future[tuple[int, float]]
#: a driver's lock and the takes waiting for it, by (stored key, limit, interval)
_Group = tuple[str, int, float, int | None]  # stored key, limit, interval, burst
_TakeState = tuple[asyncio.Lock, dict[_Group, list[tuple[int, int, _Taken]]]]


class CasRateLimits(RateLimits):
    @abc.abstractmethod
    async def _bucket_read(self, key: str) -> tuple[float, float, int] | None:
        """(tokens, at, version) of ``key``'s bucket, or None when it has none."""

    @abc.abstractmethod
    async def _bucket_add(self, key: str, tokens: float, at: float) -> bool:
        """Store a bucket for ``key`` (version 0) unless one exists; whether it did."""

    @abc.abstractmethod
    async def _bucket_set(self, key: str, tokens: float, at: float, version: int) -> bool:
        """Write the bucket (version + 1) if its version is still ``version``."""

    @abc.abstractmethod
    async def _limits_read(self) -> dict[str, RateLimit]:
        """Every stored queue limit."""

    @abc.abstractmethod
    async def _limit_put(self, queue: str, limit: RateLimit) -> None:
        """Store (insert or replace) ``queue``'s limit."""

    @abc.abstractmethod
    async def _limit_drop(self, queue: str) -> None:
        """Remove ``queue``'s limit (nothing when it has none)."""

    async def set_queue_rate_limit(self, queue: str, limit: RateLimit | None) -> None:
        if limit is None:
            await self._limit_drop(queue)
        else:
            await self._limit_put(queue, limit)

    async def queue_rate_limits(self) -> dict[str, RateLimit]:
        return await self._limits_read()

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
        if limit <= 0:  # blocked: the bucket is left as it is, look again after an interval
            return 0, interval
        state: _TakeState | None = self.__dict__.get("_rate_state")
        if state is None:
            state = self.__dict__["_rate_state"] = (asyncio.Lock(), {})
        lock, waiting = state
        group = (bucket_key(key), limit, interval, burst)
        mine: _Taken = asyncio.get_running_loop().create_future()
        waiting.setdefault(group, []).append((count, spare, mine))
        async with lock:
            # the first of a group in the lock takes for all that queued meanwhile: a
            # burst of a worker's starts costs one compare-and-set, not one each
            if not mine.done():
                batch = waiting.pop(group)
                try:
                    taken, wait = await self._take_tokens(
                        group[0],
                        sum(n for n, _, _ in batch),
                        limit,
                        interval,
                        now,
                        burst,
                        max(s for _, s, _ in batch),
                    )
                except Exception as exc:
                    for _, _, future in batch:
                        future.set_exception(exc)
                except BaseException:  # cancelled: the others queue again, first
                    waiting.setdefault(group, [])[:0] = [b for b in batch if b[2] is not mine]
                    raise
                else:
                    needed = sum(n for n, _, _ in batch)
                    left, extra = min(taken, needed), max(taken - needed, 0)  # extra: spares
                    for n, s, future in batch:  # first come, first served
                        given = min(n, left)
                        left -= given
                        if given == n and s and extra:
                            more = min(s, extra)
                            given, extra = given + more, extra - more
                        future.set_result((given, 0.0 if given >= n else wait))
            return mine.result()

    async def _take_tokens(
        self,
        stored_key: str,
        count: int,
        limit: int,
        interval: float,
        now: float,
        burst: int | None = None,
        spare: int = 0,
    ) -> tuple[int, float]:
        for round_ in range(MAX_ROUNDS):
            if round_:
                await asyncio.sleep(random.uniform(0, BACKOFF_MAX))
            stored = await self._bucket_read(stored_key)
            if stored is None:
                (tokens, at), taken, wait = take(None, count, limit, interval, now, burst, spare)
                if await self._bucket_add(stored_key, tokens, at):
                    return taken, wait
                continue  # another writer created it first: take from theirs
            old_tokens, old_at, version = stored
            (tokens, at), taken, wait = take(
                (old_tokens, old_at), count, limit, interval, now, burst, spare
            )
            if await self._bucket_set(stored_key, tokens, at, version):
                return taken, wait
        raise RuntimeError(f"rate limit bucket {stored_key!r}: too much contention, try again")
