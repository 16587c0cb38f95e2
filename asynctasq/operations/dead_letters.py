"""Operations on dead letters: a queue's failed jobs counted by task and error type
(the dashboard's dead-letter page). A broker that can aggregate counts every failed
job in one indexed step (the SQL drivers, memory); another reads the newest
``budget`` of them and says so (``counted`` of ``total``): no page waits on a walk
of a million jobs.
"""

from __future__ import annotations

from dataclasses import dataclass

from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import FAILED_GROUPS_BUDGET, Inspection, require

__all__ = ["DeadLetterGroup", "QueueDeadLetters", "dead_letter_groups"]


@dataclass(frozen=True, slots=True)
class DeadLetterGroup:
    queue: str
    task: str
    #: the error's type (asynctasq.drivers.overviews.error_kind; "-" for none)
    kind: str
    count: int


@dataclass(frozen=True, slots=True)
class QueueDeadLetters:
    queue: str
    groups: list[DeadLetterGroup]
    #: failed jobs counted, of ``total``: fewer when the broker cannot aggregate
    counted: int
    total: int

    @property
    def exact(self) -> bool:
        return self.counted >= self.total


async def dead_letter_groups(
    driver: Driver, *, budget: int = FAILED_GROUPS_BUDGET
) -> list[QueueDeadLetters]:
    """Each queue holding failed jobs, with its groups, largest first."""
    inspect = require(driver, Inspection, "grouping dead letters")
    out = []
    for queue in await inspect.queues():
        stats, _ = await inspect.estimated_stats(queue)  # (only: are there any?)
        if not stats.failed:
            continue
        found = await inspect.failed_groups(queue, budget=budget)
        groups = [
            DeadLetterGroup(queue, task, kind, count)
            for (task, kind), count in found.groups.items()
        ]
        groups.sort(key=lambda g: (-g.count, g.task, g.kind))
        out.append(QueueDeadLetters(queue, groups, found.counted, found.total))
    return out
