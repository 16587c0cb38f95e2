"""The Redis driver's worker registry (capability WorkerRegistry): heartbeats in a
sorted set by expiry, worker records in a hash, both under the ``{#global}`` tag
(keys.py); every change is one call of workers.lua."""

from __future__ import annotations

from asynctasq.drivers.redis.base import RedisBase
from asynctasq.drivers.redis.codec import decode_worker, encode_worker
from asynctasq.drivers.redis.scripts import Arg, Call
from asynctasq.jobs import WorkerInfo

__all__ = ["RedisWorkers"]


class RedisWorkers(RedisBase):
    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        now = self.clock.time()
        call = self._registry_call(
            "beat", info.worker_id, encode_worker(info, now), repr(now + ttl), repr(now)
        )
        await self._run_many([call])

    async def remove_worker(self, worker_id: str) -> None:
        await self._run_many([self._registry_call("remove", worker_id)])

    async def list_workers(self) -> list[WorkerInfo]:
        (infos,) = await self._run_many([self._registry_call("list", repr(self.clock.time()))])
        workers = [decode_worker(raw) for raw in infos if raw is not None]
        return [w for w in workers if w is not None]

    def _registry_call(self, *args: Arg) -> Call:
        return Call("workers", [self.keys.workers, self.keys.worker_info], args)
