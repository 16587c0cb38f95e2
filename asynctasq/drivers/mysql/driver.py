"""MySQL / MariaDB: one InnoDB table, claims with ``FOR UPDATE SKIP LOCKED``.

A claim locks up to ``limit`` due rows on the claim index, skipping rows another
worker holds, and marks them active in the same transaction; outcomes are applied a
batch at a time (one DELETE and one UPDATE, each fenced by state, worker and attempt).
Each takes two round trips (session.py). Idle workers poll adaptively: MySQL has no
LISTEN/NOTIFY.

The protocol is the shared SQL driver's (``sql/driver.py``); this module holds what
MySQL does its own way: multi-statement batches, multi-row VALUES and JSON_TABLE,
packet sizes, and that polling.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import aiomysql

from asynctasq.clock import Clock
from asynctasq.config import Config
from asynctasq.drivers.base import LEASE_EXPIRED_ERROR, DriverNotConnected
from asynctasq.drivers.capabilities import TransactionalEnqueue
from asynctasq.drivers.mysql.claim import claim
from asynctasq.drivers.mysql.database import Database, data_error
from asynctasq.drivers.mysql.dsn import MySQLSettings
from asynctasq.drivers.mysql.migrator import LATEST, apply_migrations, schema_version
from asynctasq.drivers.mysql.outcomes import OutcomeRows
from asynctasq.drivers.mysql.session import Session, Step
from asynctasq.drivers.mysql.sqltext import chunk_rows
from asynctasq.drivers.mysql.statements import MySQLStatements, Q
from asynctasq.drivers.mysql.transactional import caller_connection
from asynctasq.drivers.sql.dependencies import Steps, after_settle, link_jobs, run_async
from asynctasq.drivers.sql.driver import SQLDriver
from asynctasq.drivers.waiting import AdaptivePoll, wait_for
from asynctasq.jobs import Completed, Failed, Job, JobState, Outcome

__all__ = ["MySQLDriver"]


class _LeaseLost(Exception):
    """Some outcome of a batch no longer holds its job."""


#: jobs recover_expired() moves per transaction
_RECOVER_BATCH = 500
#: the size of a TEXT column (depends_on)
_TEXT_MAX_BYTES = 65_535


class MySQLDriver(TransactionalEnqueue, SQLDriver):
    counts_blocked = False  # its jobs table is not altered (migration 0004_dependencies)
    name = "mysql"
    #: the size of the unique_key column
    unique_key_max_chars = 255
    purge_slice = 5000
    #: the dashboard's overview counts a finished state exactly up to this many jobs
    #: and says "more than" beyond: no estimate, InnoDB's stops at about half the
    #: table (queries.sql, estimate_jobs)
    estimate_beyond = 10_000

    def __init__(
        self,
        dsn: str = "mysql://root@localhost:3306/asynctasq",
        *,
        min_pool_size: int = 1,
        max_pool_size: int = 10,
        keep_completed: bool = False,
        poll_interval: float = 0.05,
        auto_migrate: bool = True,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(keep_completed=keep_completed, clock=clock)
        self.settings = MySQLSettings.from_dsn(dsn)
        self.auto_migrate = auto_migrate
        self._db = Database(self.settings, min_size=min_pool_size, max_size=max_pool_size)
        self.statements = MySQLStatements(self._db)
        self._poll = AdaptivePoll(floor=min(0.005, poll_interval), ceiling=poll_interval)
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
                self._applied_on_connect = await apply_migrations(self._db, self.clock)
        except BaseException:
            await self._db.close()
            raise

    async def disconnect(self) -> None:
        await self._db.close()

    async def migrate(self) -> list[str]:
        """Apply missing migrations; also reports those connect() applied."""
        if not self._db.connected:
            raise DriverNotConnected(self.name)
        applied = self._applied_on_connect + await apply_migrations(self._db, self.clock)
        self._applied_on_connect = []
        return applied

    # -- enqueue -----------------------------------------------------------------------

    async def _insert(self, jobs: Sequence[Job], connection: Any) -> list[str]:
        rows = [self._row(job) for job in jobs]
        queues = sorted({job.queue for job in jobs} - self._known_queues)
        ids = await self._store(jobs, rows, queues, connection)
        self._known_queues.update(queues)
        return ids

    async def _fire(
        self, schedule_id: str, expected: float, next_at: float, jobs: Sequence[Job]
    ) -> bool:
        rows = [self._row(job) for job in jobs]
        queues = sorted({job.queue for job in jobs} - self._known_queues)
        advance = {"id": schedule_id, "expected": expected, "next_at": next_at}

        async def fire(session: Session) -> bool:
            if await session.execute(Q["schedule_advance"], **advance) != 1:
                return False
            if jobs:  # commits the advance with the jobs
                await self._write_jobs(session, jobs, rows, queues)
            return True

        won = bool(await self._db.run(fire, transaction=True))
        self._known_queues.update(queues if won else ())
        return won

    def _refuses_batch(self, exc: BaseException) -> bool:
        # a ValueError of _row() names the job and the value already: never rewrapped
        return isinstance(exc, aiomysql.Error) and data_error(exc)

    async def _store(
        self, jobs: Sequence[Job], rows: list[tuple[Any, ...]], queues: list[str], connection: Any
    ) -> list[str]:
        if connection is None:
            ids = await self._db.run(
                lambda s: self._write_jobs(s, jobs, rows, queues), transaction=True
            )
        else:
            if not self._db.connected:
                raise DriverNotConnected(self.name)
            session = Session(await caller_connection(connection))
            await self._check_database(session)
            if queues:  # outside the caller's transaction: no lock held until it ends
                await self._db.run(lambda s: s.batch(_register(queues)))
            ids = await self._write_jobs(session, jobs, rows, None)
        return ids

    def _row(self, job: Job) -> tuple[Any, ...]:
        if len(job.task) > 200:
            raise ValueError(f"task name {job.task[:40]!r}... is longer than 200 characters")
        if 2 * len(job.payload) > self._max_statement:
            raise ValueError(
                f"job {job.id}: its {len(job.payload)}-byte payload does not fit in one "
                "MySQL packet; pass smaller arguments (store big data elsewhere and pass "
                "a reference) or raise the server's max_allowed_packet"
            )
        depends = json.dumps(list(job.depends_on)) if job.depends_on else None
        if depends is not None and len(depends) > _TEXT_MAX_BYTES:  # ASCII JSON
            raise ValueError(
                f"job {job.id}: its depends_on list is {len(depends)} bytes of JSON; the "
                f"column holds {_TEXT_MAX_BYTES}. Nothing of this batch was stored"
            )
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

    async def _write_jobs(
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
        linked = any(job.depends_on or job.flow_id for job in jobs)
        # COMMIT only our own transaction, never the caller's (run() commits after links)
        results = await session.batch(*steps, commit=queues is not None and not linked)
        ids = [job.id for job in jobs]
        if keys:
            holders = dict(results[-1].rows)
            for i, job in enumerate(jobs):
                if job.unique_key in holders:
                    ids[i] = holders[job.unique_key]
        if linked:
            await run_async(link_jobs(jobs, ids, self.clock.time()), _executor(session))
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

    async def _claim(
        self, queues: list[str], limit: int, worker_id: str, now: float, lease_seconds: float
    ) -> list[Job]:
        jobs = await self._db.run(
            lambda session: claim(session, queues, limit, worker_id, lease_seconds, now),
            transaction=True,
        )
        if jobs:
            self._poll.busy()
        return jobs

    async def idle(self, queues: Sequence[str], armed: Any, remaining: float) -> None:
        """Return when a claim may find work: woken here, a job due, or the time left
        runs out; the server is asked how soon the next job is due, adaptively."""
        clock = self.clock
        deadline = clock.monotonic() + remaining
        after_claim = True
        while True:
            due = await self.next_due(queues)
            now = clock.time()
            if due is not None and due <= now and not after_claim:
                return
            # due right after an empty claim means other workers hold those rows: pause
            pause = min(self._poll.next(), deadline - clock.monotonic())
            if due is not None and due > now:
                pause = min(pause, due - now + 0.001)
            if await wait_for(armed, pause):
                self._poll.busy()
                return
            if clock.monotonic() >= deadline or (due is not None and clock.time() >= due):
                return
            after_claim = False

    async def next_due(self, queues: Sequence[str]) -> float | None:
        due = await self.statements.value("next_due", queues=list(queues))
        return None if due is None else float(due)

    # -- outcomes and leases -----------------------------------------------------------

    async def _settle_batch(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """One transaction: every outcome, or (on an error) none."""
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
            await self._dependants(session, chosen)
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
            if chosen:
                await session.batch(*self._outcome_steps(chosen))
                await self._dependants(session, chosen)  # run() commits
            return accepted

        try:  # the usual case: every outcome still holds its lease
            return await self._db.run(all_or_nothing, transaction=True)
        except _LeaseLost:
            return await self._db.run(one_by_one, transaction=True)

    async def _dependants(self, session: Session, settled: list[Outcome]) -> None:
        """In the settle's transaction: the children of the completed and failed jobs
        move on (sql/dependencies.py)."""
        completed = [o.job_id for o in settled if isinstance(o, Completed)]
        failed = [(o.job_id, "failed") for o in settled if isinstance(o, Failed)]
        now = self.clock.time()
        results = {o.job_id: o.result for o in settled if isinstance(o, Completed)}
        steps = after_settle(
            completed,
            failed,
            now,
            not self.keep_completed,
            counted=self.counts_blocked,
            results=results,
        )
        await run_async(steps, _executor(session))

    async def _run_steps(self, make: Callable[[], Steps]) -> Any:
        # each try (a lost connection is retried) runs fresh steps
        return await self._db.run(
            lambda session: run_async(make(), _executor(session)), transaction=True
        )

    def _outcome_steps(self, outcomes: list[Outcome]) -> list[Step]:
        """The statements applying ``outcomes``, each fenced by (state, worker,
        attempt): together they match one row per outcome that holds its job."""
        now = self.clock.time()
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

    async def _requeue_batch(self, ids: Sequence[str], now: float) -> list[str]:
        async def requeue(session: Session) -> list[str]:
            found = [row[0] for row in await session.values(Q["requeueable"], ids=list(ids))]
            if found:  # locked since the read: exactly these move
                await session.execute(Q["requeue_many"], ids=found, now=now)
            return found

        return await self._db.run(requeue, transaction=True)

    async def _extend(self, ids: Sequence[str], worker_id: str, lease_until: float) -> set[str]:
        lease = {"ids": list(ids), "worker_id": worker_id, "lease_until": lease_until}
        held_now, _ = await self._db.run(
            lambda s: s.batch(
                (Q["held_by"], {"ids": list(ids), "worker_id": worker_id}),
                (Q["extend_leases"], lease),
            )
        )
        return {row[0] for row in held_now.rows}

    async def _recover(self, now: float) -> tuple[int, list[dict[str, Any]]]:
        if await self.statements.value("any_expired", now=now) is None:
            return 0, []  # the common case: one indexed read, no transaction

        async def recover(session: Session) -> tuple[int, int, list[dict[str, Any]]]:
            rows = await session.values(Q["lock_expired"], now=now, limit=_RECOVER_BATCH)
            if not rows:
                return 0, 0, []
            ids = [row[0] for row in rows]
            params = {"ids": ids, "now": now, "error": LEASE_EXPIRED_ERROR}
            moved, dead = await session.batch(
                (Q["recover_expired"], params),
                (Q["recovered_dead"], {"ids": ids}),
                dicts=True,
            )
            ended = [(row["id"], "failed") for row in dead.rows]
            await run_async(
                after_settle((), ended, now, False, counted=self.counts_blocked), _executor(session)
            )
            return len(rows), moved.matched - len(dead.rows), dead.rows

        requeued, records = 0, []
        while True:
            found, back, dead = await self._db.run(recover, transaction=True)
            requeued += back
            records += dead
            if found < _RECOVER_BATCH:
                return requeued, records


def _register(queues: list[str]) -> Step:
    return (Q["register_queues"], {"rows": [(queue,) for queue in queues]})


def _executor(session: Session) -> Any:
    """Run a named statement in ``session`` (inside its transaction); its rows."""

    async def execute(name: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return await session.values(Q[name], **params)

    return execute
