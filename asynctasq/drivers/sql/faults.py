"""What is wrong with a stored job record, in words an operator can act on.

A SQL row can hold values no driver wrote: another tool, a hand-made ``UPDATE`` or a
migration gone wrong can leave text where bytes belong, a state nobody knows, a
``depends_on`` that is not a list, a time that is not a finite number (SQLite stores
any value in any column; PostgreSQL and MySQL only what their column types allow).
The drivers build a ``Job`` from the row as it is, ask :func:`record_problems` what is
wrong with it, and never let the answer raise: a claim dead-letters the record with
:func:`corrupt_reason`, a listing or ``get`` shows it through :func:`salvage`.
"""

from __future__ import annotations

import math
from typing import Any

from asynctasq.drivers.sql.storable import storable_error
from asynctasq.jobs import Job, JobState

__all__ = [
    "CORRUPT",
    "STORED_STATES",
    "corrupt_reason",
    "dead_letter_reason",
    "record_problems",
    "salvage",
]

#: the start of every reason a corrupt record is dead-lettered with
CORRUPT = "CorruptRecord"

#: states a driver stores ("scheduled" is how a pending job with a future run_at reads)
STORED_STATES = {state.value: state for state in JobState if state is not JobState.SCHEDULED}
STORED_STATES["waiting"] = JobState.BLOCKED  # how the SQL brokers store it (sql/dependencies.py)

_TEXT = ("id", "task", "queue")
_OPTIONAL_TEXT = ("worker_id", "error", "unique_key")
_TIMES = ("run_at", "created_at")
_OPTIONAL_NUMBERS = ("timeout", "lease_until", "expires_at", "progress", "finished_at")
#: the least value of an integer column: a claimed job has started one attempt
_MINIMUM = {"priority": None, "attempts": 0, "max_attempts": 1}


def _shown(value: Any) -> str:
    """A value and its type, short: the reason must stay readable."""
    kind = {str: "text", bytes: "bytes", float: "a real", int: "an integer"}.get(
        type(value), type(value).__name__
    )
    if value is None:
        return "NULL"
    text = repr(value)
    return f"{text[:40]}... ({kind})" if len(text) > 40 else f"{text} ({kind})"


def _number_problem(name: str, value: Any, *, optional: bool) -> str | None:
    if value is None:
        return None if optional else f"{name} is NULL"
    if type(value) not in (float, int):
        return f"{name} is {_shown(value)}, not a number"
    if not math.isfinite(value):
        return f"{name} is {value!r}, not a finite number (it would never come due or lapse)"
    return None


def record_problems(job: Job, *, claimed: bool = False) -> list[str]:
    """Every field of ``job`` (built from a row as stored) that no driver could have
    written; empty when the record is sound. ``claimed``: the row was just claimed,
    so ``attempts`` counts the attempt starting now."""
    found = []
    for name in _TEXT:
        value = getattr(job, name)
        if type(value) is not str or not value:
            found.append(f"{name} is {_shown(value)}, not text")
    for name in _OPTIONAL_TEXT:
        value = getattr(job, name)
        if value is not None and type(value) is not str:
            found.append(f"{name} is {_shown(value)}, not text")
    if type(job.payload) is not bytes:
        found.append(f"payload is {_shown(job.payload)}, not bytes")
    if job.result is not None and type(job.result) is not bytes:
        found.append(f"result is {_shown(job.result)}, not bytes")
    for name, least in _MINIMUM.items():
        value = getattr(job, name)
        if type(value) is not int:
            found.append(f"{name} is {_shown(value)}, not an integer")
            continue
        if name == "attempts" and claimed:
            least = 1
        if least is not None and value < least:
            found.append(f"{name} is {value}, below {least}")
    for name in _TIMES:
        if (problem := _number_problem(name, getattr(job, name), optional=False)) is not None:
            found.append(problem)
    for name in _OPTIONAL_NUMBERS:
        if (problem := _number_problem(name, getattr(job, name), optional=True)) is not None:
            found.append(problem)
    if not isinstance(job.state, JobState):
        found.append(f"state {_shown(job.state)} is not a job state")
    elif job.state is JobState.ACTIVE and job.lease_until is None:
        found.append("lease_until is NULL on an active job, so its lease would never lapse")
    if type(job.depends_on) is not tuple or not all(type(i) is str for i in job.depends_on):
        found.append(f"depends_on is {_shown(job.depends_on)}, not a JSON list of job ids")
    return found


def corrupt_reason(problems: list[str]) -> str:
    """The error a corrupt record is dead-lettered (or listed) with."""
    return (
        f"{CORRUPT}: the stored job is damaged ({'; '.join(problems)}), so it cannot run. "
        "Was the row written by another tool, or changed by a migration gone wrong? "
        "Fix or delete it"
    )


def dead_letter_reason(job: Job, *, claimed: bool = False) -> str | None:
    """The error a claim dead-letters ``job`` with (storable on every SQL broker), or
    None when its record is sound. ``claimed``: as record_problems()."""
    problems = record_problems(job, claimed=claimed)
    return storable_error(corrupt_reason(problems)) if problems else None


_FALLBACK: dict[str, Any] = {
    "payload": b"",
    "result": None,
    "priority": 0,
    "attempts": 0,
    "max_attempts": 1,
    "run_at": 0.0,
    "created_at": 0.0,
    "worker_id": None,
    "unique_key": None,
    "depends_on": (),
    **dict.fromkeys(_OPTIONAL_NUMBERS),
}


def salvage(job: Job, problems: list[str]) -> Job:
    """``job`` with every damaged field replaced by a harmless value and its error the
    reason: what a listing or ``get`` shows (an unknown state shows as failed: the job
    cannot run). Every problem starts with the name of its field."""
    for name in {problem.split(" ", 1)[0] for problem in problems}:
        if name in _FALLBACK:
            setattr(job, name, _FALLBACK[name])
        elif name in _TEXT:
            setattr(job, name, str(getattr(job, name)))
        elif name == "state":
            job.state = JobState.FAILED
    if not (type(job.error) is str and job.error.startswith(CORRUPT)):  # dead-lettered already
        job.error = corrupt_reason(problems)
    return job
