"""PostgreSQL: the queue in your database, in its own schema, on asyncpg.

A claim is one ``UPDATE ... RETURNING`` over rows picked with ``FOR UPDATE SKIP
LOCKED`` from an index in claim order, so workers never wait on each other; a batch
of outcomes is one statement too. Idle workers sleep until NOTIFY (see listener.py),
bounded by a polling timer and the next scheduled job. ``enqueue(jobs,
connection=conn)`` runs inside the caller's transaction: the jobs exist only if it
commits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from asynctasq.config import Config
from asynctasq.drivers.base import LEASE_EXPIRED_ERROR, Driver, DriverError
from asynctasq.drivers.postgres.batches import (
    COPY_COLUMNS,
    claimed_job,
    copy_records,
    enqueue_args,
    settle_args,
)
from asynctasq.drivers.postgres.connection import ConnectionSettings, PoolRunner
from asynctasq.drivers.postgres.listener import Listener
from asynctasq.drivers.postgres.migrator import apply_migrations, schema_version
from asynctasq.drivers.postgres.sql import SchemaSQL
from asynctasq.drivers.postgres.transactional import raw_connection
from asynctasq.drivers.postgres.vacuum import Vacuum
from asynctasq.drivers.sql.rows import job_from_row
from asynctasq.jobs import Job, JobState, Outcome, QueueStats, WorkerInfo

__all__ = ["PostgresDriver"]

log = logging.getLogger("asynctasq.drivers.postgres")

#: how often an idle reserve() looks without a notification while the LISTEN
#: connection is down (with it up, ``poll_interval`` applies)
_POLL_WITHOUT_LISTENER = 0.25
#: enqueue retries a job whose unique_key holder finished between two statements
_UNIQUE_ROUNDS = 3
#: from this many new jobs a batch goes by COPY (its extra round trips, a transaction
#: around it, cost less than the per-row work it saves over INSERT)
_COPY_FROM = 256


#: QueueStats field counting each stored state (pending splits into depth/scheduled)
_STATS_FIELD = {
    "active": "processing",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}


def _rowcount(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class PostgresDriver(Driver):
    name = "postgres"

    def __init__(
        self,
        dsn: str = "postgresql://postgres@localhost:5432/postgres",
        *,
        schema: str = "asynctasq",
        min_pool_size: int = 1,
        max_pool_size: int = 10,
        keep_completed: bool = False,
        poll_interval: float = 1.0,
        migrate_on_connect: bool = True,
        application_name: str = "asynctasq",
        vacuum_every: int = 20_000,
    ) -> None:
        if max_pool_size < 1:
            raise ValueError("max_pool_size (ASYNCTASQ_POSTGRES_MAX_POOL_SIZE) must be >= 1")
        if poll_interval <= 0:
            raise ValueError("poll_interval must be > 0 seconds")
        self.settings = ConnectionSettings(dsn, application_name)
        self.sql = SchemaSQL(schema)
        self.min_pool_size = min_pool_size
        self.max_pool_size = max_pool_size
        self.keep_completed = keep_completed
        self.poll_interval = poll_interval
        self.migrate_on_connect = migrate_on_connect
        self._db = PoolRunner()
        self._vacuum = Vacuum(self._db, self.sql, vacuum_every)
        self._listener: Listener | None = None
        self._wakeup = asyncio.Event()
        self._connect_lock = asyncio.Lock()
        self._applied_on_connect: list[str] = []

    @classmethod
    def from_config(cls, config: Config) -> PostgresDriver:
        return cls(
            config.postgres_dsn,
            schema=config.postgres_schema,
            min_pool_size=config.postgres_min_pool_size,
            max_pool_size=config.postgres_max_pool_size,
            keep_completed=config.keep_completed_tasks,
        )

    @property
    def schema(self) -> str:
        return self.sql.schema

    def __repr__(self) -> str:
        return f"<PostgresDriver {self.settings.safe_dsn} schema={self.schema}>"

    # -- lifecycle ---------------------------------------------------------------------

    async def connect(self) -> None:
        async with self._connect_lock:
            if self._db.pool is not None:
                return
            try:
                pool = await self.settings.create_pool(self.min_pool_size, self.max_pool_size)
            except Exception as exc:
                raise self.settings.unreachable(exc) from exc
            self._db.pool = pool
            try:
                if self.migrate_on_connect:
                    await self._migrate_if_behind()
            except BaseException:
                self._db.pool = None
                await pool.close()
                raise
            self._wakeup = asyncio.Event()
            # a short timeout: reserve() waits for the LISTEN connection (it polls instead
            # when that fails), and a worker must not hang there on an unreachable server
            self._listener = Listener(lambda: self.settings.connect(timeout=5.0), self._wake)

    async def disconnect(self) -> None:
        await self._vacuum.close()
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        pool, self._db.pool = self._db.pool, None
        if pool is not None:
            await pool.close()

    async def _migrate_if_behind(self) -> None:
        async with self._db.require().acquire() as con:
            if await schema_version(con, self.sql) < self.sql.latest_version:
                applied = await apply_migrations(con, self.sql)
                if applied:
                    log.info("schema %s: applied %s", self.schema, ", ".join(applied))
                self._applied_on_connect = applied

    async def migrate(self) -> list[str]:
        """Apply missing migrations (safe to run twice, and from several processes).

        Returns what was applied, including what connect() applied just before (so
        ``connect(); migrate()`` reports the work, as ``python -m asynctasq migrate``
        does)."""
        earlier, self._applied_on_connect = self._applied_on_connect, []
        if self._db.pool is not None:
            async with self._db.pool.acquire() as con:
                return earlier + await apply_migrations(con, self.sql)
        try:
            con = await self.settings.connect()
        except Exception as exc:
            raise self.settings.unreachable(exc) from exc
        try:
            return await apply_migrations(con, self.sql)
        finally:
            await con.close()

    # -- worker side -------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[Job], *, connection: Any = None) -> list[str]:
        if not jobs:
            return []
        # rows are inserted in this order: sorting by unique_key means two batches that
        # share keys wait on each other in one order, never in a cycle (deadlock)
        todo = sorted(jobs, key=lambda j: j.unique_key or "") if _any_keyed(jobs) else jobs
        if connection is not None:
            con = await raw_connection(connection)  # no retries: it is the caller's
            try:
                # a failed statement would abort the caller's transaction: no plain try
                holders = await self._insert(con, todo, idempotent=True)
            except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError) as exc:
                raise DriverError(
                    f"connection= reaches a database without the asynctasq schema "
                    f"{self.schema!r} ({exc}): pass a connection to the queue's database, "
                    "or run `python -m asynctasq migrate` against that one"
                ) from exc
        else:
            tries = 0

            async def insert(con: Any) -> dict[str, str]:
                nonlocal tries
                tries += 1  # a retry may find the jobs its lost first try stored
                return await self._insert(con, todo, idempotent=tries > 1)

            holders = await self._db.run(insert)
        return [holders.get(job.id, job.id) for job in jobs]

    async def _insert(self, con: Any, jobs: Sequence[Job], *, idempotent: bool) -> dict[str, str]:
        """Store ``jobs``; returns {job id: id of the unfinished job holding its
        unique_key} for the jobs that were not stored because of that key."""
        if not idempotent and not _any_keyed(jobs):
            try:
                if len(jobs) >= _COPY_FROM:
                    await self._copy(con, jobs)
                else:
                    await con.fetchrow(self.sql["enqueue"], *enqueue_args(jobs))
                return {}
            except asyncpg.UniqueViolationError:
                pass  # a job of the batch was stored before (enqueued twice): go on below
        holders: dict[str, str] = {}
        for _ in range(_UNIQUE_ROUNDS):
            row = await con.fetchrow(self.sql["enqueue_idempotent"], *enqueue_args(jobs))
            if row["inserted"] == len(jobs) or not _any_keyed(jobs):
                break  # the rest (if any) are ids already stored by an earlier try
            stored = set(row["keyed"])
            refused = [j for j in jobs if j.unique_key and j.id not in stored]
            if not refused:
                break
            keys = [j.unique_key for j in refused]
            found = await con.fetch(self.sql["unfinished_by_unique_key"], keys)
            by_key = {r["unique_key"]: r["id"] for r in found}
            jobs = []
            for job in refused:
                holder = by_key.get(job.unique_key)
                if holder is None:
                    jobs.append(job)  # the holder finished meanwhile: store this one
                elif holder != job.id:
                    holders[job.id] = holder
            if not jobs:
                break
        return holders

    async def _copy(self, con: Any, jobs: Sequence[Job]) -> None:
        """A large batch of new jobs by COPY: half the server's work of an INSERT."""
        async with con.transaction():
            await con.copy_records_to_table(
                "jobs", schema_name=self.schema, columns=COPY_COLUMNS, records=copy_records(jobs)
            )
            await con.fetchval(self.sql["announce"], sorted({j.queue for j in jobs}))

    def _wake(self) -> None:
        # replaced, not cleared: a waiter that took the old event never misses a wake-up
        self._wakeup.set()
        self._wakeup = asyncio.Event()

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
        if wait > 0 and self._listener is not None:
            await self._listener.subscribe(self.sql.channel(q) for q in queues)
        while True:
            wakeup = self._wakeup  # before the claim: a NOTIFY during it still counts
            now = time.time()
            rows = await self._db.fetch(
                self.sql["claim"], queues, now, limit, worker_id, now + lease_seconds
            )
            remaining = deadline - time.monotonic()
            if rows or remaining <= 0:
                self._vacuum.claimed(len(rows))
                jobs = [claimed_job(row) for row in rows]
                jobs.sort(key=lambda j: (j.priority, j.run_at, j.id))
                return jobs
            listening = self._listener is not None and self._listener.healthy
            pause = min(remaining, self.poll_interval if listening else _POLL_WITHOUT_LISTENER)
            next_due = await self._db.fetchval(self.sql["next_due"], queues, time.time())
            if next_due is not None:
                pause = min(pause, max(next_due - time.time(), 0.0) + 0.001)
            try:
                await asyncio.wait_for(wakeup.wait(), pause)
            except TimeoutError:
                pass

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []
        # a job reported twice in one batch: the first report counts, as in the reference
        firsts = list({o.job_id: i for i, o in reversed(list(enumerate(outcomes)))}.values())
        batch = [outcomes[i] for i in sorted(firsts)]
        args = settle_args(batch, self.keep_completed)
        row = await self._db.fetchrow(self.sql["settle"], *args, time.time())
        accepted = set(row["accepted"])
        first = set(firsts)
        return [i in first and o.job_id in accepted for i, o in enumerate(outcomes)]

    async def renew(
        self, worker_id: str, job_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        if not job_ids:
            return []
        rows = await self._db.fetch(
            self.sql["renew"], list(job_ids), worker_id, time.time() + lease_seconds
        )
        held = {row["id"] for row in rows}
        return [job_id for job_id in dict.fromkeys(job_ids) if job_id in held]

    async def recover_expired(self) -> int:
        row = await self._db.fetchrow(self.sql["recover_expired"], time.time(), LEASE_EXPIRED_ERROR)
        return int(row["moved"])

    # -- operator side -----------------------------------------------------------------

    async def stats(self, queue: str) -> QueueStats:
        rows = await self._db.fetch(self.sql["stats"], queue, time.time())
        counts = dict.fromkeys(
            ("depth", "processing", "scheduled", "completed", "failed", "cancelled"), 0
        )
        for row in rows:
            state, n = row["state"], int(row["n"])
            if state == "pending":
                counts["scheduled" if row["future"] else "depth"] += n
            elif (field := _STATS_FIELD.get(state)) is not None:
                counts[field] += n
        paused = await self._db.fetchval(self.sql["is_paused"], queue)
        return QueueStats(queue=queue, paused=bool(paused), **counts)

    async def queues(self) -> list[str]:
        return [row["name"] for row in await self._db.fetch(self.sql["queues"])]

    async def get(self, job_id: str) -> Job | None:
        row = await self._db.fetchrow(self.sql["get"], job_id)
        return None if row is None else job_from_row(row, time.time())

    async def list_jobs(
        self, queue: str, state: JobState | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        now = time.time()
        if state is None:
            query, args = "list_all", [queue, limit, offset]
        elif state in (JobState.PENDING, JobState.SCHEDULED):
            query = "list_pending"
            args = [queue, limit, offset, now, state is JobState.SCHEDULED]
        else:
            query = "list_finished" if state.finished else "list_state"
            args = [queue, state.value, limit, offset]
        rows = await self._db.fetch(self.sql[query], *args)
        return [job_from_row(row, now) for row in rows]

    async def cancel(self, job_id: str) -> bool:
        return _rowcount(await self._db.execute(self.sql["cancel"], job_id, time.time())) == 1

    async def requeue(self, job_id: str) -> bool:
        try:
            row = await self._db.fetchrow(self.sql["requeue"], job_id, time.time())
        except asyncpg.UniqueViolationError:
            return False  # another unfinished job took its unique_key meanwhile
        return bool(row["moved"])

    async def purge(self, queue: str, state: JobState, *, older_than: float | None = None) -> int:
        if state is JobState.ACTIVE:
            raise ValueError("active jobs cannot be purged: cancel or wait for them")
        if state in (JobState.PENDING, JobState.SCHEDULED):
            future = state is JobState.SCHEDULED
            status = await self._db.execute(
                self.sql["purge_pending"], queue, older_than, time.time(), future
            )
        else:
            status = await self._db.execute(
                self.sql["purge_finished"], queue, state.value, older_than
            )
        return _rowcount(status)

    async def pause(self, queue: str) -> None:
        await self._db.fetchval(self.sql["set_paused"], queue, True)

    async def resume(self, queue: str) -> None:
        await self._db.fetchval(self.sql["set_paused"], queue, False)

    async def set_progress(self, job_id: str, worker_id: str, progress: float) -> bool:
        status = await self._db.execute(self.sql["set_progress"], job_id, worker_id, progress)
        return _rowcount(status) == 1

    # -- worker registry ---------------------------------------------------------------

    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        now = time.time()
        record = json.dumps(dataclasses.asdict(dataclasses.replace(info, last_seen=now)))
        await self._db.execute(self.sql["heartbeat"], info.worker_id, record, now + ttl, now)

    async def remove_worker(self, worker_id: str) -> None:
        await self._db.execute(self.sql["remove_worker"], worker_id)

    async def list_workers(self) -> list[WorkerInfo]:
        rows = await self._db.fetch(self.sql["live_workers"], time.time())
        return [_worker_info(json.loads(row["info"])) for row in rows]


def _any_keyed(jobs: Sequence[Job]) -> bool:
    return any(job.unique_key for job in jobs)


def _worker_info(data: dict[str, Any]) -> WorkerInfo:
    data["queues"] = tuple(data["queues"])
    return WorkerInfo(**data)
