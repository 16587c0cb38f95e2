"""Which queue holds a job, given only its id.

Every key of a job lives under its queue's hash tag, so the driver must know the
queue to touch a job. Outcomes from the worker carry it; for the rest (operator
calls by id, outcomes built without it, lease renewal) this module answers from a
bounded cache of jobs this driver reserved, else by asking every known queue in one
pipelined round trip. No global id -> queue index is kept: it could not be updated
atomically with the queue's own keys on Redis Cluster, so it could drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from asynctasq.drivers.keys import QUEUE_KEYS, RedisKeys
from asynctasq.drivers.redis.connection import Client

__all__ = ["Locator"]

_JOBS = QUEUE_KEYS.index("jobs")


class Locator:
    def __init__(self, client: Client, keys: RedisKeys, *, capacity: int = 100_000) -> None:
        self.client = client
        self.keys = keys
        self.capacity = capacity
        self._queue_of: dict[str, str] = {}

    def remember(self, job_id: str, queue: str) -> None:
        if len(self._queue_of) >= self.capacity:
            # forget the oldest half: entries are for jobs reserved long ago
            for stale in list(self._queue_of)[: self.capacity // 2]:
                del self._queue_of[stale]
        self._queue_of[job_id] = queue

    def cached(self, job_id: str) -> str | None:
        return self._queue_of.get(job_id)

    def forget(self, job_ids: Iterable[str]) -> None:
        for job_id in job_ids:
            self._queue_of.pop(job_id, None)

    async def known_queues(self) -> list[str]:
        members = await self.client.smembers(self.keys.registry)
        return sorted(m.decode() if isinstance(m, bytes) else m for m in members)

    async def find(self, job_ids: Sequence[str]) -> dict[str, str]:
        """job id -> queue for the ids that exist (ids of unknown jobs are left out)."""
        found = {i: q for i in job_ids if (q := self._queue_of.get(i)) is not None}
        missing = list(dict.fromkeys(i for i in job_ids if i not in found))
        if not missing:
            return found
        queues = await self.known_queues()
        if not queues:
            return found
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            jobs = self.keys.queue(queue)[_JOBS]
            for job_id in missing:
                pipe.hstrlen(jobs, job_id)  # 0 when absent; never ships the payload
        sizes = iter(await pipe.execute())
        for queue in queues:
            for job_id in missing:
                if next(sizes):
                    found.setdefault(job_id, queue)
        return found

    async def find_one(self, job_id: str) -> str | None:
        return (await self.find([job_id])).get(job_id)
