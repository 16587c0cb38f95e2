"""The claim: up to ``limit`` due jobs locked with ``FOR UPDATE SKIP LOCKED`` and marked
active in one transaction. Every row is checked as stored before it is claimed; a
damaged one (faults.py) is dead-lettered with the reason in the same transaction, and
the rest of the batch is served."""

from __future__ import annotations

from asynctasq.drivers.mysql.session import Session, Step
from asynctasq.drivers.mysql.statements import Q
from asynctasq.drivers.sql.faults import dead_letter_reason
from asynctasq.drivers.sql.rows import as_claimed, stored_job
from asynctasq.jobs import Job

__all__ = ["claim"]

#: the columns the claim does not read, as a pending job has them
_UNREAD = {"state": "pending", "worker_id": None, "lease_until": None, "result": None}


async def claim(
    session: Session,
    queues: list[str],
    limit: int,
    worker_id: str,
    lease_seconds: float,
    now: float,
) -> list[Job]:
    steps: list[Step] = [
        (Q["claim"], {"queue": queue, "now": now, "limit": limit}) for queue in queues
    ]
    rows = [row for result in await session.batch(*steps, dicts=True) for row in result.rows]
    if not rows:
        return []
    if len(queues) > 1:  # rows past the limit stay locked only until COMMIT
        rows.sort(key=lambda r: (r["priority"], r["run_at"], r["id"]))
        del rows[limit:]
    lease_until = now + lease_seconds
    jobs, steps = [], []
    for row in rows:
        row.update(_UNREAD, finished_at=None)
        job = stored_job(row)
        reason = dead_letter_reason(job)
        if reason is not None:
            steps.append((Q["dead_letter_corrupt"], {"id": row["id"], "error": reason, "now": now}))
        else:
            jobs.append(as_claimed(job, worker_id, lease_until))
    if jobs:
        ids = [job.id for job in jobs]
        mark = {"ids": ids, "worker_id": worker_id, "lease_until": lease_until}
        steps.append((Q["mark_claimed"], mark))
    await session.batch(*steps, commit=True)
    return jobs
