"""The collections one deployment keeps, and the indexes the claim and the operator
side need. Created at connect (``create_index`` is idempotent on MongoDB).

``<prefix>_jobs``    one document per job (documents.py)
``<prefix>_queues``  one per queue ever used: its name (``_id``) and ``paused``
``<prefix>_workers`` one per live worker: its heartbeat and when it expires
``<prefix>_schedules`` one per repeatable or cron schedule (schedules.py)
``<prefix>_rate_buckets`` one per rate limit key: tokens, at, version (rates.py)
``<prefix>_rate_limits`` one per queue with a stored limit: limit, interval, burst
``<prefix>_dedup`` one per deduplication key: holder ``job``, ``mode``, ``until`` (dedup.py)
``<prefix>_slots`` one per concurrency key: ``holders`` (job ids), ``version`` (slots.py)
``<prefix>_results`` one per completed job that is not kept: its ``result`` and
                   ``finished_at``, kept ``result_retention`` seconds (results.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

__all__ = ["INDEXES", "Store", "write_concern"]

Document = dict[str, Any]

#: (name, keys, options) of every index of the jobs collection
INDEXES: tuple[tuple[str, list[tuple[str, int]], dict[str, Any]], ...] = (
    # the claim: equality on queue and state, then the claim order (priority, run_at, id)
    (
        "claim",
        [
            ("queue", ASCENDING),
            ("state", ASCENDING),
            ("priority", ASCENDING),
            ("run_at", ASCENDING),
            ("_id", ASCENDING),
        ],
        {},
    ),
    # next_due() and the stats of scheduled jobs
    ("due", [("queue", ASCENDING), ("state", ASCENDING), ("run_at", ASCENDING)], {}),
    # lease recovery: active jobs by lease end
    ("leases", [("state", ASCENDING), ("lease_until", ASCENDING)], {}),
    # finished jobs newest first (listings, purge by age)
    ("finished", [("queue", ASCENDING), ("state", ASCENDING), ("finished_at", DESCENDING)], {}),
    # one unfinished job per unique key: only documents holding a key are indexed
    (
        "unique",
        [("ukey", ASCENDING)],
        {"unique": True, "partialFilterExpression": {"ukey": {"$type": "string"}}},
    ),
    # the claim batch read back by its token
    ("claims", [("claim", ASCENDING)], {"sparse": True}),
)


def write_concern(setting: str | int) -> WriteConcern:
    """``majority`` (the default), or a number of members, as the w of every write."""
    if isinstance(setting, int) or (isinstance(setting, str) and setting.isdigit()):
        return WriteConcern(w=int(setting))
    if setting != "majority":
        raise ValueError(
            f"write concern must be 'majority' or a number of members, not {setting!r}"
        )
    return WriteConcern(w="majority")


@dataclass
class Store:
    client: AsyncMongoClient[Document]
    database: AsyncDatabase[Document]
    jobs: AsyncCollection[Document]
    queues: AsyncCollection[Document]
    workers: AsyncCollection[Document]
    schedules: AsyncCollection[Document]
    rate_buckets: AsyncCollection[Document]
    rate_limits: AsyncCollection[Document]
    dedup: AsyncCollection[Document]
    slots: AsyncCollection[Document]
    results: AsyncCollection[Document]

    @classmethod
    def open(
        cls, url: str, database: str | None, prefix: str, concern: WriteConcern, timeout: float
    ) -> Store:
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            url,
            serverSelectionTimeoutMS=int(timeout * 1000),
            tz_aware=False,
            appname="asynctasq",
        )
        db = client.get_database(database) if database else client.get_default_database("asynctasq")
        db = db.with_options(write_concern=concern, read_concern=ReadConcern("majority"))
        return cls(
            client,
            db,
            db.get_collection(f"{prefix}_jobs"),
            db.get_collection(f"{prefix}_queues"),
            db.get_collection(f"{prefix}_workers"),
            db.get_collection(f"{prefix}_schedules"),
            db.get_collection(f"{prefix}_rate_buckets"),
            db.get_collection(f"{prefix}_rate_limits"),
            db.get_collection(f"{prefix}_dedup"),
            db.get_collection(f"{prefix}_slots"),
            db.get_collection(f"{prefix}_results"),
        )

    async def create_indexes(self) -> None:
        for name, keys, options in INDEXES:
            await self.jobs.create_index(keys, name=name, **options)
        await self.workers.create_index([("expires_at", ASCENDING)], name="expiry")
        # the sweep of throttle locks whose window has passed (dedup.py)
        await self.dedup.create_index([("until", ASCENDING)], name="until")
        # the sweep of results past their retention (results.py)
        await self.results.create_index([("finished_at", ASCENDING)], name="age")

    async def close(self) -> None:
        await self.client.close()
