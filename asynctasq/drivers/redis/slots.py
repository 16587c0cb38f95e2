"""The Redis driver's concurrency keys (capability ConcurrencyKeys): a set of holders
per key in the job's queue (keys.py ``slots``), taken and given back by one script
call (lua/slot.lua). A key is counted per queue: its set must share the queue's hash
slot with the jobs it checks (Redis Cluster)."""

from __future__ import annotations

from asynctasq.drivers.base import DriverNotConnected
from asynctasq.drivers.keys import QUEUE_KEYS
from asynctasq.drivers.redis.base import RedisBase
from asynctasq.drivers.redis.scripts import Call
from asynctasq.jobs import Job

__all__ = ["RedisSlots"]

_ACTIVE = QUEUE_KEYS.index("active")


class RedisSlots(RedisBase):
    async def acquire_slot(self, job: Job, key: str, limit: int) -> bool:
        return bool(await self._slot(job, key, limit, "take"))

    async def release_slot(self, job: Job, key: str) -> None:
        await self._slot(job, key, 0, "give")

    async def _slot(self, job: Job, key: str, limit: int, action: str) -> int:
        if self._client is None:
            raise DriverNotConnected(self.name)
        keys = (self.keys.queue(job.queue)[_ACTIVE], self.keys.slots(job.queue, key))
        return int(await self._scripts.run(Call("slot", keys, (job.id, limit, action))))
