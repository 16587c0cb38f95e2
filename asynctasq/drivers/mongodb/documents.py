"""Job records as MongoDB documents, and the filters and updates the driver sends.

One document per job in ``<prefix>_jobs``; its ``_id`` is the job id. Times are epoch
seconds as doubles (from the driver's clock, never the server's). Two fields are the
driver's own:

- ``ukey``: the unique key while the job is unfinished (the unique index is partial on
  it being a string, so a finished job frees its key by dropping it);
- ``claim``: the token of the claim batch that last took the job (read back once);
- ``umode``: the deduplication mode a job was dispatched with (its key is then not
  in ``ukey`` but in ``<prefix>_dedup``, see dedup.py).

A record another tool damaged is never allowed to raise: it is built as stored and
checked with the same rules as the SQL drivers' (``sql/faults.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asynctasq.drivers.sql.faults import STORED_STATES, record_problems, salvage
from asynctasq.jobs import Job, JobState, visible_state

__all__ = [
    "FINISHED",
    "claim_order",
    "document_of",
    "job_of",
    "listing_pipeline",
    "stored_job",
    "unfinished",
]

#: states in which a job is done (its unique key is free)
FINISHED = [s.value for s in JobState if s.finished]

#: the order claims take jobs in: lowest priority value, then oldest run_at, then id
claim_order: list[tuple[str, int]] = [("priority", 1), ("run_at", 1), ("_id", 1)]


def document_of(job: Job) -> dict[str, Any]:
    """The document a new job is stored as (pending, no lease)."""
    document: dict[str, Any] = {
        "_id": job.id,
        "task": job.task,
        "queue": job.queue,
        "payload": job.payload,
        "priority": job.priority,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "run_at": float(job.run_at),
        "created_at": float(job.created_at),
        "timeout": job.timeout,
        "lease_until": None,
        "worker_id": None,
        "state": JobState.PENDING.value,
        "error": None,
        "result": None,
        "unique_key": job.unique_key,
        "depends_on": list(job.depends_on),
        "expires_at": job.expires_at,
        "progress": None,
        "finished_at": None,
    }
    if job.unique_mode is not None:
        document["umode"] = job.unique_mode  # its key is in <prefix>_dedup (dedup.py)
    elif job.unique_key is not None:
        document["ukey"] = job.unique_key
    return document


def stored_job(document: Mapping[str, Any]) -> Job:
    """A Job holding a document's values as they are, wrong types included: never
    raises (a missing field reads as None). Pair it with ``record_problems``."""
    get = document.get
    state = get("state")
    depends_on = get("depends_on")
    return Job.unchecked(
        id=get("_id"),
        task=get("task"),
        queue=get("queue"),
        payload=get("payload"),
        priority=get("priority"),
        attempts=get("attempts"),
        max_attempts=get("max_attempts"),
        run_at=get("run_at"),
        created_at=get("created_at"),
        timeout=get("timeout"),
        lease_until=get("lease_until"),
        worker_id=get("worker_id"),
        state=STORED_STATES.get(state, state) if type(state) is str else state,
        error=get("error"),
        result=get("result"),
        unique_key=get("unique_key"),
        depends_on=tuple(depends_on) if type(depends_on) is list else depends_on or (),
        expires_at=get("expires_at"),
        progress=get("progress"),
        finished_at=get("finished_at"),
    )


def job_of(document: Mapping[str, Any], now: float) -> Job:
    """A document as listings and ``get`` show it: a damaged record comes back with
    harmless values and the reason as its error, never as an exception."""
    job = stored_job(document)
    problems = record_problems(job)
    if problems:
        job = salvage(job, problems)
    job.state = visible_state(job.state, job.run_at, now)
    return job


def unfinished(queue: str) -> dict[str, Any]:
    return {"queue": queue, "state": {"$nin": FINISHED}}


def state_filter(queue: str, state: JobState, now: float) -> dict[str, Any]:
    """The jobs of ``queue`` a caller sees in ``state`` (scheduled: pending, not due)."""
    if state is JobState.PENDING:
        return {"queue": queue, "state": "pending", "run_at": {"$lte": now}}
    if state is JobState.SCHEDULED:
        return {"queue": queue, "state": "pending", "run_at": {"$gt": now}}
    return {"queue": queue, "state": state.value}


def listing_pipeline(
    queue: str, state: JobState | None, now: float, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Jobs of a queue: waiting and active ones in claim order, finished ones newest
    first (all of them: the unfinished first)."""
    match = {"queue": queue} if state is None else state_filter(queue, state, now)
    if state is not None and state.finished:
        order: list[dict[str, Any]] = [{"$sort": {"finished_at": -1, "_id": 1}}]
    elif state is not None:
        order = [{"$sort": dict(claim_order)}]
    else:
        done = {"$in": ["$state", FINISHED]}
        order = [
            {
                "$addFields": {
                    "_done": {"$cond": [done, 1, 0]},
                    "_first": {"$cond": [done, 0, "$priority"]},
                    "_then": {"$cond": [done, {"$multiply": [-1, "$finished_at"]}, "$run_at"]},
                }
            },
            {"$sort": {"_done": 1, "_first": 1, "_then": 1, "_id": 1}},
            {"$project": {"_done": 0, "_first": 0, "_then": 0}},
        ]
    return [{"$match": match}, *order, {"$skip": max(offset, 0)}, {"$limit": max(limit, 1)}]


def by_ids(ids: Sequence[str]) -> dict[str, Any]:
    return {"_id": {"$in": list(ids)}}
