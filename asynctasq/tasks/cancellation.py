"""Which jobs running in this process were cancelled (docs/flow-control.md).

The worker marks a job here when the broker reports it cancelled mid-run, before it
cancels the job's coroutine; ``BaseTask.is_cancelled()`` reads it, so a blocking body
in a thread, which cannot be interrupted, can check and stop early. The mark stays
after the worker has moved on (the thread may still be running), so the newest
``KEPT`` marks are kept, the oldest dropped. Plain dict operations: safe between the
worker's loop and the task's thread.
"""

from __future__ import annotations

__all__ = ["KEPT", "is_marked", "mark_cancelled"]

#: marks kept (a cancelled thread body outliving this many later cancellations is
#: not told any more: it runs to its end, its outcome discarded all the same)
KEPT = 10_000

_cancelled: dict[str, None] = {}  # insertion-ordered: the oldest go first


def mark_cancelled(job_id: str) -> None:
    _cancelled[job_id] = None
    while len(_cancelled) > KEPT:
        del _cancelled[next(iter(_cancelled))]


def is_marked(job_id: str) -> bool:
    return job_id in _cancelled
