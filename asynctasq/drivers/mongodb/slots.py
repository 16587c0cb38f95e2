"""Concurrency keys on MongoDB (capability ConcurrencyKeys): one document per key in
``<prefix>_slots``, ``{_id: key, holders: [job ids], version}``, taken by
compare-and-set of ``version`` (as the rate limit buckets are).

A take reads the key's document and which of its holders are still active jobs (a
holder that is not, settled or recovered after its worker crashed, is dropped), and
writes the live holders plus the job only if ``version`` did not move meanwhile; a
writer that loses the race reads again. After a few lost races the job is told the
key is full: it goes back to its queue and is tried again a moment later.
"""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from asynctasq.drivers.mongodb.store import Store
from asynctasq.jobs import Job, JobState

__all__ = ["MongoSlots"]

#: reads of a key's document a take makes before it gives up for this time
_TRIES = 5


class MongoSlots:
    @property
    def store(self) -> Store:
        raise NotImplementedError

    async def acquire_slot(self, job: Job, key: str, limit: int) -> bool:
        slots, jobs = self.store.slots, self.store.jobs
        for _ in range(_TRIES):
            document = await slots.find_one({"_id": key})
            holders: list[str] = [] if document is None else list(document.get("holders", []))
            live: list[str] = []
            if holders:
                query = {"_id": {"$in": holders}, "state": JobState.ACTIVE.value}
                live = [found["_id"] async for found in jobs.find(query, {"_id": 1})]
            if job.id in live:
                return True
            if len(live) >= limit:
                return False
            taken = [*live, job.id]
            if document is None:
                try:
                    await slots.insert_one({"_id": key, "holders": taken, "version": 1})
                except DuplicateKeyError:
                    continue  # another worker made the key's document first: read it
                return True
            moved = await slots.update_one(
                {"_id": key, "version": document.get("version")},
                {"$set": {"holders": taken}, "$inc": {"version": 1}},
            )
            if moved.modified_count:
                return True
        return False

    async def release_slot(self, job: Job, key: str) -> None:
        await self.store.slots.update_one(
            {"_id": key}, {"$pull": {"holders": job.id}, "$inc": {"version": 1}}
        )
