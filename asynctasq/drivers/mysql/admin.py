"""The operator side of the MySQL driver: stats, listings, cancel, requeue, purge,
pause, progress and the worker registry."""

from __future__ import annotations

import dataclasses
import json
import time

from asynctasq.drivers.mysql.database import ER_DUP_ENTRY, Database, error_code
from asynctasq.drivers.mysql.session import Session
from asynctasq.drivers.mysql.statements import Q
from asynctasq.drivers.mysql.waiting import LocalWakeup
from asynctasq.drivers.sql.listing import list_query, purge_query, queue_stats
from asynctasq.drivers.sql.rows import job_from_row
from asynctasq.jobs import Job, JobState, QueueStats, WorkerInfo

__all__ = ["OperatorSide"]

#: rows one purge statement deletes, so a large purge never holds many locks at once
_PURGE_SLICE = 5000


class OperatorSide:
    _db: Database
    _wakeup: LocalWakeup

    async def stats(self, queue: str) -> QueueStats:
        async def read(session: Session) -> QueueStats:
            counts, paused = await session.batch(
                (Q["stats"], {"queue": queue, "now": time.time()}),
                (Q["is_paused"], {"queue": queue}),
            )
            return queue_stats(queue, counts.rows, bool(paused.rows and paused.rows[0][0]))

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
        query, params = list_query(state)
        params.update(queue=queue, limit=limit, offset=offset, now=now)
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
        query, params = purge_query(state)
        params.update(queue=queue, older_than=older_than, now=time.time(), limit=_PURGE_SLICE)
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
            record_it = {"worker_id": info.worker_id, "info": record, "expires_at": now + ttl}
            await session.batch(
                (Q["heartbeat"], record_it), (Q["forget_dead_workers"], {"now": now})
            )

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
