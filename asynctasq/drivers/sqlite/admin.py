"""The operator side of the SQLite driver: stats, listings, cancel, requeue, purge,
pause, progress and the worker registry."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from typing import Any

from asynctasq.drivers.sql.listing import list_query, purge_query, queue_stats
from asynctasq.drivers.sql.loader import load_queries
from asynctasq.drivers.sql.rows import job_from_row
from asynctasq.drivers.sqlite.connection import SQLiteConnection
from asynctasq.jobs import Job, JobState, QueueStats, WorkerInfo

__all__ = ["OperatorSide", "Q"]

Q = load_queries("sqlite")


class OperatorSide:
    _conn: SQLiteConnection

    def _wake_local(self) -> None:
        raise NotImplementedError

    async def _change(self, query: str, params: Any) -> int:
        """Run one statement in a writer transaction; the rows it changed."""
        return await self._conn.write(lambda db: db.execute(Q[query], params).rowcount)

    async def stats(self, queue: str) -> QueueStats:
        def read(db: sqlite3.Connection) -> QueueStats:
            counts = db.execute(Q["stats"], {"queue": queue, "now": time.time()}).fetchall()
            paused = db.execute(Q["is_paused"], (queue,)).fetchone()
            return queue_stats(queue, counts, bool(paused and paused[0]))

        return await self._conn.read(read)

    async def queues(self) -> list[str]:
        return await self._conn.read(lambda db: [r[0] for r in db.execute(Q["queues"])])

    async def get(self, job_id: str) -> Job | None:
        def read(db: sqlite3.Connection) -> Job | None:
            row = db.execute(Q["get"], (job_id,)).fetchone()
            return None if row is None else job_from_row(row, time.time())

        return await self._conn.read(read)

    async def list_jobs(
        self, queue: str, state: JobState | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        now = time.time()
        query, params = list_query(state)
        params.update(queue=queue, limit=limit, offset=offset, now=now)
        return await self._conn.read(
            lambda db: [job_from_row(row, now) for row in db.execute(Q[query], params)]
        )

    async def cancel(self, job_id: str) -> bool:
        return await self._change("cancel", {"id": job_id, "now": time.time()}) == 1

    async def requeue(self, job_id: str) -> bool:
        done = await self._change("requeue", {"id": job_id, "now": time.time()}) == 1
        if done:
            self._wake_local()
        return done

    async def purge(self, queue: str, state: JobState, *, older_than: float | None = None) -> int:
        query, params = purge_query(state)
        params.update(queue=queue, older_than=older_than, now=time.time())
        return await self._change(query, params)

    async def pause(self, queue: str) -> None:
        await self._change("set_paused", {"queue": queue, "paused": 1})

    async def resume(self, queue: str) -> None:
        await self._change("set_paused", {"queue": queue, "paused": 0})
        self._wake_local()

    async def set_progress(self, job_id: str, worker_id: str, progress: float) -> bool:
        params = {"id": job_id, "worker_id": worker_id, "progress": progress}
        return await self._change("set_progress", params) == 1

    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        now = time.time()
        record = dataclasses.asdict(dataclasses.replace(info, last_seen=now))
        params = {"worker_id": info.worker_id, "info": json.dumps(record), "expires_at": now + ttl}

        def beat(db: sqlite3.Connection) -> None:
            db.execute(Q["heartbeat"], params)
            db.execute(Q["forget_dead_workers"], (now,))

        await self._conn.write(beat)

    async def remove_worker(self, worker_id: str) -> None:
        await self._change("remove_worker", (worker_id,))

    async def list_workers(self) -> list[WorkerInfo]:
        def read(db: sqlite3.Connection) -> list[WorkerInfo]:
            rows = db.execute(Q["live_workers"], (time.time(),)).fetchall()
            return [_worker_info(json.loads(row[0])) for row in rows]

        return await self._conn.read(read)


def _worker_info(data: dict[str, Any]) -> WorkerInfo:
    data["queues"] = tuple(data["queues"])
    return WorkerInfo(**data)
