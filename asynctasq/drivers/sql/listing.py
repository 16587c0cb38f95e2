"""Operator queries every SQL driver answers the same way: which named query lists or
purges the jobs of a state, and how per-state counts become ``QueueStats``.

The names refer to each dialect's ``queries.sql``: ``list_all``, ``list_pending``,
``list_state``, ``list_finished``, ``purge_pending`` and ``purge_finished``; pending
queries take ``future`` (scheduled or due), the others ``state``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from asynctasq.jobs import JobState, QueueStats

__all__ = ["list_query", "purge_query", "queue_stats"]

_WAITING = (JobState.PENDING, JobState.SCHEDULED)
_STAT_FIELDS = {
    JobState.ACTIVE: "processing",
    JobState.COMPLETED: "completed",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "cancelled",
}


def list_query(state: JobState | None) -> tuple[str, dict[str, Any]]:
    """The query listing jobs in ``state`` (None: all), with its own parameters."""
    if state is None:
        return "list_all", {}
    if state in _WAITING:
        return "list_pending", {"future": state is JobState.SCHEDULED}
    return ("list_finished" if state.finished else "list_state"), {"state": state.value}


def purge_query(state: JobState) -> tuple[str, dict[str, Any]]:
    """The query deleting jobs in ``state``, with its own parameters."""
    if state is JobState.ACTIVE:
        raise ValueError("active jobs cannot be purged: cancel or wait for them")
    if state in _WAITING:
        return "purge_pending", {"future": state is JobState.SCHEDULED}
    return "purge_finished", {"state": state.value}


def queue_stats(queue: str, counts: Iterable[tuple[str, Any, int]], paused: bool) -> QueueStats:
    """``QueueStats`` from rows of (stored state, run_at in the future, count)."""
    fields = dict.fromkeys(
        ("depth", "processing", "scheduled", "completed", "failed", "cancelled"), 0
    )
    for state, future, n in counts:
        if state == JobState.PENDING:
            fields["scheduled" if future else "depth"] += int(n)
        elif (name := _STAT_FIELDS.get(JobState(state))) is not None:
            fields[name] += int(n)
    return QueueStats(queue=queue, paused=paused, **fields)
