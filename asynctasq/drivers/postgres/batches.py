"""Jobs and outcomes as the column arrays one statement takes (``unnest``), and claimed
rows back into jobs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from asynctasq.drivers.sql.rows import depends_on_value
from asynctasq.jobs import Completed, Failed, Job, JobState, Outcome, Released, Retried

__all__ = [
    "CLAIMED_COLUMNS",
    "COPY_COLUMNS",
    "claimed_job",
    "copy_records",
    "enqueue_args",
    "settle_args",
]

#: the claim returns the job's columns in the order of Job's fields, so a row becomes
#: a Job positionally: the claim is the hot path, and this is four times quicker than
#: the by-name conversion the operator queries use (sql/rows.py)
#: the stored fields of a Job: not the instructions to enqueue (deduplication), nor
#: flow_id and flow_name (they live in the flow's record)
CLAIMED_COLUMNS = tuple(
    f.name
    for f in dataclasses.fields(Job)
    if f.name not in ("unique_mode", "unique_for", "flow_id", "flow_name")
)
_STATE = CLAIMED_COLUMNS.index("state")
_DEPENDS_ON = CLAIMED_COLUMNS.index("depends_on")


def claimed_job(row: Sequence[Any]) -> Job:
    """The job as claimed, values as stored: pair it with faults.record_problems()."""
    values = list(row)
    values[_STATE] = JobState.ACTIVE
    values[_DEPENDS_ON] = depends_on_value(values[_DEPENDS_ON])
    return Job.unchecked(**dict(zip(CLAIMED_COLUMNS, values, strict=True)))


def enqueue_args(jobs: Sequence[Job]) -> list[Any]:
    """$1..$13 of the ``enqueue`` query: one array per column, then the queues."""
    return [
        [j.id for j in jobs],
        [j.task for j in jobs],
        [j.queue for j in jobs],
        [j.payload for j in jobs],
        [j.priority for j in jobs],
        [j.max_attempts for j in jobs],
        [j.run_at for j in jobs],
        [j.created_at for j in jobs],
        [j.timeout for j in jobs],
        [j.unique_key for j in jobs],
        [json.dumps(list(j.depends_on)) if j.depends_on else None for j in jobs],
        [j.expires_at for j in jobs],
        sorted({j.queue for j in jobs}),
    ]


#: what a COPY of new jobs writes, in this order (copy_records)
COPY_COLUMNS = (
    "id", "task", "queue", "payload", "priority", "max_attempts", "run_at", "created_at",
    "timeout", "unique_key", "depends_on", "expires_at", "state", "attempts", "blocked_by",
)  # fmt: skip


def copy_records(jobs: Sequence[Job]) -> list[tuple[Any, ...]]:
    return [_copy_record(job) for job in jobs]


def _copy_record(j: Job) -> tuple[Any, ...]:
    depends_on = json.dumps(list(j.depends_on)) if j.depends_on else None
    fields = (j.id, j.task, j.queue, j.payload, j.priority, j.max_attempts, j.run_at)
    # a job with parents is stored blocked on all of them (see queries.sql: enqueue)
    state = "waiting" if j.depends_on else "pending"
    end = (j.expires_at, state, 0, len(j.depends_on))
    return (*fields, j.created_at, j.timeout, j.unique_key, depends_on, *end)


def _kind(outcome: Outcome, keep_completed: bool) -> str:
    match outcome:
        case Completed():
            return "complete" if keep_completed else "delete"
        case Retried():
            return "retry"
        case Failed():
            return "fail"
        case Released():
            return "release"
    raise TypeError(f"unknown outcome {outcome!r}")


def settle_args(outcomes: Sequence[Outcome], keep_completed: bool) -> list[Any]:
    """$1..$9 of the ``settle`` query (outcomes: one per job)."""
    kinds = [_kind(o, keep_completed) for o in outcomes]
    deleted = [o.job_id for o, kind in zip(outcomes, kinds, strict=True) if kind == "delete"]
    updated = [o.job_id for o, kind in zip(outcomes, kinds, strict=True) if kind != "delete"]
    # only updated rows read the per-outcome values: a batch of plain completions (the
    # usual one) sends none of them
    rows = outcomes if updated else ()
    # results: of updated rows, and of deleted ones (remembered with their id, 0008)
    results = [o.result if isinstance(o, Completed) else None for o in outcomes]
    if not any(results):
        results = []
    return [
        deleted,
        updated,
        [o.worker_id for o in outcomes],
        [o.attempt for o in outcomes],
        kinds if updated else [],
        results,
        [o.run_at if isinstance(o, Retried | Released) else None for o in rows],
        [o.error if isinstance(o, Retried | Failed) else None for o in rows],
        # SQL arrays count from 1
        json.dumps({o.job_id: i for i, o in enumerate(outcomes, 1)}),
    ]
