"""Operations on queues: summaries, pause and resume, and cleaning old jobs in
batches (each batch one bounded purge, so the broker is never held for long)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection, Management, Pausing, require
from asynctasq.jobs import JobState
from asynctasq.operations.jobs import Progress
from asynctasq.operations.rate_limits import queue_rate_limits, rate_limit_record
from asynctasq.operations.scan import JobFilter, matching_jobs, stamp
from asynctasq.operations.schema import queue_record

__all__ = ["CleanResult", "clean_queue", "pause_queue", "queue_summaries", "resume_queue"]

#: most finished jobs read to count a queue's last minute (a busier queue shows this)
RATE_SCAN = 5000
#: QueueStats fields whose record key differs
_RECORD_KEYS = {"depth": "pending", "processing": "active"}
#: jobs one purge call of clean_queue aims to delete
CLEAN_BATCH = 1000


async def queue_summaries(
    driver: Driver, queues: Sequence[str] = (), *, estimate: bool = False
) -> list[dict[str, Any]]:
    """Every queue (or those named): counts per state, paused flag, how long the next
    pending job has waited, and how many jobs completed in the last minute (counted
    from kept completed jobs, up to RATE_SCAN: 0 when the broker keeps none).
    ``estimate``: a driver may estimate a state holding very many jobs (the record's
    ``approximate`` maps those counts to "about" or "more than"), so a page stays fast
    on a million jobs."""
    inspect = require(driver, Inspection, "summarising queues")
    names = list(queues) or await inspect.queues()
    limits = await queue_rate_limits(driver)
    now = time.time()
    rows = []
    for name in names:
        if estimate:
            stats, estimated = await inspect.estimated_stats(name)
        else:
            stats, estimated = await inspect.stats(name), {}
        head = await inspect.list_jobs(name, JobState.PENDING, limit=1)
        oldest = max(0.0, now - head[0].run_at) if head else None
        count = await inspect.count_finished_since(
            name, JobState.COMPLETED, now - 60.0, cap=RATE_SCAN
        )
        record = queue_record(stats, oldest_age=oldest, per_minute=count)
        # the counts that are estimates (keys of the record)
        record["approximate"] = {_RECORD_KEYS.get(f, f): w for f, w in sorted(estimated.items())}
        record["rate_limit"] = rate_limit_record(limits.get(name))
        rows.append(record)
    return rows


async def pause_queue(driver: Driver, queue: str) -> None:
    await require(driver, Pausing, "pausing a queue").pause(queue)


async def resume_queue(driver: Driver, queue: str) -> None:
    await require(driver, Pausing, "resuming a queue").resume(queue)


@dataclass(slots=True)
class CleanResult:
    queue: str
    state: str
    matched: int = 0
    deleted: int = 0
    dry_run: bool = False


async def clean_queue(
    driver: Driver,
    queue: str,
    state: JobState,
    *,
    older_than: float,
    dry_run: bool = False,
    progress: Progress | None = None,
    batch: int = CLEAN_BATCH,
) -> CleanResult:
    """Delete the jobs of ``queue`` in ``state`` older than ``older_than`` seconds
    (finished that long ago; waiting ones: created). The matching jobs are counted
    first; then the purge walks their time span from the oldest in slices of about
    ``batch`` jobs, one purge per slice."""
    if state is JobState.ACTIVE:
        raise ValueError("active jobs cannot be cleaned: cancel them or wait")
    inspect = require(driver, Inspection, "cleaning a queue")
    manage = require(driver, Management, "cleaning a queue")
    cutoff = time.time() - older_than
    stamps = [
        stamp(job)
        async for _, job in matching_jobs(inspect, JobFilter(queue, state))
        if stamp(job) < cutoff
    ]
    result = CleanResult(queue, state.value, matched=len(stamps), dry_run=dry_run)
    if dry_run or not stamps:
        return result
    stamps.sort()
    slices = math.ceil(len(stamps) / batch)
    # each bound just above the stamp of the last job of its slice
    bounds = [
        math.nextafter(stamps[min(i * batch, len(stamps)) - 1], math.inf)
        for i in range(1, slices + 1)
    ]
    bounds[-1] = cutoff
    if progress is not None:
        progress(0, len(stamps))
    for bound in bounds:
        result.deleted += await manage.purge(queue, state, older_than=bound)
        if progress is not None:
            progress(min(result.deleted, len(stamps)), len(stamps))
    return result
