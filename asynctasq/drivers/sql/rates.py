"""Rate limit buckets in SQL (capability RateLimits): a row per key in
``rate_buckets`` (tokens, at, version), the arithmetic of asynctasq/ratelimit.py.

Taking tokens is a compare-and-set: read the row, compute, write it back only if its
version is the one read (a new key: insert it only if absent). A writer that loses the
race reads again, so the bucket holds across every worker and connection with the
same statements on SQLite, PostgreSQL and MySQL, no lock held across a round trip.
Within one driver the takes queue on a local lock: a worker's own coroutines never
race each other (a race costs a round trip and, under a burst, starves them), so
only workers in other processes can make a round lose.
"""

from __future__ import annotations

import asyncio
import hashlib
import random

from asynctasq.drivers.capabilities import RateLimits
from asynctasq.drivers.sql.statements import Statements
from asynctasq.ratelimit import take

__all__ = ["SQLRateLimits", "bucket_key"]

#: a key longer than this (or not ASCII) is stored as its digest: MySQL's key column
#: is ASCII, 100 characters
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


class SQLRateLimits(RateLimits):
    statements: Statements

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
            rows = await self.statements.tuples("rate_bucket", key=stored_key)
            if not rows:
                (tokens, at), taken, wait = take(None, count, limit, interval, now)
                added = await self.statements.change(
                    "rate_bucket_add", key=stored_key, tokens=tokens, at=at
                )
                if added:
                    return taken, wait
                continue  # another writer created it first: take from theirs
            old_tokens, old_at, version = rows[0]
            bucket = (float(old_tokens), float(old_at))
            (tokens, at), taken, wait = take(bucket, count, limit, interval, now)
            changed = await self.statements.change(
                "rate_bucket_set", key=stored_key, tokens=tokens, at=at, version=int(version)
            )
            if changed:
                return taken, wait
        raise RuntimeError(f"rate limit bucket {stored_key!r}: too much contention, try again")
