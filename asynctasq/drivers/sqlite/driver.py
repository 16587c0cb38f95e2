"""SQLite: the embedded default. Nothing to install or run; one file, WAL mode.

Several worker processes may share the file: every claim is one ``BEGIN IMMEDIATE``
transaction, so two workers never take the same job. Idle workers notice jobs
written by other processes through ``PRAGMA data_version`` (a cheap read of the WAL
index), polled adaptively; jobs enqueued through the same driver wake them at once.

The protocol is the shared SQL driver's (``sql/driver.py``); this module holds what
SQLite does its own way: one writer at a time, executemany, and that polling.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from asynctasq.clock import Clock
from asynctasq.config import Config
from asynctasq.drivers.base import LEASE_EXPIRED_ERROR
from asynctasq.drivers.sql.dependencies import Steps, after_settle, link_jobs, run_sync
from asynctasq.drivers.sql.driver import SQLDriver
from asynctasq.drivers.sql.loader import load_migrations, split_statements
from asynctasq.drivers.sql.rows import job_params
from asynctasq.drivers.sqlite.claim import claim, dead_letter_unreachable
from asynctasq.drivers.sqlite.connection import (
    Q,
    SQLiteConnection,
    data_error,
    data_version,
    write_in,
)
from asynctasq.drivers.waiting import AdaptivePoll, wait_for
from asynctasq.jobs import Completed, Failed, Job, Outcome, Released, Retried

__all__ = ["SQLiteDriver"]

_OUTCOME_QUERY = {Retried: "retry", Failed: "fail", Released: "release"}
#: what an empty claim saw, for the idle() that follows it in the same reserve (per
#: task): when the next job is due, and the file's data version at that read
_LAST_LOOK: ContextVar[tuple[float | None, int]] = ContextVar("asynctasq_sqlite_look")
#: the tests of batch isolation tell data errors apart through this name
_data_error = data_error


class SQLiteDriver(SQLDriver):
    name = "sqlite"
    #: the dashboard's overview counts a finished state exactly up to this many jobs
    #: (SQLite keeps no estimate: beyond, the count reads "more than 100,000")
    estimate_beyond = 100_000

    def __init__(
        self,
        path: str | Path = "asynctasq.db",
        *,
        keep_completed: bool = False,
        busy_timeout: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(keep_completed=keep_completed, clock=clock)
        self.path = str(path)
        self._conn = SQLiteConnection(self.path, busy_timeout)
        self.statements = self._conn
        self._poll = AdaptivePoll(floor=0.005, ceiling=0.05)

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
        now = self.clock.time()

        def apply(db: sqlite3.Connection) -> list[str]:
            db.execute(Q["create_migrations_table"])
            done = {row[0] for row in db.execute(Q["applied_migrations"])}
            applied = []
            for migration in migrations:
                if migration.version in done:
                    continue
                for statement in split_statements(migration.script(now)):
                    db.execute(statement)
                record = {"version": migration.version, "name": migration.name, "applied_at": now}
                db.execute(Q["record_migration"], record)
                applied.append(migration.label)
            return applied

        return await self._conn.write(apply)

    # -- the dialect's side of the protocol --------------------------------------------

    async def _insert(self, jobs: Sequence[Job], connection: Any) -> list[str]:
        now = self.clock.time()
        return await self._conn.write(lambda db: _insert_in(db, jobs, now))

    async def _fire(
        self, schedule_id: str, expected: float, next_at: float, jobs: Sequence[Job]
    ) -> bool:
        def fire(db: sqlite3.Connection) -> bool:
            params = {"id": schedule_id, "expected": expected, "next_at": next_at}
            if db.execute(Q["schedule_advance"], params).rowcount != 1:
                return False
            if jobs:
                _insert_in(db, jobs, self.clock.time())
            return True

        won = await self._conn.write(fire)
        if won and jobs:
            self._wake_local()
        return won

    async def _claim(
        self, queues: list[str], limit: int, worker_id: str, now: float, lease_seconds: float
    ) -> list[Job]:
        lease_until = now + lease_seconds
        jobs, next_due, version = await self._conn.read(
            lambda db: claim(db, queues, limit, worker_id, now, lease_until)
        )
        if jobs:
            self._poll.busy()
        else:
            _LAST_LOOK.set((next_due, version))
        return jobs

    async def idle(self, queues: Sequence[str], armed: Any, remaining: float) -> None:
        """Sleep until woken here, the next job is due, or another process changed
        the file (its data version, as of the empty claim before)."""
        clock = self.clock
        next_due, version = _LAST_LOOK.get((None, -1))
        deadline = clock.monotonic() + remaining
        while True:
            pause = min(self._poll.interval, deadline - clock.monotonic())
            if next_due is not None:
                pause = min(pause, max(next_due - clock.time(), 0.0))
            if pause > 0 and await wait_for(armed, pause):
                return
            due = next_due is not None and next_due <= clock.time()
            if clock.monotonic() >= deadline or due:
                return
            if await self._conn.read(data_version) != version:
                self._poll.busy()
                return
            self._poll.next()

    async def _settle_batch(self, outcomes: Sequence[Outcome]) -> list[bool]:
        keep = self.keep_completed
        now = self.clock.time()

        def apply(db: sqlite3.Connection) -> list[bool]:
            accepted = []
            completed, failed = [], []
            results: dict[str, bytes | None] = {}
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
                ok = db.execute(Q[query], params).rowcount == 1
                accepted.append(ok)
                if ok and isinstance(o, Completed):
                    completed.append(o.job_id)
                    results[o.job_id] = o.result
                elif ok and isinstance(o, Failed):
                    failed.append((o.job_id, "failed"))
            if completed or failed:  # in this transaction: a child never waits on a crash
                steps = after_settle(completed, failed, now, not keep, results=results)
                run_sync(steps, _executor(db))
            return accepted

        return await self._conn.write(apply)

    async def _requeue_batch(self, ids: Sequence[str], now: float) -> list[str]:
        params = {"ids": json.dumps(list(ids)), "now": now}
        return await self._conn.write(
            lambda db: [row[0] for row in db.execute(Q["requeue_many"], params).fetchall()]
        )

    def _id_list(self, ids: Sequence[str]) -> Any:
        return json.dumps(list(ids))  # read by json_each() in the statement

    async def _extend(self, ids: Sequence[str], worker_id: str, lease_until: float) -> set[str]:
        params = {"ids": json.dumps(list(ids)), "worker_id": worker_id, "lease_until": lease_until}
        return await self._conn.write(
            lambda db: {row[0] for row in db.execute(Q["renew"], params).fetchall()}
        )

    async def _recover(self, now: float) -> tuple[int, list[Any]]:
        # damaged records first: those no recovery (and no claim) can ever reach
        await self._conn.read(lambda db: dead_letter_unreachable(db, now))

        def recover(db: sqlite3.Connection) -> tuple[int, list[Any]]:
            if db.execute(Q["any_expired"], {"now": now}).fetchone() is None:
                return 0, []  # a read: the common case never takes the write lock
            params = {"now": now, "error": LEASE_EXPIRED_ERROR}

            def move(db: sqlite3.Connection) -> tuple[int, list[Any]]:
                dead = db.execute(Q["recover_dead"], params).fetchall()
                ended = [(row["id"], "failed") for row in dead]
                run_sync(after_settle((), ended, now, False), _executor(db))
                return db.execute(Q["recover_expired"], params).rowcount, dead

            return write_in(db, move)

        return await self._conn.read(recover)

    async def _run_steps(self, make: Callable[[], Steps]) -> Any:
        return await self._conn.write(lambda db: run_sync(make(), _executor(db)))


def _executor(db: sqlite3.Connection) -> Any:
    """Run a named statement on ``db`` (inside the caller's transaction); its rows."""
    return lambda name, params: db.execute(Q[name], params).fetchall()


def _insert_in(db: sqlite3.Connection, jobs: Sequence[Job], now: float) -> list[str]:
    """Store ``jobs`` in the open write transaction, those with parents linked to them;
    their ids, or the id of the unfinished job holding a job's unique_key in its place."""
    for queue in {job.queue for job in jobs}:
        db.execute(Q["register_queue"], {"queue": queue})
    db.executemany(Q["insert_job"], [job_params(job) for job in jobs])
    ids = [job.id for job in jobs]
    for i, job in enumerate(jobs):
        if job.unique_key:  # may have been ignored: report the job holding the key
            params = {"unique_key": job.unique_key}
            row = db.execute(Q["unfinished_by_unique_key"], params).fetchone()
            if row is not None:
                ids[i] = row[0]
    if any(job.depends_on or job.flow_id for job in jobs):
        run_sync(link_jobs(jobs, ids, now), _executor(db))
    return ids
