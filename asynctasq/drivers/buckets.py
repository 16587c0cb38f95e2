"""Rate limit buckets by compare-and-set (capability RateLimits), for brokers with no
script to run next to the data (the SQL brokers and MongoDB; Redis runs rate.lua): a
record per key (tokens, at, version), the arithmetic of asynctasq/ratelimit.py.

Taking tokens is a compare-and-set: read the record, compute, write it back only if
its version is the one read (a new key: insert it only if absent). A writer that loses
the race reads again, so the bucket holds across every worker and connection, no lock
held across a round trip. A broker brings the three steps (``_bucket_read``,
``_bucket_add``, ``_bucket_set``).
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
from asynctasq.ratelimit import take

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
_TakeState = tuple[asyncio.Lock, dict[tuple[str, int, float], list[tuple[int, _Taken]]]]


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

    async def take_tokens(
        self, key: str, count: int, limit: int, interval: float, now: float
    ) -> tuple[int, float]:
        if limit <= 0:  # blocked: nothing stored, look again after an interval
            return 0, interval
        state: _TakeState | None = self.__dict__.get("_rate_state")
        if state is None:
            state = self.__dict__["_rate_state"] = (asyncio.Lock(), {})
        lock, waiting = state
        group = (bucket_key(key), limit, interval)
        mine: _Taken = asyncio.get_running_loop().create_future()
        waiting.setdefault(group, []).append((count, mine))
        async with lock:
            # the first of a group in the lock takes for all that queued meanwhile: a
            # burst of a worker's starts costs one compare-and-set, not one each
            if not mine.done():
                batch = waiting.pop(group)
                try:
                    taken, wait = await self._take_tokens(
                        group[0], sum(n for n, _ in batch), limit, interval, now
                    )
                except Exception as exc:
                    for _, future in batch:
                        future.set_exception(exc)
                except BaseException:  # cancelled: the others queue again, first
                    waiting.setdefault(group, [])[:0] = [b for b in batch if b[1] is not mine]
                    raise
                else:
                    for n, future in batch:  # first come, first served
                        given = min(n, taken)
                        taken -= given
                        future.set_result((given, 0.0 if given == n else wait))
            return mine.result()

    async def _take_tokens(
        self, stored_key: str, count: int, limit: int, interval: float, now: float
    ) -> tuple[int, float]:
        for round_ in range(MAX_ROUNDS):
            if round_:
                await asyncio.sleep(random.uniform(0, BACKOFF_MAX))
            stored = await self._bucket_read(stored_key)
            if stored is None:
                (tokens, at), taken, wait = take(None, count, limit, interval, now)
                if await self._bucket_add(stored_key, tokens, at):
                    return taken, wait
                continue  # another writer created it first: take from theirs
            old_tokens, old_at, version = stored
            (tokens, at), taken, wait = take((old_tokens, old_at), count, limit, interval, now)
            if await self._bucket_set(stored_key, tokens, at, version):
                return taken, wait
        raise RuntimeError(f"rate limit bucket {stored_key!r}: too much contention, try again")
