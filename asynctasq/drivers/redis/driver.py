"""Redis (and Redis Cluster) driver: every state change is one Lua script.

This module is the worker side (enqueue, reserve, settle, leases); the operator
side is admin.py, the plumbing core.py. See ``docs/drivers/redis.md``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from asynctasq.config import Config
from asynctasq.drivers.base import (
    LEASE_EXPIRED_ERROR,
    DriverNotConnected,
    TransactionalEnqueueUnsupported,
)
from asynctasq.drivers.redis.admin import RedisAdmin
from asynctasq.drivers.redis.codec import encode_outcomes, enqueue_args
from asynctasq.drivers.redis.core import CHUNK
from asynctasq.drivers.redis.scripts import Arg, Call
from asynctasq.jobs import Job, Outcome

__all__ = ["RedisDriver"]

#: most jobs one reserve() claims (its limit is "up to")
MAX_CLAIM = 3000
#: expired leases one recover call returns per queue
RECOVER_MAX = 1000

_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisDriver(RedisAdmin):
    @classmethod
    def from_config(cls, config: Config) -> RedisDriver:
        return cls(
            config.redis_url,
            password=config.redis_password,
            prefix=config.redis_prefix,
            max_connections=config.redis_max_connections,
            cluster=config.redis_cluster,
            keep_completed=config.keep_completed_tasks,
            completed_ttl=config.completed_ttl,
            dead_letter_ttl=config.redis_dead_letter_ttl,
            dead_letter_max=config.redis_dead_letter_max,
        )

    async def enqueue(self, jobs: Sequence[Job], *, connection: Any = None) -> list[str]:
        if connection is not None:
            raise TransactionalEnqueueUnsupported(self.name)
        if not jobs:
            return []
        by_queue: dict[str, list[int]] = {}
        for i, job in enumerate(jobs):
            by_queue.setdefault(job.queue, []).append(i)
        for queue in by_queue:
            self.keys.queue(queue)  # validates the name before anything is sent
        now = time.time()
        built: list[Call] = []
        offsets: list[list[int]] = []

        def chunks() -> Iterator[Call]:  # packed lazily: packing overlaps with Redis
            for queue, indexes in by_queue.items():
                for start in range(0, len(indexes), CHUNK):
                    chunk = indexes[start : start + CHUNK]
                    args = enqueue_args([jobs[i] for i in chunk], now)
                    built.append(Call("enqueue", self.keys.queue(queue), args))
                    offsets.append(chunk)
                    yield built[-1]

        calls = chunks()
        before = self._registration(by_queue)
        try:
            replies = await self._stream(calls, before)
        except _CONNECTION_ERRORS:
            # a stale pooled connection (server restarted): again with redis-py's
            # retries; harmless for chunks that did run, jobs already stored are kept
            for _ in calls:
                pass
            replies = await self._scripts.run_many(built, before=before)
        self._registered.update(by_queue)
        ids = [job.id for job in jobs]
        for chunk, held in zip(offsets, replies, strict=True):
            for k in range(0, len(held), 2):  # unique_key held by another job
                ids[chunk[held[k]]] = held[k + 1].decode()
        return ids

    async def _stream(self, calls: Iterator[Call], before: list[tuple[Arg, ...]]) -> list[Any]:
        if self._client is None:
            raise DriverNotConnected(self.name)
        return await self._scripts.run_stream(calls, before=before)

    async def reserve(
        self,
        queues: Sequence[str],
        *,
        limit: int,
        worker_id: str,
        lease_seconds: float,
        wait: float = 0.0,
    ) -> list[Job]:
        claimer = self._claimer_or_raise()
        if limit <= 0 or not queues:
            if wait > 0 and not queues:
                await asyncio.sleep(wait)  # as if nothing came: there is nowhere to look
            return []
        limit = min(limit, MAX_CLAIM)
        deadline = time.monotonic() + wait
        options = {"limit": limit, "worker_id": worker_id, "lease_seconds": lease_seconds}
        jobs, next_due = await claimer.claim(queues, now=time.time(), **options)  # type: ignore[arg-type]
        while not jobs:
            self._claimer_or_raise()  # disconnected meanwhile (by another task)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            if next_due is not None:
                # a timer of our own: Redis times BLPOP out only to its hz tick
                remaining = min(remaining, max(next_due - time.time(), 0.0) + 0.001)
            got = None
            blocking = self._blocking
            if (
                blocking is not None
                and len(claimer.groups(queues)) == 1
                and blocking.usable(queues, worker_id, lease_seconds)
            ):
                got = await blocking.wait(queues, timeout=remaining, **options)  # type: ignore[arg-type]
            else:  # Cluster across slots, or another caller's wait is pending
                await self._waker.wait(claimer.wake_groups(queues), remaining)
            if got is None:  # a deadline, or woken without a claim: look now
                jobs, next_due = await claimer.claim(queues, now=time.time(), **options)  # type: ignore[arg-type]
            else:
                jobs, next_due = got
        for job in jobs:
            self._locator.remember(job.id, job.queue)
        return jobs

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []
        queues = await self._queues_of(outcomes)
        by_queue: dict[str, list[int]] = {}
        for i, outcome in enumerate(outcomes):
            queue = queues.get(outcome.job_id)
            if queue is not None:
                by_queue.setdefault(queue, []).append(i)
        now = repr(time.time())
        calls, offsets = [], []
        for queue, indexes in by_queue.items():
            for start in range(0, len(indexes), CHUNK):
                chunk = indexes[start : start + CHUNK]
                batch = encode_outcomes([outcomes[i] for i in chunk])
                args = [now, int(self.keep_completed), *self._bounds(), batch]
                calls.append(Call("settle", self.keys.queue(queue), args))
                offsets.append(chunk)
        accepted = [False] * len(outcomes)
        for chunk, reply in zip(offsets, await self._run_many(calls), strict=True):
            for i, ok in zip(chunk, reply, strict=True):
                accepted[i] = bool(ok)
        self._locator.forget(o.job_id for o in outcomes)
        return accepted

    async def _queues_of(self, outcomes: Sequence[Outcome]) -> dict[str, str]:
        known = {o.job_id: o.queue for o in outcomes if o.queue}
        unknown = [o.job_id for o in outcomes if not o.queue]
        if unknown:
            known.update(await self._locator.find(unknown))
        return known

    async def renew(
        self, worker_id: str, job_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        if not job_ids:
            return []
        # the worker renews from a thread with a driver of its own, which reserved
        # nothing: ids it cannot place go to every queue's script, which skips the
        # ids it does not hold (one call per queue, instead of a lookup per id)
        by_queue: dict[str, list[str]] = {}
        unknown = []
        for job_id in job_ids:
            queue = self._locator.cached(job_id)
            if queue is None:
                unknown.append(job_id)
            else:
                by_queue.setdefault(queue, []).append(job_id)
        if unknown:
            for queue in await self._locator.known_queues():
                by_queue.setdefault(queue, []).extend(unknown)
        lease_until = repr(time.time() + lease_seconds)
        calls, queues = [], []
        for queue, ids in by_queue.items():
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                calls.append(
                    Call("renew", self.keys.queue(queue), [worker_id, lease_until, *chunk])
                )
                queues.append(queue)
        held: set[str] = set()
        for queue, reply in zip(queues, await self._run_many(calls), strict=True):
            for raw in reply:
                held.add(job_id := raw.decode())
                self._locator.remember(job_id, queue)  # next time: straight there
        return [job_id for job_id in job_ids if job_id in held]

    async def recover_expired(self) -> int:
        queues = await self._locator.known_queues()
        now = repr(time.time())
        calls = [
            Call(
                "recover",
                self.keys.queue(q),
                [now, LEASE_EXPIRED_ERROR, RECOVER_MAX, *self._bounds()],
            )
            for q in queues
        ]
        return sum(int(moved) for moved in await self._run_many(calls))
