"""Operator queries every SQL driver answers the same way: which named query lists or
purges the jobs of a state, and how per-state counts become ``QueueStats``.

The names refer to each dialect's ``queries.sql``: ``list_all``, ``list_pending``,
``list_state``, ``list_finished``, ``purge_pending`` and ``purge_finished``; pending
queries take ``future`` (scheduled or due), the others ``state``. A page from a
position (``Inspection.list_from``) of a waiting state reads ``list_pending_after`` or
``list_state_after`` (``_before`` backwards) from the key (priority, run_at, id).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterable
from typing import Any

from asynctasq.checks import INT32_MAX
from asynctasq.drivers.positions import Position
from asynctasq.drivers.sql.dependencies import stored_state
from asynctasq.drivers.sql.storable import storable_worker_id
from asynctasq.jobs import JobState, QueueStats, WorkerInfo

__all__ = [
    "check_progress",
    "list_query",
    "positioned_query",
    "purge_query",
    "queue_stats",
    "stats_field",
    "worker_infos",
    "worker_record",
]

log = logging.getLogger("asynctasq.drivers")

_WAITING = (JobState.PENDING, JobState.SCHEDULED)
_STAT_FIELDS = {
    JobState.ACTIVE: "processing",
    JobState.COMPLETED: "completed",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "cancelled",
    JobState.EXPIRED: "failed",  # dead letters, as on Redis
}


def list_query(state: JobState | None) -> tuple[str, dict[str, Any]]:
    """The query listing jobs in ``state`` (None: all), with its own parameters."""
    if state is None:
        return "list_all", {}
    if state in _WAITING:
        return "list_pending", {"future": state is JobState.SCHEDULED}
    return ("list_finished" if state.finished else "list_state"), {"state": stored_state(state)}


#: a run_at beyond any (a job's is at most MAX_EPOCH), that every dialect stores
_BEYOND = 1e300


def positioned_query(
    state: JobState, after: Position | None, reverse: bool
) -> tuple[str, dict[str, Any]]:
    """The query reading waiting ``state`` from just after ``after`` (priority, run_at,
    id; None: from the start, a key before every job or, reversed, after every one),
    with its own parameters."""
    if state.finished:
        raise ValueError(f"{state.value} is not a waiting state")
    if after is None:
        after = (INT32_MAX, _BEYOND, "") if reverse else (-INT32_MAX, -_BEYOND, "")
    priority, run_at, job_id = after
    params: dict[str, Any] = {"priority": priority, "run_at": run_at, "id": job_id}
    side = "before" if reverse else "after"
    if state in _WAITING:
        return f"list_pending_{side}", {**params, "future": state is JobState.SCHEDULED}
    return f"list_state_{side}", {**params, "state": stored_state(state)}


def purge_query(state: JobState) -> tuple[str, dict[str, Any]]:
    """The query deleting jobs in ``state``, with its own parameters."""
    if state is JobState.ACTIVE:
        raise ValueError("active jobs cannot be purged: cancel or wait for them")
    if state in _WAITING:
        return "purge_pending", {"future": state is JobState.SCHEDULED}
    return "purge_finished", {"state": stored_state(state)}


def queue_stats(queue: str, counts: Iterable[tuple[str, Any, int]], paused: bool) -> QueueStats:
    """``QueueStats`` from rows of (stored state, run_at in the future, count)."""
    fields = dict.fromkeys(
        ("depth", "processing", "scheduled", "completed", "failed", "cancelled"), 0
    )
    for state, future, n in counts:
        if state == JobState.PENDING:
            fields["scheduled" if future else "depth"] += int(n)
        # a state nobody knows (a damaged record) is counted nowhere
        elif (name := _STAT_FIELDS.get(state)) is not None:  # type: ignore[call-overload]
            fields[name] += int(n)
    return QueueStats(queue=queue, paused=paused, **fields)


def stats_field(state: str) -> str | None:
    """The QueueStats field counting stored ``state`` (None: counted nowhere)."""
    if state == JobState.PENDING:
        return "depth"
    return _STAT_FIELDS.get(state)  # type: ignore[call-overload, no-any-return]


def check_progress(progress: float) -> float:
    if type(progress) not in (float, int) or not math.isfinite(progress):
        raise ValueError(f"progress must be a finite number (0 to 1), not {progress!r}")
    return progress


#: a heartbeat record's JSON, at most (MySQL's TEXT column holds 65,535 bytes)
WORKER_RECORD_MAX_CHARS = 60_000


def worker_record(info: WorkerInfo, now: float) -> str:
    """A heartbeat as the JSON the workers table stores (its id as every row stores
    it). A worker serving so many queues that the record would not fit lists only
    as many as fit: a heartbeat the broker refuses would stop the worker's pulse."""
    record = dataclasses.replace(info, worker_id=storable_worker_id(info.worker_id), last_seen=now)
    text = json.dumps(dataclasses.asdict(record))  # ASCII: one byte per character
    while len(text) > WORKER_RECORD_MAX_CHARS and record.queues:
        record = dataclasses.replace(record, queues=record.queues[: len(record.queues) // 2])
        text = json.dumps(dataclasses.asdict(record))
    return text


def worker_infos(records: Iterable[str]) -> list[WorkerInfo]:
    """Heartbeat records back; one that is damaged is left out (and logged), never
    allowed to break the listing."""
    found = []
    for text in records:
        try:
            data = json.loads(text)
            data["queues"] = tuple(data["queues"])
            found.append(WorkerInfo(**data))
        except (TypeError, ValueError, KeyError) as exc:
            log.warning("a damaged worker record is left out of the listing: %s", exc)
    return found
