"""Rows <-> Job for the SQL drivers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from asynctasq.jobs import Job, JobState, visible_state

__all__ = ["JOB_COLUMNS", "job_from_row", "job_params"]

JOB_COLUMNS = (
    "id",
    "task",
    "queue",
    "payload",
    "priority",
    "attempts",
    "max_attempts",
    "run_at",
    "created_at",
    "timeout",
    "lease_until",
    "worker_id",
    "state",
    "error",
    "result",
    "unique_key",
    "depends_on",
    "expires_at",
    "progress",
    "finished_at",
)


def job_params(job: Job) -> dict[str, Any]:
    """The values an insert needs, as named parameters."""
    return {
        "id": job.id,
        "task": job.task,
        "queue": job.queue,
        "payload": job.payload,
        "priority": job.priority,
        "max_attempts": job.max_attempts,
        "run_at": job.run_at,
        "created_at": job.created_at,
        "timeout": job.timeout,
        "unique_key": job.unique_key,
        "depends_on": json.dumps(list(job.depends_on)) if job.depends_on else None,
        "expires_at": job.expires_at,
    }


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def job_from_row(row: Mapping[str, Any], now: float) -> Job:
    depends = row["depends_on"]
    if isinstance(depends, str):
        depends = json.loads(depends)
    state = JobState(row["state"])
    run_at = float(row["run_at"])
    return Job(
        id=str(row["id"]),
        task=row["task"],
        queue=row["queue"],
        payload=bytes(row["payload"]),
        priority=int(row["priority"]),
        attempts=int(row["attempts"]),
        max_attempts=int(row["max_attempts"]),
        run_at=run_at,
        created_at=float(row["created_at"]),
        timeout=_float(row["timeout"]),
        lease_until=_float(row["lease_until"]),
        worker_id=row["worker_id"],
        state=visible_state(state, run_at, now),
        error=row["error"],
        result=None if row["result"] is None else bytes(row["result"]),
        unique_key=row["unique_key"],
        depends_on=tuple(depends or ()),
        expires_at=_float(row["expires_at"]),
        progress=_float(row["progress"]),
        finished_at=_float(row["finished_at"]),
    )
