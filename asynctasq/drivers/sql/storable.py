"""What a SQL driver writes, made storable before it is sent.

Text from outside (exception messages, worker ids) is sanitised with
:func:`~asynctasq.drivers.sanitize.sanitize_text`: every SQL broker refuses lone
surrogates, PostgreSQL refuses NUL, MySQL's columns have sizes. Values that name
something (a unique key, a queue) are never changed behind the caller's back: a job
whose values no broker could store faithfully is refused at enqueue with a
``ValueError`` naming it and what to change.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from asynctasq.drivers.sanitize import ERROR_TEXT_MAX_CHARS, sanitize_text
from asynctasq.jobs import Job, Outcome, validate_name

__all__ = [
    "WORKER_ID_MAX_CHARS",
    "batch_refused",
    "check_storable",
    "storable_error",
    "storable_outcome",
    "storable_worker_id",
]

#: a worker id is stored in at most this many characters (MySQL's column size; the
#: same on every SQL broker, so a long id is cut the same way wherever it is compared)
WORKER_ID_MAX_CHARS = 255
_INT32 = range(-(2**31), 2**31)


def storable_worker_id(worker_id: str) -> str:
    return sanitize_text(worker_id, max_chars=WORKER_ID_MAX_CHARS, allow_nul=False)


def storable_error(error: str) -> str:
    return sanitize_text(error, max_chars=ERROR_TEXT_MAX_CHARS, allow_nul=False)


def storable_outcome(outcome: Outcome) -> Outcome:
    """``outcome`` with its worker id (the fence, stored the same way at the claim) and
    its error text storable; the same object when nothing had to change."""
    worker_id = storable_worker_id(outcome.worker_id)
    error = getattr(outcome, "error", None)
    clean = storable_error(error) if error else error
    if worker_id is outcome.worker_id and clean is error:
        return outcome
    changes = (
        {"worker_id": worker_id} if error is None else {"worker_id": worker_id, "error": clean}
    )
    return dataclasses.replace(outcome, **changes)


def _text_problem(what: str, text: object, max_chars: int | None) -> str | None:
    """What keeps ``text`` from being stored faithfully (it names something: it is
    refused rather than changed)."""
    if type(text) is not str or not text:
        return f"{what} must be non-empty text, not {text!r}"
    if "\x00" in text:
        return f"{what} contains a NUL character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return f"{what} contains lone surrogates (not valid Unicode text)"
    if max_chars is not None and len(text) > max_chars:
        return f"{what} is {len(text)} characters long; this broker keeps at most {max_chars}"
    return None


def _finite(value: object, *, optional: bool = False) -> bool:
    if value is None:
        return optional
    return type(value) in (float, int) and math.isfinite(value)  # type: ignore[arg-type]


def _job_problem(job: Job, key_max_chars: int | None, names: set[str]) -> str | None:
    if job.queue not in names:  # a queue name is part of keys and channels: plain only
        validate_name("queue", job.queue)  # the error says which characters are allowed
        names.add(job.queue)
    if problem := _text_problem("id", job.id, None):
        return problem
    if job.task not in names:  # a task name is only ever stored and compared: any text
        if problem := _text_problem("task", job.task, None):
            return problem
        names.add(job.task)
    if type(job.payload) is not bytes:
        return f"payload must be bytes, not {type(job.payload).__name__}"
    key = job.unique_key
    if key is not None and (problem := _text_problem("unique_key", key, key_max_chars)):
        return problem
    if not (_finite(job.run_at) and _finite(job.created_at)):
        return f"run_at ({job.run_at!r}) and created_at ({job.created_at!r}) must be finite"
    if not (_finite(job.timeout, optional=True) and _finite(job.expires_at, optional=True)):
        return f"timeout ({job.timeout!r}) and expires_at ({job.expires_at!r}) must be finite"
    if type(job.priority) is not int or job.priority not in _INT32:
        return f"priority must be an integer within 32 bits, not {job.priority!r}"
    if type(job.max_attempts) is not int or not 1 <= job.max_attempts < 2**31:
        return f"max_attempts must be an integer from 1 up, not {job.max_attempts!r}"
    if job.depends_on and not all(type(i) is str and i.isascii() for i in job.depends_on):
        return "depends_on must hold job ids (text)"
    return None


def check_storable(jobs: Sequence[Job], *, key_max_chars: int | None, names: set[str]) -> None:
    """Refuse a batch holding a job no SQL broker could store as given: a ValueError
    names the job and the value to change; nothing of the batch is stored. ``names``:
    the queue and task names already checked (a set the driver keeps)."""
    for job in jobs:
        try:
            problem = _job_problem(job, key_max_chars, names)
        except ValueError as exc:
            problem = str(exc)
        if problem is not None:
            raise ValueError(
                f"job {job.id} ({job.task!r}) cannot be stored: {problem}. Nothing of this "
                "batch was stored"
            )


def batch_refused(broker: str, exc: BaseException) -> ValueError:
    """The error for a batch of jobs the broker refused for a reason in the data that
    check_storable() does not know (the batch is one transaction: none was stored)."""
    reason = sanitize_text(f"{type(exc).__name__}: {exc}", max_chars=500, allow_nul=False)
    return ValueError(
        f"{broker} refused this batch of jobs ({reason}); nothing of it was stored. "
        "Check the values of the jobs (names, unique keys, times) against its limits"
    )
