"""Operations on jobs: list, show, retry, cancel, remove (one, many, or every job a
filter matches). The CLI, the dashboard and scripts call these; each asks the driver
for the capability it needs, so every broker behaves the same or says what it lacks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import (
    Inspection,
    Management,
    Removal,
    RunningCancellation,
    require,
)
from asynctasq.drivers.positions import Position
from asynctasq.jobs import Job, JobState
from asynctasq.operations.cursors import KeyCursor, decode_any, encode_cursor, encode_key
from asynctasq.operations.positioned import Unpositioned, positioned_jobs
from asynctasq.operations.scan import PAGE, Budget, JobFilter, matching_jobs, stamp

__all__ = [
    "BulkResult",
    "JobPage",
    "Progress",
    "cancel_jobs",
    "list_jobs",
    "matching_ids",
    "remove_jobs",
    "remove_matching",
    "retry_jobs",
    "retry_matching",
    "show_job",
]

#: called as progress(done, total) while a bulk operation runs
Progress = Callable[[int, int], None]

#: operations in flight at once in a bulk action: enough to hide the round trip,
#: few enough to leave the broker's connections to the workers
CONCURRENCY = 32
#: ids per progress report
BATCH = 500
#: most jobs one page of list_jobs reads to fill itself (filters that match few)
SCAN_BUDGET = 20_000


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[Job]
    #: pass back as ``cursor`` for the next page; None on the last one
    next_cursor: str | None


@dataclass(slots=True)
class BulkResult:
    """What a bulk action did: how many ids it was given or matched, how many it
    changed, and the ids it could not change (unknown, or in a state that refuses)."""

    action: str
    matched: int = 0
    done: int = 0
    skipped: list[str] = field(default_factory=list)
    dry_run: bool = False


async def list_jobs(
    driver: Driver,
    where: JobFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
    scan_budget: int | None = None,
) -> JobPage:
    """Up to ``limit`` jobs ``where`` keeps, from ``cursor``: waiting ones in the order
    workers take them, finished ones newest first (every state: state by state, see
    scan.py). A filter the broker cannot apply
    (task, text) reads at most ``scan_budget`` jobs (default SCAN_BUDGET): the page
    may come back short, with a cursor to search further."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    inspect = require(driver, Inspection, "listing jobs")
    budget = Budget(max(SCAN_BUDGET if scan_budget is None else scan_budget, limit))
    filtered = where.task is not None or where.text is not None or where.since is not None
    # a filter the broker applies alone: read one more than the page, no more
    page = min(PAGE, budget.jobs) if filtered else limit + 1
    at = decode_any(cursor)
    if isinstance(at, KeyCursor) or at == 0:
        position = at if isinstance(at, KeyCursor) else None
        try:
            return await _page_by_position(inspect, where, position, limit, page, budget.jobs)
        except Unpositioned:
            pass  # the broker has no positions: by offset below
    if not isinstance(at, int):
        raise ValueError(f"invalid cursor {cursor!r}: this listing pages by offset")
    jobs: list[Job] = []
    next_offset = None
    async for offset, job in matching_jobs(inspect, where, start=at, page=page, budget=budget):
        if len(jobs) == limit:
            break  # one more exists: the page is not the last
        jobs.append(job)
        next_offset = offset
    else:
        next_offset = budget.stopped_at  # None: read to the end
    return JobPage(jobs, None if next_offset is None else encode_cursor(next_offset))


async def _page_by_position(
    inspect: Inspection,
    where: JobFilter,
    start: KeyCursor | None,
    limit: int,
    page: int,
    budget: int,
) -> JobPage:
    """A page read from the broker's index just after the cursor's position (raises
    Unpositioned when the broker has none)."""
    cutoff = where.cutoff(time.time())
    newest_first = where.state is not None and where.state.finished and not where.reverse
    jobs: list[Job] = []
    kept_at: tuple[JobState, Position] | None = None
    read = 0
    walk = positioned_jobs(
        inspect, where.queue, where.state, start=start, page=page, reverse=where.reverse
    )
    async with aclosing(walk):
        async for state, position, job in walk:
            if where.keeps(job, cutoff):
                if len(jobs) == limit:  # one more exists: the page is not the last
                    assert kept_at is not None
                    return JobPage(jobs, encode_key(*kept_at))
                jobs.append(job)
                kept_at = (state, position)
            elif newest_first and cutoff is not None and stamp(job) < cutoff:
                return JobPage(jobs, None)  # newest first: every later one is older
            read += 1
            if read >= budget:  # searched enough for one page: say where to go on
                return JobPage(jobs, encode_key(state, position))
    return JobPage(jobs, None)


async def show_job(driver: Driver, job_id: str) -> Job | None:
    return await require(driver, Inspection, "showing a job").get(job_id)


#: jobs read per listing call when selecting jobs for a bulk action
BULK_PAGE = 10_000


#: called as selected(jobs read, jobs matched) while a bulk action selects its jobs
Selected = Callable[[int, int], None]


async def matching_ids(
    driver: Driver, where: JobFilter, *, selected: Selected | None = None
) -> list[str]:
    """The ids of every job ``where`` keeps, read before anything changes them (a
    bulk action that changed jobs while paging would shift its own pages).
    ``selected`` hears how many jobs were read and matched after each batch."""
    inspect = require(driver, Inspection, "selecting jobs")
    ids: list[str] = []
    async for read, kept in _batches(inspect, where, BULK_PAGE):
        ids += [job.id for job in kept]
        if selected is not None:
            selected(read, len(ids))
    return ids


