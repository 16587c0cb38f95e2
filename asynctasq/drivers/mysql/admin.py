"""The operator side of the MySQL driver: stats, listings, cancel, requeue, purge,
pause, progress and the worker registry."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from asynctasq.drivers.mysql.database import ER_DUP_ENTRY, Database, Session, error_code
from asynctasq.drivers.mysql.statements import Q
from asynctasq.drivers.mysql.waiting import LocalWakeup
from asynctasq.drivers.sql.rows import job_from_row
from asynctasq.jobs import Job, JobState, QueueStats, WorkerInfo

__all__ = ["OperatorSide"]

#: rows one purge statement deletes, so a large purge never holds many locks at once
_PURGE_SLICE = 5000
_STAT_FIELDS = {
    "active": "processing",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}


class OperatorSide:
    _db: Database
    _wakeup: LocalWakeup

    async def stats(self, queue: str) -> QueueStats:
        async def read(session: Session) -> QueueStats:
            counts = dict.fromkeys(
                ("depth", "processing", "scheduled", "completed", "failed", "cancelled"), 0
            )
            for state, future, n in await session.values(Q["stats"], queue=queue, now=time.time()):
                if state == JobState.PENDING:
                    counts["scheduled" if future else "depth"] += int(n)
                elif state in _STAT_FIELDS:
                    counts[_STAT_FIELDS[state]] += int(n)
            paused = await session.scalar(Q["is_paused"], queue=queue)
            return QueueStats(queue=queue, paused=bool(paused), **counts)

        return await self._db.run(read)

    async def queues(self) -> list[str]:
        rows = await self._db.run(lambda s: s.values(Q["queues"]))
        return [row[0] for row in rows]

    async def get(self, job_id: str) -> Job | None:
        rows = await self._db.run(lambda s: s.rows(Q["get"], id=job_id))
        return job_from_row(rows[0], time.time()) if rows else None

    async def list_jobs(
        self, queue: str, state: JobState | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        now = time.time()
        params: dict[str, Any] = {"queue": queue, "limit": limit, "offset": offset, "now": now}
        if state is None:
            query = "list_all"
        elif state in (JobState.PENDING, JobState.SCHEDULED):
            query, params["future"] = "list_pending", state is JobState.SCHEDULED
        else:
            query = "list_finished" if state.finished else "list_state"
            params["state"] = state.value
        rows = await self._db.run(lambda s: s.rows(Q[query], **params))
        return [job_from_row(row, now) for row in rows]

    async def cancel(self, job_id: str) -> bool:
        done = await self._db.run(lambda s: s.execute(Q["cancel"], id=job_id, now=time.time()))
        return done == 1

    async def requeue(self, job_id: str) -> bool:
        async def requeue(session: Session) -> bool:
            try:
                return await session.execute(Q["requeue"], id=job_id, now=time.time()) == 1
            except Exception as exc:
                if error_code(exc) == ER_DUP_ENTRY:
                    return False  # another unfinished job holds its unique key
                raise

        done = await self._db.run(requeue)
        if done:
            self._wakeup.wake()
        return done

    async def purge(self, queue: str, state: JobState, *, older_than: float | None = None) -> int:
        if state is JobState.ACTIVE:
            raise ValueError("active jobs cannot be purged: cancel or wait for them")
        params: dict[str, Any] = {
            "queue": queue,
            "older_than": older_than,
            "now": time.time(),
            "limit": _PURGE_SLICE,
        }
        if state in (JobState.PENDING, JobState.SCHEDULED):
            query, params["future"] = "purge_pending", state is JobState.SCHEDULED
        else:
            query, params["state"] = "purge_finished", state.value
        total = 0
        while True:
            deleted = await self._db.run(lambda s: s.execute(Q[query], **params))
            total += deleted
            if deleted < _PURGE_SLICE:
                return total

    async def _set_paused(self, queue: str, paused: bool) -> None:
        await self._db.run(lambda s: s.execute(Q["set_paused"], queue=queue, paused=paused))

    async def pause(self, queue: str) -> None:
        await self._set_paused(queue, True)

    async def resume(self, queue: str) -> None:
        await self._set_paused(queue, False)
        self._wakeup.wake()

    async def set_progress(self, job_id: str, worker_id: str, progress: float) -> bool:
        params = {"id": job_id, "worker_id": worker_id, "progress": progress}
        return await self._db.run(lambda s: s.execute(Q["set_progress"], **params)) == 1

    # -- worker registry ---------------------------------------------------------------

    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        now = time.time()
        record = json.dumps(dataclasses.asdict(dataclasses.replace(info, last_seen=now)))

        async def beat(session: Session) -> None:
            await session.execute(
                Q["heartbeat"], worker_id=info.worker_id, info=record, expires_at=now + ttl
            )
            await session.execute(Q["forget_dead_workers"], now=now)

        await self._db.run(beat)

    async def remove_worker(self, worker_id: str) -> None:
        await self._db.run(lambda s: s.execute(Q["remove_worker"], worker_id=worker_id))

    async def list_workers(self) -> list[WorkerInfo]:
        rows = await self._db.run(lambda s: s.values(Q["live_workers"], now=time.time()))
        workers = []
        for (text,) in rows:
            data = json.loads(text)
            data["queues"] = tuple(data["queues"])
            workers.append(WorkerInfo(**data))
        return workers
