"""MySQL / MariaDB: one InnoDB table, claims with ``FOR UPDATE SKIP LOCKED``.

A claim locks up to ``limit`` due rows on the claim index, skipping rows another
worker holds, and marks them active in the same transaction; outcomes are applied a
batch at a time (one DELETE and one UPDATE, each fenced by state, worker and attempt).
Each takes two round trips (session.py). Idle workers poll adaptively (waiting.py):
MySQL has no LISTEN/NOTIFY.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from asynctasq.config import Config
from asynctasq.drivers.base import LEASE_EXPIRED_ERROR, Driver, DriverNotConnected
from asynctasq.drivers.mysql.admin import OperatorSide
from asynctasq.drivers.mysql.database import Database
from asynctasq.drivers.mysql.dsn import MySQLSettings
from asynctasq.drivers.mysql.migrator import LATEST, apply_migrations, schema_version
from asynctasq.drivers.mysql.outcomes import OutcomeRows
from asynctasq.drivers.mysql.session import Session, Step
from asynctasq.drivers.mysql.sqltext import chunk_rows
from asynctasq.drivers.mysql.statements import Q
from asynctasq.drivers.mysql.transactional import caller_connection
from asynctasq.drivers.mysql.waiting import AdaptivePoll, LocalWakeup, wait_for
from asynctasq.drivers.sql.rows import job_from_row
from asynctasq.jobs import (
    Completed,
    Failed,
    Job,
    JobState,
    Outcome,
    Released,
    Retried,
    validate_name,
)

__all__ = ["MySQLDriver"]


class _LeaseLost(Exception):
    """Some outcome of a batch no longer holds its job."""


#: jobs recover_expired() moves per transaction
_RECOVER_BATCH = 500


class MySQLDriver(OperatorSide, Driver):
    name = "mysql"

    def __init__(
        self,
        dsn: str = "mysql://root@localhost:3306/asynctasq",
        *,
        min_pool_size: int = 1,
        max_pool_size: int = 10,
        keep_completed: bool = False,
        poll_interval: float = 0.05,
        auto_migrate: bool = True,
    ) -> None:
        self.settings = MySQLSettings.from_dsn(dsn)
        self.keep_completed = keep_completed
        self.auto_migrate = auto_migrate
        self._db = Database(self.settings, min_size=min_pool_size, max_size=max_pool_size)
        self._poll = AdaptivePoll(floor=min(0.005, poll_interval), ceiling=poll_interval)
        self._wakeup = LocalWakeup()
        self._known_queues: set[str] = set()
        self._max_statement = 4 << 20
        self._applied_on_connect: list[str] = []

    @classmethod
    def from_config(cls, config: Config) -> MySQLDriver:
        return cls(
            config.mysql_dsn,
            min_pool_size=config.mysql_min_pool_size,
            max_pool_size=config.mysql_max_pool_size,
            keep_completed=config.keep_completed_tasks,
            poll_interval=config.mysql_poll_interval,
        )

    def __repr__(self) -> str:
        return f"<MySQLDriver {self.settings.where}>"

    # -- lifecycle ---------------------------------------------------------------------

    async def connect(self) -> None:
        if self._db.connected:
            return
        await self._db.open()
        try:
            packet = await self._db.run(lambda s: s.scalar(Q["max_allowed_packet"]))
            # a statement must fit in one packet; leave room for the SQL around the rows
            self._max_statement = max(min(int(packet) // 2, 8 << 20), 64 << 10)
            self._db.max_request = self._max_statement
            if self.auto_migrate and await schema_version(self._db) < LATEST:
                self._applied_on_connect = await apply_migrations(self._db)
        except BaseException:
            await self._db.close()
            raise

    async def disconnect(self) -> None:
        await self._db.close()

    async def migrate(self) -> list[str]:
        """Apply missing migrations; also reports those connect() applied."""
        if not self._db.connected:
            raise DriverNotConnected(self.name)
        applied = self._applied_on_connect + await apply_migrations(self._db)
        self._applied_on_connect = []
        return applied

    # -- enqueue -----------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[Job], *, connection: Any = None) -> list[str]:
        if not jobs:
            return []
        rows = [self._row(job) for job in jobs]
        queues = sorted({job.queue for job in jobs} - self._known_queues)
        if connection is None:
            ids = await self._db.run(
                lambda s: self._insert(s, jobs, rows, queues), transaction=True
            )
        else:
            if not self._db.connected:
                raise DriverNotConnected(self.name)
            session = Session(await caller_connection(connection))
            await self._check_database(session)
            if queues:  # outside the caller's transaction: no lock held until it ends
                await self._db.run(lambda s: s.batch(_register(queues)))
            ids = await self._insert(session, jobs, rows, None)
        self._known_queues.update(queues)
        self._wakeup.wake()
        return ids

    def _row(self, job: Job) -> tuple[Any, ...]:
        if job.queue not in self._known_queues:
            validate_name("queue", job.queue)
        if len(job.task) > 200:
            raise ValueError(f"task name {job.task[:40]!r}... is longer than 200 characters")
        if job.unique_key is not None and len(job.unique_key) > 255:
            raise ValueError(f"unique_key of job {job.id} is longer than 255 characters")
        if 2 * len(job.payload) > self._max_statement:
            raise ValueError(
                f"job {job.id}: its {len(job.payload)}-byte payload does not fit in one "
                "MySQL packet; pass smaller arguments (store big data elsewhere and pass "
                "a reference) or raise the server's max_allowed_packet"
            )
        depends = json.dumps(list(job.depends_on)) if job.depends_on else None
        return (
            job.id,
            job.task,
            job.queue,
            job.payload,
            job.priority,
            0,
            job.max_attempts,
            job.run_at,
            job.created_at,
            job.timeout,
            JobState.PENDING.value,
            job.unique_key,
            depends,
            job.expires_at,
        )

    async def _insert(
        self,
        session: Session,
        jobs: Sequence[Job],
        rows: list[tuple[Any, ...]],
        queues: list[str] | None,
    ) -> list[str]:
        """Register ``queues`` and insert the jobs, then COMMIT: one round trip on the
        driver's own connection. ``queues`` None: the caller's connection and
        transaction (registered elsewhere, never committed here)."""
        steps: list[Step] = []
        if queues:
            steps.append(_register(queues))
        rendered = [session.render_value(row) for row in rows]
        for chunk in chunk_rows(rendered, max_bytes=self._max_statement):
            steps.append((Q["insert_jobs"], {"rows": chunk}))
        keys = list(dict.fromkeys(job.unique_key for job in jobs if job.unique_key))
        if keys:  # a job whose key was taken was not stored: report the holder's id
            steps.append((Q["unfinished_by_unique_key"], {"keys": keys}))
        # COMMIT only our own transaction, never the caller's
        results = await session.batch(*steps, commit=queues is not None)
        ids = [job.id for job in jobs]
        if keys:
            holders = dict(results[-1].rows)
            for i, job in enumerate(jobs):
                if job.unique_key in holders:
                    ids[i] = holders[job.unique_key]
        return ids

    async def _check_database(self, session: Session) -> None:
        current = await session.scalar(Q["current_database"])
        if current != self.settings.database:
            raise ValueError(
                f"connection= is using database {current!r} but the queue lives in "
                f"{self.settings.database!r} ({self.settings.where}): pass a connection "
                "to the queue's database"
            )

    # -- reserve -----------------------------------------------------------------------

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
        while True:
            woken = self._wakeup.current()
            jobs = await self._claim(queues, limit, worker_id, lease_seconds)
            if jobs:
                self._poll.busy()
                return jobs
            if time.monotonic() >= deadline or limit <= 0:
                return []
            await self._idle(queues, woken, deadline)

    async def _claim(
        self, queues: list[str], limit: int, worker_id: str, lease_seconds: float
    ) -> list[Job]:
        async def claim(session: Session) -> list[Job]:
            now = time.time()
            steps: list[Step] = [
                (Q["claim"], {"queue": queue, "now": now, "limit": limit}) for queue in queues
            ]
            rows = [
                row for result in await session.batch(*steps, dicts=True) for row in result.rows
            ]
            if not rows:
                return []
            if len(queues) > 1:  # rows past the limit stay locked only until COMMIT
                rows.sort(key=lambda r: (r["priority"], r["run_at"], r["id"]))
                del rows[limit:]
            lease_until = now + lease_seconds
            ids = [row["id"] for row in rows]
            mark = {"ids": ids, "worker_id": worker_id, "lease_until": lease_until}
            await session.batch((Q["mark_claimed"], mark), commit=True)
            claimed = {"state": "active", "worker_id": worker_id, "lease_until": lease_until}
            jobs = []
            for row in rows:
                row.update(claimed, result=None, finished_at=None, attempts=row["attempts"] + 1)
                jobs.append(job_from_row(row, now))
            return jobs

        if limit <= 0:
            return []
        return await self._db.run(claim, transaction=True)

    async def _idle(self, queues: list[str], woken: Any, deadline: float) -> None:
        """Return when a claim may find work: woken here, a job due, or the deadline."""
        after_claim = True
        while True:
            due = await self._db.run(lambda s: s.scalar(Q["next_due"], queues=queues))
            now = time.time()
            if due is not None and due <= now and not after_claim:
                return
            # due right after an empty claim means other workers hold those rows: pause
            pause = min(self._poll.next(), deadline - time.monotonic())
            if due is not None and due > now:
                pause = min(pause, due - now + 0.001)
            if await wait_for(woken, pause):
                self._poll.busy()
                return
            if time.monotonic() >= deadline or (due is not None and time.time() >= due):
                return
            after_claim = False

    # -- outcomes and leases -----------------------------------------------------------

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []
        for outcome in outcomes:
            if not isinstance(outcome, Completed | Retried | Failed | Released):
                raise TypeError(f"unknown outcome {outcome!r}")
        seen: set[str] = set()
        first = []  # a later outcome for a job settled earlier in the batch is refused
        for outcome in outcomes:
            first.append(outcome.job_id not in seen)
            seen.add(outcome.job_id)

        async def all_or_nothing(session: Session) -> list[bool]:
            chosen = [o for o, ok in zip(outcomes, first, strict=True) if ok]
            results = await session.batch(*self._outcome_steps(chosen))
            if sum(result.matched for result in results) != len(chosen):
                raise _LeaseLost  # roll back, then find out which ones
            return first

        async def one_by_one(session: Session) -> list[bool]:
            rows = await session.values(Q["lock_active"], ids=list(seen))
            held = {row[0]: (row[1], row[2]) for row in rows}
            accepted = []
            for o in outcomes:  # in order, as if applied one at a time
                ok = held.get(o.job_id) == (o.worker_id, o.attempt)
                if ok:
                    del held[o.job_id]  # settled: a later outcome for it is refused
                accepted.append(ok)
            chosen = [o for o, ok in zip(outcomes, accepted, strict=True) if ok]
            await session.batch(*self._outcome_steps(chosen), commit=True)
            return accepted

        try:  # the usual case: every outcome still holds its lease
            accepted = await self._db.run(all_or_nothing, transaction=True)
        except _LeaseLost:
            accepted = await self._db.run(one_by_one, transaction=True)
        if any(isinstance(o, Retried | Released) for o in outcomes):
            self._wakeup.wake()
        return accepted

    def _outcome_steps(self, outcomes: list[Outcome]) -> list[Step]:
        """The statements applying ``outcomes``, each fenced by (state, worker,
        attempt): together they match one row per outcome that holds its job."""
        now = time.time()
        steps: list[Step] = []
        deletes = []
        updates = OutcomeRows(self._max_statement)
        for o in outcomes:
            if isinstance(o, Completed) and not self.keep_completed:
                deletes.append((o.job_id, o.worker_id, o.attempt))
            else:
                updates.add(o)
        if deletes:
            steps.append((Q["delete_completed"], {"fence": deletes}))
        for rows, ids in updates.statements():
            steps.append((Q["apply_outcomes"], {"outcomes": rows, "ids": ids, "now": now}))
        return steps

    async def renew(
        self, worker_id: str, job_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        if not job_ids:
            return []

        ids = list(job_ids)
        lease = {"ids": ids, "worker_id": worker_id, "lease_until": time.time() + lease_seconds}
        held_now, _ = await self._db.run(
            lambda s: s.batch(
                (Q["held_by"], {"ids": ids, "worker_id": worker_id}), (Q["extend_leases"], lease)
            )
        )
        held = {row[0] for row in held_now.rows}
        return [job_id for job_id in job_ids if job_id in held]

    async def recover_expired(self) -> int:
        now = time.time()
        if await self._db.run(lambda s: s.scalar(Q["any_expired"], now=now)) is None:
            return 0  # the common case: one indexed read, no transaction

        async def recover(session: Session) -> tuple[int, int]:
            rows = await session.values(Q["lock_expired"], now=now, limit=_RECOVER_BATCH)
            if not rows:
                return 0, 0
            params = {"ids": [row[0] for row in rows], "now": now, "error": LEASE_EXPIRED_ERROR}
            (result,) = await session.batch((Q["recover_expired"], params), commit=True)
            return len(rows), result.matched

        total = 0
        while True:
            found, moved = await self._db.run(recover, transaction=True)
            total += moved
            if found < _RECOVER_BATCH:
                break
        if total:
            self._wakeup.wake()
        return total


def _register(queues: list[str]) -> Step:
    return (Q["register_queues"], {"rows": [(queue,) for queue in queues]})
