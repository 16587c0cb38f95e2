"""The operator side of the MongoDB driver: stats and listings by aggregation, cancel,
requeue, purge, remove, pause, progress and the worker registry. Times come from the
driver's clock, never the server's."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Sequence
from typing import Any

from pymongo.errors import DuplicateKeyError

from asynctasq.clock import Clock
from asynctasq.drivers.capabilities import (
    Inspection,
    Management,
    Pausing,
    ProgressStore,
    Removal,
    WorkerRegistry,
)
from asynctasq.drivers.mongodb.documents import job_of, listing_pipeline, state_filter
from asynctasq.drivers.mongodb.positions import after_filter, position_of, positioned_sort
from asynctasq.drivers.mongodb.store import Store
from asynctasq.drivers.positions import Position, Positioned
from asynctasq.jobs import Job, JobState, QueueStats, WorkerInfo

__all__ = ["MongoOperatorSide"]

log = logging.getLogger("asynctasq.driver")

_STAT_FIELDS = {
    "active": "processing",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}
_DEAD = [JobState.FAILED.value, JobState.CANCELLED.value, JobState.EXPIRED.value]


def _requeued(now: float) -> list[dict[str, Any]]:
    """Back to pending with attempts reset, as an update pipeline: the unique key is
    taken again from the job's own (refused while another unfinished job holds it)."""
    fields = {
        "state": "pending",
        "attempts": 0,
        "run_at": now,
        "finished_at": None,
        "error": None,
        "worker_id": None,
        "lease_until": None,
        # a job with a deduplication mode keeps its key in <prefix>_dedup instead
        "ukey": {"$cond": [{"$ifNull": ["$umode", False]}, "$$REMOVE", "$unique_key"]},
    }
    return [{"$set": fields}]


