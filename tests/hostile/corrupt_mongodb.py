"""Corruptions a MongoDB jobs document can hold: any field, any BSON type (the
collection has no schema), or no field at all.

Not here, because such a record is never claimed, so there is nothing to dead-letter
(docs/drivers/mongodb.md, "Damaged records"): a state the driver never writes, a
``run_at`` that is not a number or is +infinity (MongoDB compares values of one type
only), a damaged id or queue (the job is then another job, or in another queue). Nor
the fields a claim overwrites (``worker_id``, ``lease_until``)."""

from __future__ import annotations

from typing import Any

from asynctasq.jobs import Job
from tests.backend_base import Backend
from tests.backends_mongodb import MongoDBBackend
from tests.hostile.corruption import Corruption
from tests.hostile.damaged_payloads import DAMAGED_PAYLOADS, UNKNOWN_TASK, DamagedPayload


async def change(backend: Backend, job: Job, update: dict[str, Any]) -> None:
    assert isinstance(backend, MongoDBBackend)
    result = await backend.raw_jobs().update_one({"_id": job.id}, update)
    assert result.matched_count == 1, f"no document for job {job.id}"


def wrong(field: str, value: Any, reason: str) -> Corruption:
    async def apply(backend: Backend, job: Job) -> None:
        await change(backend, job, {"$set": {field: value}})

    return Corruption(f"{field} = {value!r}", apply, reason)


def missing(field: str, reason: str) -> Corruption:
    async def apply(backend: Backend, job: Job) -> None:
        await change(backend, job, {"$unset": {field: ""}})

    return Corruption(f"no {field}", apply, reason)


def _payload(damaged: DamagedPayload) -> Corruption:
    async def apply(backend: Backend, job: Job) -> None:
        await change(backend, job, {"$set": {"payload": damaged.damage(job)}})

    return Corruption(damaged.name, apply, damaged.reason)


CORRUPTIONS = [
    *(_payload(damaged) for damaged in DAMAGED_PAYLOADS),
    wrong("task", UNKNOWN_TASK, "unknown task"),
    wrong("task", "t\u00e2che \U0001f600 ';--", "unknown task"),
    wrong("payload", "not binary", "payload is 'not binary' (text), not bytes"),
    missing("payload", "payload is NULL, not bytes"),
    wrong("task", b"task", "task is b'task' (bytes), not text"),
    missing("task", "task is NULL, not text"),
    wrong("attempts", "three", "attempts is 'three' (text), not an integer"),
    wrong("attempts", -5, "attempts is -4, below 1"),
    wrong("max_attempts", 0, "max_attempts is 0, below 1"),
    wrong("max_attempts", "many", "max_attempts is 'many' (text)"),
    wrong("priority", "high", "priority is 'high' (text)"),
    wrong("priority", 2.5, "priority is 2.5 (a real)"),
    wrong("run_at", float("-inf"), "run_at is -inf, not a finite number"),
    wrong("created_at", "yesterday", "created_at is 'yesterday' (text)"),
    wrong("timeout", "a while", "timeout is 'a while' (text)"),
    wrong("expires_at", b"\x00", "expires_at is b'\\x00' (bytes)"),
    wrong("depends_on", {"a": 1}, "depends_on is {'a': 1} (dict)"),
    wrong("depends_on", [1, 2], "depends_on is (1, 2) (tuple)"),
    wrong("depends_on", "one id", "depends_on is 'one id' (text)"),
    wrong("unique_key", b"k", "unique_key is b'k' (bytes), not text"),
    wrong("error", b"\xff", "error is b'\\xff' (bytes), not text"),
    wrong("result", "done", "result is 'done' (text), not bytes"),
    wrong("progress", "half", "progress is 'half' (text)"),
    wrong("finished_at", "never", "finished_at is 'never' (text)"),
]
