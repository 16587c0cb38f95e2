"""The Redis driver's schedules (capability Schedules): each queue's schedules in
three hashes under its hash tag, changed by schedule.lua, so firing a slot (the
compare-and-set of its next slot and the enqueue of its jobs) is one script call
on the queue's slot, on Redis Cluster too. A global hash maps schedule id -> queue."""

from __future__ import annotations

from collections.abc import Sequence

from asynctasq.drivers.redis.base import RedisBase
from asynctasq.drivers.redis.codec import enqueue_args
from asynctasq.drivers.redis.scripts import Arg, Call
from asynctasq.jobs import Job
from asynctasq.schedules import Schedule

__all__ = ["RedisSchedules"]


class RedisSchedules(RedisBase):
    async def save_schedule(self, schedule: Schedule) -> None:
        moved_from = await self._queue_of(schedule.id)
        if moved_from is not None and moved_from != schedule.queue:
            await self._schedule_call(moved_from, "remove", schedule.id)
        await self.client.hset(self.keys.schedule_index, schedule.id, schedule.queue)
        await self._schedule_call(
            schedule.queue,
            "save",
            schedule.id,
            schedule.definition(),
            repr(schedule.next_at),
            "1" if schedule.paused else "0",
        )

    async def list_schedules(self) -> list[Schedule]:
        index = await self.client.hgetall(self.keys.schedule_index)
        queues = sorted({_text(queue) for queue in index.values()})
        found: list[Schedule] = []
        async with self.client.pipeline(transaction=False) as pipe:
            for queue in queues:
                for key in self.keys.schedules(queue):
                    pipe.hgetall(key)
            replies = await pipe.execute()
        for i in range(0, len(replies), 3):
            definitions, next_at, paused = replies[i : i + 3]
            for sid, definition in definitions.items():
                found.append(Schedule.stored(definition, float(next_at[sid]), sid in paused))
        return sorted(found, key=lambda s: s.id)

    async def remove_schedule(self, schedule_id: str) -> bool:
        queue = await self._queue_of(schedule_id)
        if queue is None:
            return False
        removed = await self._schedule_call(queue, "remove", schedule_id)
        await self.client.hdel(self.keys.schedule_index, schedule_id)
        return bool(removed)

    async def pause_schedule(self, schedule_id: str, paused: bool) -> bool:
        queue = await self._queue_of(schedule_id)
        if queue is None:
            return False
        return bool(await self._schedule_call(queue, "pause", schedule_id, "1" if paused else "0"))

    async def fire_schedule(
        self, schedule: Schedule, expected: float, next_at: float, jobs: Sequence[Job]
    ) -> bool:
        queue = schedule.queue
        if any(job.queue != queue or job.unique_key for job in jobs):
            raise ValueError("fire_schedule: jobs of the schedule's queue, without unique keys")
        now = max((job.run_at for job in jobs), default=self.clock.time())
        packed = enqueue_args(jobs, now)  # [n, simple, ids, records, waiting]
        n = len(jobs)
        args = [repr(expected), repr(next_at), n, *packed[2 + n : 2 + 5 * n]]
        call = Call("schedule", self._schedule_keys(queue), ["fire", schedule.id, *args])
        (won,) = await self._run_many([call], register=[queue])
        return bool(won)

    async def _queue_of(self, schedule_id: str) -> str | None:
        queue = await self.client.hget(self.keys.schedule_index, schedule_id)
        return None if queue is None else _text(queue)

    def _schedule_keys(self, queue: str) -> list[str]:
        return [*self.keys.queue(queue), *self.keys.schedules(queue)]

    async def _schedule_call(self, queue: str, op: str, *args: Arg) -> int:
        call = Call("schedule", self._schedule_keys(queue), [op, *args])
        (reply,) = await self._run_many([call])
        return int(reply)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
