"""Deduplication modes on MongoDB (capability Deduplication); the rules are
asynctasq/dedup.py's.

``<prefix>_dedup`` holds one document per key: ``_id`` the key, ``job`` the
holder's id, ``mode``, ``until`` (throttle). A job with a mode is stored without
``ukey`` (the until_finished index leaves it alone) and with ``umode``.

Each such job is enqueued in a transaction of its own: read the key's document and
the holder's state, then refuse (a debounce moves the waiting holder on) or write
the key's document and insert the job. Two producers racing for one key both write
its document: MongoDB aborts one with a write conflict, and ``with_transaction``
runs it again, when it sees the winner's lock.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import OperationFailure

from asynctasq.dedup import DEBOUNCE, THROTTLE, holds, lock_until
from asynctasq.drivers.base import DriverError
from asynctasq.drivers.mongodb.documents import document_of
from asynctasq.drivers.mongodb.store import Store
from asynctasq.jobs import Job

__all__ = ["enqueue_deduplicated", "sweep_locks"]

#: the server's answer to a transaction on a standalone server
_ILLEGAL_OPERATION = 20


async def enqueue_deduplicated(store: Store, job: Job, now: float) -> str:
    """Store ``job`` (it has a ``unique_mode``) unless its key is held; the id of the
    job stored, or of the holder."""
    key, mode = job.unique_key, job.unique_mode
    assert key is not None  # Job checks it
    assert mode is not None

    async def attempt(session: AsyncClientSession) -> str:
        lock = await store.dedup.find_one({"_id": key}, session=session)
        if lock is not None and lock.get("job"):
            holder: str = lock["job"]
            if holder == job.id:  # a retried call: stored already
                return job.id
            state = None
            if lock.get("mode") != THROTTLE:
                found = await store.jobs.find_one({"_id": holder}, {"state": 1}, session=session)
                state = None if found is None else found.get("state")
            if holds(lock.get("mode", ""), state, lock.get("until"), now):
                if lock.get("mode") == DEBOUNCE and mode == DEBOUNCE and state == "pending":
                    moved: dict[str, Any] = {
                        "payload": job.payload,
                        "run_at": float(job.run_at),
                        "expires_at": job.expires_at,
                    }
                    await store.jobs.update_one(
                        {"_id": holder, "state": "pending"}, {"$set": moved}, session=session
                    )
                    # written too, so two debounces of one key conflict rather than interleave
                    await store.dedup.update_one(
                        {"_id": key}, {"$set": {"at": now}}, session=session
                    )
                return holder
        taken = {"job": job.id, "mode": mode, "until": lock_until(mode, job.unique_for, now)}
        await store.dedup.update_one({"_id": key}, {"$set": taken}, upsert=True, session=session)
        await store.jobs.insert_one(document_of(job), session=session)
        return job.id

    async with store.client.start_session() as session:
        try:
            result: str = await session.with_transaction(attempt)
        except OperationFailure as exc:
            if exc.code != _ILLEGAL_OPERATION:
                raise
            raise DriverError(
                "mongodb: unique_mode needs transactions, which need a replica set or a "
                f"sharded cluster ({exc}); use unique_key alone (until_finished) here"
            ) from exc
        return result


async def sweep_locks(store: Store, now: float) -> None:
    """Drop throttle locks whose window has passed (a take that meets one replaces it
    anyway): keys used once do not pile up. A lock a transaction renews meanwhile no
    longer matches, and is kept."""
    await store.dedup.delete_many({"mode": THROTTLE, "until": {"$lte": now}})