async def _batches(
    inspect: Inspection, where: JobFilter, page: int
) -> AsyncIterator[tuple[int, list[Job]]]:
    """(jobs read so far, the jobs of the batch ``where`` keeps), batch by batch to
    the end: by position where the broker has positions (a million jobs in pages of
    10,000, each as fast as the first), else by offset (big pages: each rereads the
    ones before it)."""
    cutoff = where.cutoff(time.time())
    newest_first = where.state is not None and where.state.finished and not where.reverse
    walk = positioned_jobs(
        inspect, where.queue, where.state, start=None, page=page, reverse=where.reverse
    )
    read, kept = 0, []
    try:
        async with aclosing(walk):
            async for _, _, job in walk:
                read += 1
                if where.keeps(job, cutoff):
                    kept.append(job)
                elif newest_first and cutoff is not None and stamp(job) < cutoff:
                    break  # newest first: every later one is older
                if read % page == 0:
                    yield read, kept
                    kept = []
        yield read, kept
        return
    except Unpositioned:
        pass  # no positions: by offset below
    read, kept = 0, []
    async for offset, job in matching_jobs(inspect, where, page=page):
        if offset // page != read // page and kept:  # a new page began: report the last
            yield read, kept
            kept = []
        kept.append(job)
        read = offset
    yield read, kept


async def retry_jobs(
    driver: Driver, ids: Sequence[str], *, progress: Progress | None = None
) -> BulkResult:
    """Failed, cancelled or expired jobs back to pending, attempts reset (same id,
    arguments and creation time)."""
    manage = require(driver, Management, "retrying jobs")
    return await _batched("retry", ids, manage.requeue_many, progress)


async def retry_matching(
    driver: Driver,
    where: JobFilter,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    selected: Selected | None = None,
) -> BulkResult:
    """Retry every job ``where`` keeps (default state: failed, the dead letters).
    The jobs are selected first (``selected`` hears how far), then retried
    (``progress`` hears how many)."""
    manage = require(driver, Management, "retrying jobs")
    if where.state is None:
        where = dataclasses.replace(where, state=JobState.FAILED)
    ids = await matching_ids(driver, where, selected=selected)
    if dry_run:
        return BulkResult("retry", matched=len(ids), dry_run=True)
    return await _batched("retry", ids, manage.requeue_many, progress)


async def remove_matching(
    driver: Driver,
    where: JobFilter,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    selected: Selected | None = None,
) -> BulkResult:
    """Delete every job ``where`` keeps, records and all. ``where`` must name a state
    (not active: a running job cannot be removed), so a filter left empty by mistake
    never empties a queue."""
    removal = require(driver, Removal, "removing jobs")
    if where.state is None:
        raise ValueError("removing every job of a filter needs a state (--state)")
    if where.state is JobState.ACTIVE:
        raise ValueError("active jobs cannot be removed: cancel them or wait")
    ids = await matching_ids(driver, where, selected=selected)
    if dry_run:
        return BulkResult("remove", matched=len(ids), dry_run=True)
    return await _each("remove", ids, removal.remove, progress)


async def cancel_jobs(
    driver: Driver, ids: Sequence[str], *, progress: Progress | None = None
) -> BulkResult:
    """Cancel jobs that have not started, and running ones where the broker can
    (capability RunningCancellation); a finished one is skipped."""
    manage = require(driver, Management, "cancelling jobs")
    return await _each("cancel", ids, _canceller(driver, manage), progress)


# -- cancelling running jobs (issue 16, docs/flow-control.md) --------------------------


def _canceller(driver: Driver, manage: Management) -> Callable[[str], Awaitable[bool]]:
    """``cancel``, then ``cancel_running`` for a job that had started already."""
    if not isinstance(driver, RunningCancellation):
        return manage.cancel
    running = driver

    async def cancel(job_id: str) -> bool:
        return await manage.cancel(job_id) or await running.cancel_running(job_id)

    return cancel


# --


async def remove_jobs(
    driver: Driver, ids: Sequence[str], *, progress: Progress | None = None
) -> BulkResult:
    """Delete jobs that are not active, records and all."""
    removal = require(driver, Removal, "removing jobs")
    return await _each("remove", ids, removal.remove, progress)


async def _each(
    action: str,
    ids: Sequence[str],
    apply: Callable[[str], Awaitable[bool]],
    progress: Progress | None,
) -> BulkResult:
    """``apply`` to every id, CONCURRENCY at a time."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(job_id: str) -> bool:
        async with gate:
            return await apply(job_id)

    async def batch(chunk: Sequence[str]) -> list[bool]:
        return list(await asyncio.gather(*(one(job_id) for job_id in chunk)))

    return await _batched(action, ids, batch, progress)


async def _batched(
    action: str,
    ids: Sequence[str],
    apply: Callable[[Sequence[str]], Awaitable[list[bool]]],
    progress: Progress | None,
) -> BulkResult:
    """``apply`` to every id, BATCH at a time (each batch a short piece of work for
    the broker, between which workers' calls get through), reporting after each."""
    ids = list(dict.fromkeys(ids))
    result = BulkResult(action, matched=len(ids))
    if progress is not None:
        progress(0, len(ids))
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        outcomes = await apply(batch)
        for job_id, ok in zip(batch, outcomes, strict=True):
            if ok:
                result.done += 1
            else:
                result.skipped.append(job_id)
        if progress is not None:
            progress(start + len(batch), len(ids))
    return result
