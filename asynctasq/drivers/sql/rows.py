"""Rows <-> Job for the SQL drivers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from asynctasq.drivers.sql.faults import STORED_STATES, record_problems, salvage
from asynctasq.jobs import Job, JobState, visible_state

__all__ = [
    "JOB_COLUMNS",
    "as_claimed",
    "depends_on_value",
    "job_from_row",
    "job_params",
    "stored_job",
]

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


def depends_on_value(value: Any) -> Any:
    """A stored ``depends_on`` (JSON text, or NULL) as the tuple a Job holds; anything
    else is returned as found, for record_problems() to name."""
    if value is None:
        return ()
    if type(value) is str:
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        if type(decoded) is list:
            return tuple(decoded)
        return decoded
    return value


def stored_job(values: Mapping[str, Any]) -> Job:
    """A Job holding a row's values as they are (JOB_COLUMNS by name), wrong types
    included: never raises. Pair it with ``record_problems``."""
    payload, result = values["payload"], values["result"]
    state = values["state"]
    return Job.unchecked(
        id=values["id"],
        task=values["task"],
        queue=values["queue"],
        payload=bytes(payload) if type(payload) in (memoryview, bytearray) else payload,
        priority=values["priority"],
        attempts=values["attempts"],
        max_attempts=values["max_attempts"],
        run_at=values["run_at"],
        created_at=values["created_at"],
        timeout=values["timeout"],
        lease_until=values["lease_until"],
        worker_id=values["worker_id"],
        state=STORED_STATES.get(state, state) if type(state) is str else state,
        error=values["error"],
        result=bytes(result) if type(result) in (memoryview, bytearray) else result,
        unique_key=values["unique_key"],
        depends_on=depends_on_value(values["depends_on"]),
        expires_at=values["expires_at"],
        progress=values["progress"],
        finished_at=values["finished_at"],
        on_parent_failure=_policy(values),
    )


def _policy(values: Mapping[str, Any]) -> Any:
    # a column of the dependencies migration: rows read by older statements lack it
    try:
        return values["on_parent_failure"]
    except (KeyError, IndexError):
        return "fail"


def job_from_row(row: Mapping[str, Any], now: float) -> Job:
    """A row as listings and ``get`` show it: a damaged record comes back with harmless
    values and the reason as its error (see faults.py), never as an exception."""
    job = stored_job(row)
    problems = record_problems(job)
    if problems:
        job = salvage(job, problems)
    job.state = visible_state(job.state, job.run_at, now)
    return job


def as_claimed(job: Job, worker_id: str, lease_until: float) -> Job:
    """A sound pending job as the claim leaves it: active, leased, one more attempt."""
    job.attempts += 1
    job.state, job.worker_id, job.lease_until = JobState.ACTIVE, worker_id, lease_until
    return job
