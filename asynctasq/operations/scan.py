"""Walking a queue's jobs page by page through ``Inspection.list_jobs``, with the
filters no driver is asked to know (task name, age), and an opaque cursor.

Drivers list waiting jobs in claim order and finished ones newest first, by offset.
A cursor is that offset, encoded: stable enough for an operator paging through a
queue that changes under them (a job may show twice or be skipped when others move;
``job list`` is a view, not a snapshot). A listing of one finished state stops at
the first job older than ``since``: the rest are older still. A page reads at most
a budget of jobs (a filter that matches few of a million must not hold the command for
minutes): it may come back short, with a cursor to read on.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from asynctasq.drivers.capabilities import Inspection
from asynctasq.jobs import Job, JobState
from asynctasq.operations.schema import error_head, searchable_arguments
from asynctasq.redaction import redact

__all__ = [
    "PAGE",
    "Budget",
    "JobFilter",
    "decode_any",
    "decode_cursor",
    "encode_cursor",
    "encode_position",
    "matching_jobs",
    "mentions",
]

#: jobs read per list_jobs call while scanning
PAGE = 1000


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs of one queue: a state (None: every state), a task name, and a
    window (``since`` seconds back from now, on the time a job finished, else the
    time it was created)."""

    queue: str
    state: JobState | None = None
    task: str | None = None
    since: float | None = None
    #: text to search for, ignoring case: in the job's id (its start), its task name,
    #: its arguments as the dashboard shows them or its last error's first line
    #: (credentials hidden: a search for a password finds nothing)
    text: str | None = None
    #: read the listing from its other end (a state needed): finished jobs oldest
    #: first, waiting ones last to run first
    reverse: bool = False

    def cutoff(self, now: float) -> float | None:
        return None if self.since is None else now - self.since

    def keeps(self, job: Job, cutoff: float | None) -> bool:
        if self.task is not None and job.task != self.task:
            return False
        if cutoff is not None and stamp(job) < cutoff:
            return False
        return not self.text or mentions(job, self.text)


def mentions(job: Job, text: str) -> bool:
    """``text`` (any case) starts the id, or is in the task name, the arguments or the
    error's first line."""
    needle = text.casefold()
    if job.id.casefold().startswith(needle) or needle in job.task.casefold():
        return True
    # redaction only ever hides text: what the plain text lacks, the hidden one lacks
    # too (but for the "***" it puts in), so most jobs are never redacted
    plain = "*" not in needle
    error = error_head(job.error)
    maybe_error = error is not None and (not plain or needle in error.casefold())
    if maybe_error and needle in redact(error or "").casefold():
        return True
    if plain and needle not in searchable_arguments(job.payload, hidden=False).casefold():
        return False
    return needle in searchable_arguments(job.payload).casefold()


def stamp(job: Job) -> float:
    """When a job last changed for good: finished, else created."""
    return job.finished_at if job.finished_at is not None else job.created_at


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def encode_position(at: float, job_id: str) -> str:
    """A cursor at a finished job (its finish time and id): the next page starts just
    after it, read from the broker's index there (``Inspection.list_finished_from``)."""
    return base64.urlsafe_b64encode(f"p{at!r}|{job_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The offset of an offset cursor (0 for none); ValueError for anything else."""
    found = decode_any(cursor)
    if not isinstance(found, int):
        raise ValueError(f"invalid cursor {cursor!r}: a position, where an offset was due")
    return found


def decode_any(cursor: str | None) -> int | tuple[float, str]:
    """An offset, or a position (finish time, job id)."""
    if not cursor:
        return 0
    invalid = ValueError(f"invalid cursor {cursor!r}: pass the next_cursor a listing printed")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text.startswith("p"):
            at, _, job_id = text[1:].partition("|")
            when = float(at)
            if not job_id or when != when:  # (NaN)
                raise invalid
            return when, job_id
        offset = int(text[1:]) if text.startswith("o") else -1
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid from None
    if offset < 0:
        raise invalid
    return offset


@dataclass(slots=True)
class Budget:
    """At most ``jobs`` read by one scan; ``stopped_at`` is where it stopped with jobs
    left unread (None: it read to the end)."""

    jobs: int
    stopped_at: int | None = None


async def matching_jobs(
    inspect: Inspection,
    where: JobFilter,
    *,
    start: int = 0,
    page: int = PAGE,
    budget: Budget | None = None,
) -> AsyncIterator[tuple[int, Job]]:
    """(offset of the next job after this one, job) for every job ``where`` keeps,
    from offset ``start``, until the queue, the window or the ``budget`` runs out."""
    cutoff = where.cutoff(time.time())
    if where.reverse and where.state is None:
        raise ValueError("a reversed listing needs a state")
    ordered_by_age = where.state is not None and where.state.finished and not where.reverse
    offset = start
    while True:
        if where.reverse and where.state is not None:
            jobs = await inspect.list_jobs_reversed(
                where.queue, where.state, limit=page, offset=offset
            )
        else:
            jobs = await inspect.list_jobs(where.queue, where.state, limit=page, offset=offset)
        for job in jobs:
            offset += 1
            if where.keeps(job, cutoff):
                yield offset, job
            elif ordered_by_age and cutoff is not None and stamp(job) < cutoff:
                return  # newest first: every job after this one is older
        if len(jobs) < page:
            return
        if budget is not None and offset - start >= budget.jobs:
            budget.stopped_at = offset
            return
