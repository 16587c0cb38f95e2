"""SQLite: the embedded default. Nothing to install or run; one file, WAL mode.

Several worker processes may share the file: every claim is one ``BEGIN IMMEDIATE``
transaction, so two workers never take the same job. Idle workers notice jobs
written by other processes through ``PRAGMA data_version`` (a cheap read of the WAL
index), polled adaptively; jobs enqueued through the same driver wake them at once.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asynctasq.config import Config
from asynctasq.drivers.base import LEASE_EXPIRED_ERROR, Driver, TransactionalEnqueueUnsupported
from asynctasq.drivers.sql.loader import load_migrations, split_statements
from asynctasq.drivers.sql.rows import job_from_row, job_params
from asynctasq.drivers.sqlite.admin import OperatorSide, Q
from asynctasq.drivers.sqlite.connection import SQLiteConnection, data_version, write_in
from asynctasq.jobs import Completed, Failed, Job, Outcome, Released, Retried

__all__ = ["SQLiteDriver"]

_POLL_MIN, _POLL_MAX = 0.005, 0.05
_OUTCOME_QUERY = {Retried: "retry", Failed: "fail", Released: "release"}


class SQLiteDriver(OperatorSide, Driver):
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
        self._conn = SQLiteConnection(self.path, busy_timeout)
        self._local_wakeup = asyncio.Event()

    @classmethod
    def from_config(cls, config: Config) -> SQLiteDriver:
        return cls(config.sqlite_path, keep_completed=config.keep_completed_tasks)

    def __repr__(self) -> str:
        return f"<SQLiteDriver {self.path}>"

    async def connect(self) -> None:
        if not self._conn.is_open:
            await self._conn.open()
            await self.migrate()  # embedded: the schema is created on first use

    async def disconnect(self) -> None:
        await self._conn.close()

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

        return await self._conn.write(apply)

    def _wake_local(self) -> None:
        # replaced, not cleared, so a waiter never misses a wake-up
        self._local_wakeup.set()
        self._local_wakeup = asyncio.Event()

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
                if job.unique_key:  # may have been ignored: report the job holding the key
                    row = db.execute(Q["unfinished_by_unique_key"], (job.unique_key,)).fetchone()
                    if row is not None:
                        ids[i] = row[0]
            return ids

        ids = await self._conn.write(insert)
        self._wake_local()
        return ids

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
            jobs, next_due, version = await self._conn.read(
                lambda db: _claim(db, queues, limit, worker_id, lease_seconds)
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
                due = next_due is not None and next_due <= time.time()
                if time.monotonic() >= deadline or due:
                    break
                if await self._conn.read(data_version) != version:
                    poll = _POLL_MIN
                    break
                poll = min(poll * 2, _POLL_MAX)

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
                if isinstance(o, Completed):
                    query = "complete_keep" if keep else "complete_delete"
                    params["result"] = o.result
                else:
                    query = _OUTCOME_QUERY[type(o)]
                    params.update(run_at=getattr(o, "run_at", now), error=getattr(o, "error", None))
                accepted.append(db.execute(Q[query], params).rowcount == 1)
            return accepted

        result = await self._conn.write(apply)
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
        return await self._conn.write(
            lambda db: [row[0] for row in db.execute(Q["renew"], params).fetchall()]
        )

    async def recover_expired(self) -> int:
        def recover(db: sqlite3.Connection) -> int:
            now = time.time()
            if db.execute(Q["any_expired"], {"now": now}).fetchone() is None:
                return 0  # a read: the common case never takes the write lock
            params = {"now": now, "error": LEASE_EXPIRED_ERROR}
            return write_in(db, lambda db: db.execute(Q["recover_expired"], params).rowcount)

        moved = await self._conn.read(recover)
        if moved:
            self._wake_local()
        return moved


def _claim(
    db: sqlite3.Connection, queues: list[str], limit: int, worker_id: str, lease: float
) -> tuple[list[Job], float | None, int]:
    """Claim up to ``limit`` due jobs; with none, when the next one is due and the
    file's data version (to notice writes by other processes)."""

    def candidates() -> list[str]:
        now = time.time()
        rows = []
        for queue in queues:  # one queue at a time: the claim index yields rows in order
            params = {"queue": queue, "now": now, "limit": limit}
            rows.extend(db.execute(Q["claim_candidates"], params).fetchall())
        rows.sort(key=lambda r: (r["priority"], r["run_at"], r["id"]))
        return [r["id"] for r in rows[:limit]]

    if not candidates():  # a read, so idle polling never takes the write lock
        next_due = db.execute(Q["next_due"], {"queues": json.dumps(queues)}).fetchone()[0]
        return [], next_due, data_version(db)

    def claim(db: sqlite3.Connection) -> list[Job]:
        ids = candidates()  # again, under the lock
        now = time.time()
        params = {"ids": json.dumps(ids), "worker_id": worker_id, "lease_until": now + lease}
        jobs = [job_from_row(row, now) for row in db.execute(Q["claim"], params).fetchall()]
        jobs.sort(key=lambda j: (j.priority, j.run_at, j.id))
        return jobs

    return write_in(db, claim), None, 0
