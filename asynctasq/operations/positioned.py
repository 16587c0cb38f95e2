"""Walking a listing by position (``Inspection.list_from``): each page read from the
broker's index just after the last job of the one before, so page 500 of a million
pending jobs costs what page 1 does (scan.py states the design).

The listing of one state is that state's own order. The listing of every state is
the states one after another in ``STATE_ORDER``, each read to its end: a position
belongs to one state, so the cursor carries the state with it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from asynctasq.drivers.capabilities import Inspection
from asynctasq.drivers.positions import Position
from asynctasq.jobs import Job, JobState
from asynctasq.operations.cursors import KeyCursor

__all__ = ["STATE_ORDER", "Unpositioned", "listing_states", "positioned_jobs"]

#: the listing of every state by position: waiting ones in the order they go through
#: a queue, then the finished ones
STATE_ORDER = (
    JobState.PENDING,
    JobState.SCHEDULED,
    JobState.BLOCKED,
    JobState.ACTIVE,
    JobState.COMPLETED,
    JobState.FAILED,
    JobState.CANCELLED,
    JobState.EXPIRED,
)


class Unpositioned(Exception):
    """The driver has no positions (``list_from`` answered None): page by offset."""


def listing_states(state: JobState | None, start: KeyCursor | None) -> tuple[JobState, ...]:
    """The states a listing of ``state`` (None: every state) reads from ``start`` on;
    ValueError for a cursor of another listing."""
    states = STATE_ORDER if state is None else (state,)
    if start is None:
        return states
    at = start.state if start.state is not None else state  # a "p" cursor: its own state
    if at is None or at not in states:
        raise ValueError("invalid cursor: it belongs to a listing of another state")
    return states[states.index(at) :]


async def positioned_jobs(
    inspect: Inspection,
    queue: str,
    state: JobState | None,
    *,
    start: KeyCursor | None,
    page: int,
    reverse: bool = False,
) -> AsyncGenerator[tuple[JobState, Position, Job]]:
    """(state, position, job) of every job of the listing after ``start``, read
    ``page`` jobs per call. Raises Unpositioned before the first job when the driver
    has no positions."""
    if reverse and state is None:
        raise ValueError("a reversed listing needs a state")
    after = None if start is None else start.position
    asked = False
    for current in listing_states(state, start):
        while True:
            batch = await inspect.list_from(
                queue, current, after=after, limit=page, reverse=reverse
            )
            if batch is None:
                if asked:  # (a driver answers for every state or none)
                    raise ValueError(f"the driver has no positions in {current.value}")
                raise Unpositioned
            asked = True
            for position, job in batch:
                yield current, position, job
            if len(batch) < page:
                break
            after = batch[-1][0]
        after = None  # the next state from its start
