"""The MongoDB driver's schedules (capability Schedules): one document per schedule in
``<prefix>_schedules`` (``_id``, ``queue``, ``definition``, ``next_at``, ``paused``).

Firing a slot is one transaction: the compare-and-set of ``next_at`` and the insert of
the slot's jobs (those whose id is not stored yet). Two schedulers racing for one slot:
one matches the expected ``next_at``; the other matches nothing, or MongoDB aborts its
transaction on the write conflict; either way it enqueues nothing. Transactions need a
replica set: on a standalone server the set and the insert are two writes (a scheduler
that dies between them loses that slot's jobs, never runs them twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import OperationFailure, PyMongoError

from asynctasq.drivers.capabilities import Schedules
from asynctasq.drivers.mongodb.documents import by_ids, document_of
from asynctasq.drivers.mongodb.store import Store
from asynctasq.jobs import Job
from asynctasq.schedules import Schedule

__all__ = ["MongoSchedules"]

#: MongoDB's "transactions need a replica set or mongos" (IllegalOperation)
_NO_TRANSACTIONS = 20


class MongoSchedules(Schedules):
    @property
    def store(self) -> Store:
        raise NotImplementedError

    def _wake_local(self) -> None:
        raise NotImplementedError

    async def _register_queues(self, queues: set[str]) -> None:
        raise NotImplementedError

    async def save_schedule(self, schedule: Schedule) -> None:
        definition = schedule.definition()
        fields = {
            "queue": schedule.queue,
            "definition": definition,
            "next_at": schedule.next_at,
            "paused": schedule.paused,
        }
        # one stored with the same definition keeps its own next_at and paused
        await self.store.schedules.update_one(
            {"_id": schedule.id, "definition": {"$ne": definition}}, {"$set": fields}
        )
        await self.store.schedules.update_one(
            {"_id": schedule.id}, {"$setOnInsert": fields}, upsert=True
        )

    async def list_schedules(self) -> list[Schedule]:
        found = self.store.schedules.find({}, sort=[("_id", 1)])
        return [
            Schedule.stored(d["definition"], d["next_at"], d.get("paused", False))
            async for d in found
        ]

    async def remove_schedule(self, schedule_id: str) -> bool:
        return (await self.store.schedules.delete_one({"_id": schedule_id})).deleted_count == 1

    async def pause_schedule(self, schedule_id: str, paused: bool) -> bool:
        result = await self.store.schedules.update_one(
            {"_id": schedule_id}, {"$set": {"paused": paused}}
        )
        return result.matched_count == 1

    async def fire_schedule(
        self, schedule: Schedule, expected: float, next_at: float, jobs: Sequence[Job]
    ) -> bool:
        if jobs:
            await self._register_queues({job.queue for job in jobs})
        try:
            async with (
                self.store.client.start_session() as session,
                await session.start_transaction(),
            ):
                won = await self._fire(schedule.id, expected, next_at, jobs, session)
        except OperationFailure as exc:
            if exc.code != _NO_TRANSACTIONS:
                if exc.has_error_label("TransientTransactionError"):
                    return False  # another scheduler's transaction took the slot
                raise
            won = await self._fire(schedule.id, expected, next_at, jobs, None)
        except PyMongoError as exc:
            if exc.has_error_label("TransientTransactionError"):
                return False
            raise
        if won and jobs:
            self._wake_local()
        return won

    async def _fire(
        self,
        schedule_id: str,
        expected: float,
        next_at: float,
        jobs: Sequence[Job],
        session: AsyncClientSession | None,
    ) -> bool:
        store = self.store
        moved = await store.schedules.update_one(
            {"_id": schedule_id, "next_at": expected},
            {"$set": {"next_at": next_at}},
            session=session,
        )
        if moved.modified_count != 1:
            return False
        if jobs:
            ids = [job.id for job in jobs]
            stored = {
                d["_id"] async for d in store.jobs.find(by_ids(ids), {"_id": 1}, session=session)
            }
            fresh: list[dict[str, Any]] = [document_of(j) for j in jobs if j.id not in stored]
            if fresh:
                await store.jobs.insert_many(fresh, session=session)
        return True
