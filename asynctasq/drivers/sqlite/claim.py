"""The claim, and damaged records: SQLite stores any value in any column, so every
candidate is checked before it is claimed, and one that cannot run is dead-lettered
with the reason inside the same transaction while the rest of the batch is served.
Records no claim can reach (an unknown state, a run_at or lease that is not a finite
number) are found through a partial index that holds only them (``unreachable``)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from asynctasq.drivers.sql.faults import dead_letter_reason
from asynctasq.drivers.sql.rows import as_claimed, stored_job
from asynctasq.drivers.sqlite.connection import Q, data_version, write_in
from asynctasq.jobs import Job

__all__ = ["claim", "dead_letter_unreachable"]


def claim(
    db: sqlite3.Connection,
    queues: list[str],
    limit: int,
    worker_id: str,
    now: float,
    lease_until: float,
) -> tuple[list[Job], float | None, int]:
    """Claim up to ``limit`` due jobs; with none, when the next one is due and the
    file's data version (to notice writes by other processes)."""

    def candidates() -> list[int]:
        rows = []
        for queue in queues:  # one queue at a time: the claim index yields rows in order
            params = {"queue": queue, "now": now, "limit": limit}
            rows.extend(db.execute(Q["claim_candidates"], params).fetchall())
        if len(queues) > 1:
            rows.sort(key=_claim_order)
        return [r["rowid"] for r in rows[:limit]]

    if not candidates():  # a read, so idle polling never takes the write lock
        next_due = db.execute(Q["next_due"], {"queues": json.dumps(queues)}).fetchone()[0]
        if type(next_due) not in (int, float):
            next_due = None  # a damaged run_at: the unreachable sweep deals with it
        return [], next_due, data_version(db)

    def take(db: sqlite3.Connection) -> list[Job]:
        rows = db.execute(Q["claim_rows"], {"rowids": json.dumps(candidates())}).fetchall()
        jobs, taken = [], []
        for row in rows:
            job = stored_job(row)
            reason = dead_letter_reason(job)  # as stored: the claim overwrites some fields
            if reason is not None:
                _dead_letter(db, row["rowid"], reason, now)
                continue
            jobs.append(as_claimed(job, worker_id, lease_until))
            taken.append(row["rowid"])
        if taken:
            params = {
                "rowids": json.dumps(taken),
                "worker_id": worker_id,
                "lease_until": lease_until,
            }
            db.execute(Q["claim"], params)
        jobs.sort(key=lambda j: (j.priority, j.run_at, j.id))
        return jobs

    return write_in(db, take), None, 0


def _sortable(value: Any) -> tuple[int, Any]:
    # SQLite orders numbers before text before blobs; Python cannot compare across them
    if type(value) in (int, float):
        return 0, value
    return (1, value) if type(value) is str else (2, repr(value))


def _claim_order(row: Any) -> tuple[Any, ...]:
    return _sortable(row["priority"]), _sortable(row["run_at"]), _sortable(row["id"])


def _dead_letter(db: sqlite3.Connection, rowid: int, reason: str, now: float) -> None:
    db.execute(Q["dead_letter_corrupt"], {"rowid": rowid, "error": reason, "now": now})


def dead_letter_unreachable(db: sqlite3.Connection, now: float) -> int:
    """Dead-letter the damaged records no claim or recovery can reach; a read of an
    empty index while there are none. Returns how many moved."""
    if db.execute(Q["unreachable"]).fetchone() is None:
        return 0

    def move(db: sqlite3.Connection) -> int:
        moved = 0
        for row in db.execute(Q["unreachable"]).fetchall():
            reason = dead_letter_reason(stored_job(row))
            if reason is not None:  # the index's condition is a subset of what it names
                _dead_letter(db, row["rowid"], reason, now)
                moved += 1
        return moved

    return write_in(db, move)
