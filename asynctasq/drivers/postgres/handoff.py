"""Claiming in a settle's round trip (``Driver.settle_and_claim``).

The children a settle releases go to the worker reporting it, claimed in the settle
statement itself (queries.sql: settle, taken), as that worker's claim would have taken
them. Without it a child starts after its parent's settle, the NOTIFY it sends, and
a claim of its own: three steps on the path from a parent's end to its child's start
instead of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asynctasq.drivers.base import ClaimRequest

__all__ = ["NO_CLAIM", "Handoff"]

#: $11..$14 of the settle statement when it claims nothing
NO_CLAIM: tuple[Any, ...] = ([], 0, None, None)


class Handoff:
    """One settle_and_claim or settle_bounded call: the room its statements may still
    fill, the rows they claimed (a batch the broker refuses in part is settled in
    several), its bound on the children a statement releases, and the ids of the
    completions the statements left for a later call."""

    def __init__(
        self,
        request: ClaimRequest | None,
        worker_id: str | None,
        lease_until: float | None,
        *,
        bound: int | None,
    ) -> None:
        self.queues = [] if request is None else list(request.queues)
        self.room = 0 if request is None else request.limit
        self.worker_id = worker_id
        self.lease_until = lease_until
        self.rows: list[Sequence[Any]] = []
        self.bound = bound
        self.left: set[str] = set()

    def args(self) -> tuple[Any, ...]:
        """$11..$14 of the settle statement."""
        if self.room <= 0 or not self.queues:
            return NO_CLAIM
        return (self.queues, self.room, self.worker_id, self.lease_until)

    def took(self, rows: Sequence[Sequence[Any]]) -> None:
        self.rows.extend(rows)
        self.room -= len(rows)

    def positions_left(self, outcomes: Sequence[Any]) -> list[int]:
        """Where the outcomes left for later are in the call's batch."""
        if not self.left:
            return []
        return [i for i, outcome in enumerate(outcomes) if outcome.job_id in self.left]
