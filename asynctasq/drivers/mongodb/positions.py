"""Pages of one state from a position (``Inspection.list_from``) on MongoDB: the
listing's own sort, and a filter for the documents after the position, spelled as
the ranges an index serves (waiting jobs: (queue, state, priority, run_at, _id), the
claim index; finished ones: (queue, state, finished_at)).

Positions: (priority, run_at, id) of a waiting job, (finish time, id) of a finished
one, as on the SQL brokers.
"""

from __future__ import annotations

from typing import Any

from asynctasq.drivers.mongodb.documents import claim_order
from asynctasq.drivers.positions import Position, check_position
from asynctasq.jobs import Job, JobState

__all__ = ["after_filter", "position_kinds", "position_of", "positioned_sort"]


def position_kinds(state: JobState) -> tuple[str, ...]:
    return ("float", "str") if state.finished else ("int", "float", "str")


def position_of(job: Job) -> Position:
    if job.state.finished:
        return (job.finished_at or 0.0, job.id)
    return (job.priority, job.run_at, job.id)


def positioned_sort(state: JobState, reverse: bool) -> list[tuple[str, int]]:
    """The listing's order (finished jobs newest first), or its reverse."""
    order = [("finished_at", -1), ("_id", 1)] if state.finished else list(claim_order)
    return [(field, -way) for field, way in order] if reverse else order


def after_filter(state: JobState, after: Position | None, reverse: bool) -> dict[str, Any]:
    """The documents past ``after`` (checked: ValueError when it does not fit) in the
    order positioned_sort gives; {} for none."""
    mark = check_position(after, position_kinds(state))
    if mark is None:
        return {}
    fields = [field for field, _ in positioned_sort(state, reverse)]
    ways = [way for _, way in positioned_sort(state, reverse)]
    # (a, b, c) after (x, y, z): a past x, or a = x and b past y, or a = x, b = y, c past z
    clauses = []
    for depth in range(len(fields)):
        clause: dict[str, Any] = {fields[i]: mark[i] for i in range(depth)}
        clause[fields[depth]] = {"$gt" if ways[depth] == 1 else "$lt": mark[depth]}
        clauses.append(clause)
    return {"$or": clauses}
