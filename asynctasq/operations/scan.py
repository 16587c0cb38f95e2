"""Walking a queue's jobs page by page, with the filters no driver is asked to know
(task name, age, text), and an opaque cursor (cursors.py encodes it).

Drivers list waiting jobs in claim order and finished ones newest first. A page is
read one of two ways:

* By position (positioned.py), where the driver has ``Inspection.list_from`` (memory,
  SQLite, Redis, PostgreSQL, MySQL, MongoDB): the cursor holds the sort key of the last job
  of the page (pending: priority, run time and id on SQL, the ready set's score and
  member on Redis; finished: finish time and id...), and the next page is a range
  read of the broker's index from just after it, so page 500 of a million pending
  jobs costs what page 1 does, and a job is neither shown twice nor skipped when
  the jobs before it are claimed meanwhile. The listing of every state (no state
  filter) reads the states one after another, each to its end, in a fixed order:
  pending, scheduled, blocked, active, completed, failed, cancelled, expired; the
  cursor carries the state with the position. (Merging the states into one order
  would make every page read a page of each of them, and a cursor hold a position
  in each.) ``reverse`` reads one state from its other end (a state is needed).
* By offset (``matching_jobs`` below), where the driver has no positions (a
  third-party driver without ``list_from``): the cursor is the offset, stable enough
  for an operator paging through a queue that changes under them (a job may show
  twice or be skipped when others move; ``job list`` is a view, not a snapshot), and
  each page walks the offset.

Cursors printed before positions existed still work: an offset cursor pages on by
offset, a finished job's position (``p``) pages on by position. A listing of one
finished state stops at the first job older than ``since``: the rest are older
still. A page reads at most a budget of jobs (a filter that matches few of a million
must not hold the command for minutes): it may come back short, with a cursor to
read on.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from asynctasq.drivers.capabilities import Inspection
from asynctasq.jobs import Job, JobState
from asynctasq.operations.cursors import decode_any, decode_cursor, encode_cursor, encode_position
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