class MongoOperatorSide(Inspection, Management, Removal, Pausing, WorkerRegistry, ProgressStore):
    clock: Clock

    @property
    def store(self) -> Store:
        raise NotImplementedError

    def _wake_local(self) -> None:
        raise NotImplementedError

    # -- inspection ---------------------------------------------------------------------

    async def get(self, job_id: str) -> Job | None:
        document = await self.store.jobs.find_one({"_id": job_id})
        return None if document is None else job_of(document, self.clock.time())

    async def list_jobs(
        self, queue: str, state: JobState | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        if limit <= 0:
            return []
        now = self.clock.time()
        cursor = await self.store.jobs.aggregate(listing_pipeline(queue, state, now, limit, offset))
        return [job_of(document, now) async for document in cursor]

    async def list_from(
        self,
        queue: str,
        state: JobState,
        *,
        after: Position | None,
        limit: int,
        reverse: bool = False,
    ) -> list[Positioned] | None:
        """Positions as on SQL (asynctasq/drivers/mongodb/positions.py)."""
        beyond = after_filter(state, after, reverse)
        if limit <= 0:
            return []
        now = self.clock.time()
        match = state_filter(queue, state, now)
        query = {"$and": [match, beyond]} if beyond else match
        found = self.store.jobs.find(query, sort=positioned_sort(state, reverse), limit=limit)
        jobs = [job_of(document, now) async for document in found]
        return [(position_of(job), job) for job in jobs]

    async def stats(self, queue: str) -> QueueStats:
        now = self.clock.time()
        pipeline: list[dict[str, Any]] = [
            {"$match": {"queue": queue}},
            {
                "$group": {
                    "_id": {"state": "$state", "future": {"$gt": ["$run_at", now]}},
                    "n": {"$sum": 1},
                }
            },
        ]
        counts = dict.fromkeys(
            ("depth", "processing", "scheduled", "completed", "failed", "cancelled"), 0
        )
        async for row in await self.store.jobs.aggregate(pipeline):
            state, future = row["_id"].get("state"), row["_id"].get("future")
            if state == "pending":
                counts["scheduled" if future else "depth"] += int(row["n"])
            elif isinstance(state, str) and (name := _STAT_FIELDS.get(state)) is not None:
                counts[name] += int(row["n"])  # a state nobody knows is counted nowhere
        record = await self.store.queues.find_one({"_id": queue})
        return QueueStats(queue=queue, paused=bool(record and record.get("paused")), **counts)

    async def queues(self) -> list[str]:
        return sorted([d["_id"] async for d in self.store.queues.find({}, {"_id": 1})])

    # -- management ---------------------------------------------------------------------

    async def cancel(self, job_id: str) -> bool:
        result = await self.store.jobs.update_one(
            {"_id": job_id, "state": "pending"},
            {
                "$set": {"state": "cancelled", "finished_at": self.clock.time()},
                "$unset": {"ukey": ""},
            },
        )
        return result.modified_count == 1

    async def requeue(self, job_id: str) -> bool:
        try:
            result = await self.store.jobs.update_one(
                {"_id": job_id, "state": {"$in": _DEAD}}, _requeued(self.clock.time())
            )
        except DuplicateKeyError:
            return False  # another unfinished job holds its unique key
        if result.modified_count == 1:
            self._wake_local()
        return result.modified_count == 1

    async def requeue_many(self, job_ids: Sequence[str]) -> list[bool]:
        """The jobs without a unique key in one ``update_many`` (marked with a token
        to tell which moved); those with one by one (a key another job holds refuses
        only its own). An id named twice is answered once, True first."""
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return []
        jobs = self.store.jobs
        token = secrets.token_hex(12)
        dead = {"_id": {"$in": ids}, "state": {"$in": _DEAD}}
        update = _requeued(self.clock.time())
        update[0]["$set"]["requeued"] = token
        await jobs.update_many({**dead, "unique_key": None}, update)
        moved = {d["_id"] async for d in jobs.find({"_id": {"$in": ids}, "requeued": token})}
        async for document in jobs.find({**dead, "unique_key": {"$ne": None}}, {"_id": 1}):
            if await self.requeue(document["_id"]):
                moved.add(document["_id"])
        if moved:
            self._wake_local()
        answered: set[str] = set()
        answers = []
        for job_id in job_ids:
            answers.append(job_id in moved and job_id not in answered)
            answered.add(job_id)
        return answers

    async def purge(self, queue: str, state: JobState, *, older_than: float | None = None) -> int:
        if state is JobState.ACTIVE:
            raise ValueError("active jobs cannot be purged: cancel or wait for them")
        match = state_filter(queue, state, self.clock.time())
        if older_than is not None:
            match["$or"] = [
                {"finished_at": {"$lt": older_than}},
                {"finished_at": None, "created_at": {"$lt": older_than}},
            ]
        return (await self.store.jobs.delete_many(match)).deleted_count

    async def remove(self, job_id: str) -> bool:
        result = await self.store.jobs.delete_one({"_id": job_id, "state": {"$ne": "active"}})
        return result.deleted_count == 1

    # -- pausing ------------------------------------------------------------------------

    async def pause(self, queue: str) -> None:
        await self.store.queues.update_one({"_id": queue}, {"$set": {"paused": True}}, upsert=True)

    async def resume(self, queue: str) -> None:
        await self.store.queues.update_one({"_id": queue}, {"$set": {"paused": False}}, upsert=True)
        self._wake_local()

    # -- progress -----------------------------------------------------------------------

    async def set_progress(self, job_id: str, worker_id: str, progress: float) -> bool:
        if type(progress) not in (float, int) or not 0.0 <= progress <= 1.0:
            raise ValueError(f"progress must be a number from 0 to 1, not {progress!r}")
        result = await self.store.jobs.update_one(
            {"_id": job_id, "state": "active", "worker_id": worker_id},
            {"$set": {"progress": float(progress)}},
        )
        return result.matched_count == 1

    # -- worker registry ----------------------------------------------------------------

    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        now = self.clock.time()
        record = dataclasses.asdict(dataclasses.replace(info, last_seen=now))
        record["queues"] = list(info.queues)
        workers = self.store.workers
        await workers.replace_one(
            {"_id": info.worker_id}, {"info": record, "expires_at": now + ttl}, upsert=True
        )
        await workers.delete_many({"expires_at": {"$lt": now}})

    async def remove_worker(self, worker_id: str) -> None:
        await self.store.workers.delete_one({"_id": worker_id})

    async def list_workers(self) -> list[WorkerInfo]:
        now = self.clock.time()
        found = []
        async for document in self.store.workers.find(
            {"expires_at": {"$gt": now}}, sort=[("_id", 1)]
        ):
            try:
                info = dict(document["info"])
                info["queues"] = tuple(info["queues"])
                found.append(WorkerInfo(**info))
            except (TypeError, ValueError, KeyError) as exc:
                log.warning("mongodb: a damaged worker record is left out of the listing: %s", exc)
        return found
