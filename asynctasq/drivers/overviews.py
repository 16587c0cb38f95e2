"""What a driver hands an operator's overview, beside single jobs: a page of flows
(``Flows.list_flows``) and a queue's failed jobs counted by task and error type
(``Inspection.failed_groups``).

``error_kind`` is the one definition of "error type" (a stored error's first line
up to its first colon, ``ValueError: boom`` -> ``ValueError``); the SQL drivers
compute the same in their GROUP BY (queries.sql: failed_groups), bounded to
``KIND_CHARS`` characters so an index can hold it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from asynctasq.jobs import Job

__all__ = [
    "FORGOTTEN",
    "KIND_CHARS",
    "NO_KIND",
    "FailedGroups",
    "FlowRecord",
    "error_kind",
    "group_failed",
]

#: the most characters of an error type kept (and indexed) for the grouping
KIND_CHARS = 100
#: the type of a failed job with no error text
NO_KIND = "-"
#: the state a job of a flow counts in once the broker forgot it
FORGOTTEN = "forgotten"


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """One stored flow: its id, when it was added, its jobs (id, name) in order, and
    when the broker counted them in one step, how many are in each state (a state's
    value, or ``FORGOTTEN``; None: the caller reads each job's outcome)."""

    flow_id: str
    created_at: float
    jobs: tuple[tuple[str, str | None], ...]
    states: dict[str, int] | None = None


@dataclass(slots=True)
class FailedGroups:
    """A queue's failed jobs by (task, error type) -> count. ``counted`` jobs were
    read of ``total`` failed (``counted < total``: the counts are of the newest
    ``counted`` only, the broker cannot aggregate them all in one cheap step)."""

    groups: dict[tuple[str, str], int] = field(default_factory=dict)
    counted: int = 0
    total: int = 0

    @property
    def exact(self) -> bool:
        return self.counted >= self.total


def error_kind(error: str | None) -> str:
    """A stored error's type: its first line up to the first colon (``NO_KIND`` for
    none), at most KIND_CHARS characters."""
    head = (error or "").split("\n", 1)[0].split(":", 1)[0][:KIND_CHARS]
    return head or NO_KIND


def group_failed(jobs: Iterable[Job], total: int) -> FailedGroups:
    """Count ``jobs`` (failed ones, read of ``total``) by task and error type."""
    found = FailedGroups(total=total)
    for job in jobs:
        key = (job.task, error_kind(job.error))
        found.groups[key] = found.groups.get(key, 0) + 1
        found.counted += 1
    found.total = max(found.total, found.counted)
    return found
