"""SQLite: the embedded default. Nothing to install or run; one file, WAL mode.

Several worker processes may share the file: every claim is one ``BEGIN IMMEDIATE``
transaction, so two workers never take the same job. All work of one driver runs
on one thread that owns the connection, and each driver call is one hop to it.
Idle workers notice jobs written by other processes through ``PRAGMA
data_version`` (a cheap read of the WAL header), polled adaptively.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from asynctasq.config import Config
from asynctasq.drivers.base import (
    LEASE_EXPIRED_ERROR,
    Driver,
    DriverNotConnected,
    TransactionalEnqueueUnsupported,
)
from asynctasq.drivers.sql.loader import load_migrations, load_queries, split_statements
from asynctasq.drivers.sql.rows import job_from_row, job_params
from asynctasq.jobs import (
    Completed,
    Failed,
    Job,
    JobState,
    Outcome,
    QueueStats,
    Released,
    Retried,
    WorkerInfo,
)

__all__ = ["SQLiteDriver"]

R = TypeVar("R")
Q = load_queries("sqlite")
_POLL_MIN, _POLL_MAX = 0.005, 0.05


class SQLiteDriver(Driver):
    name = "sqlite"

    def __init__(
        self,
        path: str | Path = "asynctasq.db",
        *,
        keep_completed: bool = False,
        busy_timeout: float = 30.0,
    ) -> None:
        self.path = str(path)
        self.keep_completed = keep_completed
        self.busy_timeout = busy_timeout
        self._db: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._local_wakeup = asyncio.Event()

    @classmethod
    def from_config(cls, config: Config) -> SQLiteDriver:
        return cls(config.sqlite_path, keep_completed=config.keep_completed_tasks)

    def __repr__(self) -> str:
        return f"<SQLiteDriver {self.path}>"

    # -- plumbing ----------------------------------------------------------------------

    async def _call(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        if self._db is None or self._thread is None:
            raise DriverNotConnected(self.name)
        db = self._db
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, db)

    @staticmethod
    def _write(db: sqlite3.Connection, fn: Callable[[sqlite3.Connection], R]) -> R:
        """Run ``fn`` in one writer transaction (BEGIN IMMEDIATE: no upgrade deadlocks)."""
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    async def connect(self) -> None:
        if self._db is not None:
            return
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="asynctasq-sqlite")

        def open_db() -> sqlite3.Connection:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout
            )
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode survives a killed process; only an OS crash or power
            # loss can undo the last commits (never corrupts the file)
            db.execute("PRAGMA synchronous = NORMAL")
            return db

        loop = asyncio.get_running_loop()
        self._db = await loop.run_in_executor(self._thread, open_db)
        await self.migrate()

    async def disconnect(self) -> None:
        if self._db is None or self._thread is None:
            return
        db, thread = self._db, self._thread
        self._db = None
        await asyncio.get_running_loop().run_in_executor(thread, db.close)
        thread.shutdown(wait=True)
        self._thread = None

    async def migrate(self) -> list[str]:
        migrations = load_migrations("sqlite")

        def apply(db: sqlite3.Connection) -> list[str]:
            db.execute(Q["create_migrations_table"])
            done = {row[0] for row in db.execute(Q["applied_migrations"])}
            applied = []
            for migration in migrations:
                if migration.version in done:
                    continue
                for statement in split_statements(migration.sql):
                    db.execute(statement)
                db.execute(Q["record_migration"], (migration.version, migration.name, time.time()))
                applied.append(f"{migration.version:04d}_{migration.name}")
            return applied

        return await self._call(lambda db: self._write(db, apply))

    # -- worker side -------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[Job], *, connection: Any = None) -> list[str]:
        if connection is not None:
            raise TransactionalEnqueueUnsupported(self.name)
        if not jobs:
            return []

        def insert(db: sqlite3.Connection) -> list[str]:
            for queue in {job.queue for job in jobs}:
                db.execute(Q["register_queue"], (queue,))
            db.executemany(Q["insert_job"], [job_params(job) for job in jobs])
            ids = [job.id for job in jobs]
            for i, job in enumerate(jobs):
                if job.unique_key:  # may have been ignored: report the job that holds the key
                    row = db.execute(Q["unfinished_by_unique_key"], (job.unique_key,)).fetchone()
                    if row is not None:
                        ids[i] = row[0]
            return ids

        ids = await self._call(lambda db: self._write(db, insert))
        self._wake_local()
        return ids

    def _wake_local(self) -> None:
        self._local_wakeup.set()
        self._local_wakeup = asyncio.Event()

    async def reserve(
        self,
        queues: Sequence[str],
        *,
        limit: int,
        worker_id: str,
        lease_seconds: float,
        wait: float = 0.0,
    ) -> list[Job]:
        queues = list(dict.fromkeys(queues))
        deadline = time.monotonic() + wait
        poll = _POLL_MIN
        while True:
            local = self._local_wakeup
            jobs, next_due, version = await self._call(
                lambda db: self._claim(db, queues, limit, worker_id, lease_seconds)
            )
            if jobs or time.monotonic() >= deadline:
                return jobs
            # sleep until woken here, a due time, or a change by another process
            while True:
                pause = min(poll, deadline - time.monotonic())
                if next_due is not None:
                    pause = min(pause, max(next_due - time.time(), 0.0))
                if pause > 0:
                    try:
                        await asyncio.wait_for(local.wait(), pause)
                        break
                    except TimeoutError:
                        pass
                if time.monotonic() >= deadline or (
                    next_due is not None and next_due <= time.time()
                ):
                    break
                if await self._call(_data_version) != version:
                    poll = _POLL_MIN
                    break
                poll = min(poll * 2, _POLL_MAX)

    def _claim(
        self, db: sqlite3.Connection, queues: list[str], limit: int, worker_id: str, lease: float
    ) -> tuple[list[Job], float | None, int]:
        def candidates() -> list[str]:
            now = time.time()
            rows = []
            for queue in queues:
                params = {"queue": queue, "now": now, "limit": limit}
                rows.extend(db.execute(Q["claim_candidates"], params).fetchall())
            rows.sort(key=lambda r: (r["priority"], r["run_at"], r["id"]))
            return [r["id"] for r in rows[:limit]]

        if not candidates():  # a read, so idle polling never takes the write lock
            next_due = db.execute(Q["next_due"], {"queues": json.dumps(queues)}).fetchone()[0]
            return [], next_due, _data_version(db)

        def claim(db: sqlite3.Connection) -> list[Job]:
            ids = candidates()  # again, under the lock
            now = time.time()
            params = {"ids": json.dumps(ids), "worker_id": worker_id, "lease_until": now + lease}
            rows = db.execute(Q["claim"], params).fetchall()
            jobs = [job_from_row(row, now) for row in rows]
            jobs.sort(key=lambda j: (j.priority, j.run_at, j.id))
            return jobs

        return self._write(db, claim), None, 0

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []
        keep = self.keep_completed

        def apply(db: sqlite3.Connection) -> list[bool]:
            now = time.time()
            accepted = []
            for o in outcomes:
                params: dict[str, Any] = {
                    "id": o.job_id,
                    "worker_id": o.worker_id,
                    "attempt": o.attempt,
                    "now": now,
                }
                match o:
                    case Completed(result=result):
                        query = "complete_keep" if keep else "complete_delete"
                        params["result"] = result
                    case Retried(run_at=run_at, error=error):
                        query = "retry"
                        params.update(run_at=run_at, error=error)
                    case Failed(error=error):
                        query, params["error"] = "fail", error
                    case Released():
                        query = "release"
                    case _:
                        raise TypeError(f"unknown outcome {o!r}")
                accepted.append(db.execute(Q[query], params).rowcount == 1)
            return accepted

        result = await self._call(lambda db: self._write(db, apply))
        if any(isinstance(o, Retried | Released) for o in outcomes):
            self._wake_local()
        return result

    async def renew(
        self, worker_id: str, job_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        if not job_ids:
            return []
        params = {
            "ids": json.dumps(list(job_ids)),
            "worker_id": worker_id,
            "lease_until": time.time() + lease_seconds,
        }

        def renew(db: sqlite3.Connection) -> list[str]:
            return [row[0] for row in db.execute(Q["renew"], params).fetchall()]

        return await self._call(lambda db: self._write(db, renew))

    async def recover_expired(self) -> int:
        def recover(db: sqlite3.Connection) -> int:
            now = time.time()
            if db.execute(Q["any_expired"], {"now": now}).fetchone() is None:
                return 0
            params = {"now": now, "error": LEASE_EXPIRED_ERROR}
            return self._write(db, lambda db: db.execute(Q["recover_expired"], params).rowcount)

        moved = await self._call(recover)
        if moved:
            self._wake_local()
        return moved

    # -- operator side -----------------------------------------------------------------

    async def stats(self, queue: str) -> QueueStats:
        def read(db: sqlite3.Connection) -> QueueStats:
            counts = dict.fromkeys(
                ("depth", "processing", "scheduled", "completed", "failed", "cancelled"), 0
            )
            key = {
                "active": "processing",
                "completed": "completed",
                "failed": "failed",
                "cancelled": "cancelled",
            }
            for state, future, count in db.execute(
                Q["stats"], {"queue": queue, "now": time.time()}
            ):
                if state == "pending":
                    counts["scheduled" if future else "depth"] += count
                elif state in key:
                    counts[key[state]] += count
            row = db.execute(Q["is_paused"], (queue,)).fetchone()
            return QueueStats(queue=queue, paused=bool(row and row[0]), **counts)

        return await self._call(read)

    async def queues(self) -> list[str]:
        return await self._call(lambda db: [r[0] for r in db.execute(Q["queues"])])

    async def get(self, job_id: str) -> Job | None:
        def read(db: sqlite3.Connection) -> Job | None:
            row = db.execute(Q["get"], (job_id,)).fetchone()
            return None if row is None else job_from_row(row, time.time())

        return await self._call(read)

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

        def read(db: sqlite3.Connection) -> list[Job]:
            return [job_from_row(row, now) for row in db.execute(Q[query], params)]

        return await self._call(read)

    async def cancel(self, job_id: str) -> bool:
        params = {"id": job_id, "now": time.time()}
        return await self._call(
            lambda db: self._write(db, lambda db: db.execute(Q["cancel"], params).rowcount == 1)
        )

    async def requeue(self, job_id: str) -> bool:
        params = {"id": job_id, "now": time.time()}
        done = await self._call(
            lambda db: self._write(db, lambda db: db.execute(Q["requeue"], params).rowcount == 1)
        )
        if done:
            self._wake_local()
        return done

    async def purge(self, queue: str, state: JobState, *, older_than: float | None = None) -> int:
        if state is JobState.ACTIVE:
            raise ValueError("active jobs cannot be purged: cancel or wait for them")
        params: dict[str, Any] = {"queue": queue, "older_than": older_than, "now": time.time()}
        if state in (JobState.PENDING, JobState.SCHEDULED):
            query, params["future"] = "purge_pending", state is JobState.SCHEDULED
        else:
            query, params["state"] = "purge_finished", state.value
        return await self._call(
            lambda db: self._write(db, lambda db: db.execute(Q[query], params).rowcount)
        )

    async def _set_paused(self, queue: str, paused: bool) -> None:
        params = {"queue": queue, "paused": int(paused)}
        await self._call(lambda db: self._write(db, lambda db: db.execute(Q["set_paused"], params)))

    async def pause(self, queue: str) -> None:
        await self._set_paused(queue, True)

    async def resume(self, queue: str) -> None:
        await self._set_paused(queue, False)
        self._wake_local()

    async def set_progress(self, job_id: str, worker_id: str, progress: float) -> bool:
        params = {"id": job_id, "worker_id": worker_id, "progress": progress}
        return await self._call(
            lambda db: self._write(
                db, lambda db: db.execute(Q["set_progress"], params).rowcount == 1
            )
        )

    # -- worker registry ---------------------------------------------------------------

    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        now = time.time()
        record = dataclasses.asdict(dataclasses.replace(info, last_seen=now))
        params = {"worker_id": info.worker_id, "info": json.dumps(record), "expires_at": now + ttl}

        def beat(db: sqlite3.Connection) -> None:
            db.execute(Q["heartbeat"], params)
            db.execute(Q["forget_dead_workers"], (now,))

        await self._call(lambda db: self._write(db, beat))

    async def remove_worker(self, worker_id: str) -> None:
        await self._call(
            lambda db: self._write(db, lambda db: db.execute(Q["remove_worker"], (worker_id,)))
        )

    async def list_workers(self) -> list[WorkerInfo]:
        def read(db: sqlite3.Connection) -> list[WorkerInfo]:
            rows = db.execute(Q["live_workers"], (time.time(),)).fetchall()
            return [_worker_info(json.loads(row[0])) for row in rows]

        return await self._call(read)


def _data_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA data_version").fetchone()[0])


def _worker_info(data: dict[str, Any]) -> WorkerInfo:
    data["queues"] = tuple(data["queues"])
    return WorkerInfo(**data)
