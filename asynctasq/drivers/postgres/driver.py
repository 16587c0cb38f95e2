"""PostgreSQL: the queue in your database, in its own schema, on asyncpg.

A claim is one ``UPDATE ... RETURNING`` over rows picked with ``FOR UPDATE SKIP
LOCKED`` from an index in claim order, so workers never wait on each other; a batch
of outcomes is one statement too. Idle workers sleep until NOTIFY (see listener.py),
bounded by a polling timer and the next scheduled job. ``enqueue(jobs,
connection=conn)`` runs inside the caller's transaction: the jobs exist only if it
commits.

The protocol is the shared SQL driver's (``sql/driver.py``); this module holds what
PostgreSQL does its own way: arrays and COPY, SKIP LOCKED, LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg

from asynctasq.clock import Clock
from asynctasq.config import Config
from asynctasq.drivers.base import LEASE_EXPIRED_ERROR, ClaimRequest, DriverError
from asynctasq.drivers.capabilities import TransactionalEnqueue
from asynctasq.drivers.postgres.batches import (
    COPY_COLUMNS,
    claimed_job,
    copy_records,
    enqueue_args,
    settle_args,
)
from asynctasq.drivers.postgres.connection import ConnectionSettings, PoolRunner
from asynctasq.drivers.postgres.handoff import NO_CLAIM, Handoff
from asynctasq.drivers.postgres.listener import Listener
from asynctasq.drivers.postgres.migrator import apply_migrations, schema_version
from asynctasq.drivers.postgres.results import listen_finished
from asynctasq.drivers.postgres.sql import SchemaSQL, finished_channel
from asynctasq.drivers.postgres.statements import PostgresStatements, data_error, rowcount
from asynctasq.drivers.postgres.transactional import raw_connection
from asynctasq.drivers.postgres.vacuum import Vacuum
from asynctasq.drivers.results import FinishNotices
from asynctasq.drivers.sql.dependencies import (
    Steps,
    end_dependants,
    link_jobs,
    run_async,
)
from asynctasq.drivers.sql.driver import SQLDriver
from asynctasq.drivers.sql.faults import dead_letter_reason
from asynctasq.drivers.sql.storable import storable_worker_id
from asynctasq.drivers.waiting import Wakeup, wait_for
from asynctasq.jobs import Completed, Failed, Job, Outcome

__all__ = ["PostgresDriver"]

log = logging.getLogger("asynctasq.drivers.postgres")

#: how often an idle reserve() looks without a notification while the LISTEN
#: connection is down (with it up, ``poll_interval`` applies)
_POLL_WITHOUT_LISTENER = 0.25
#: seconds disconnect() waits for checked-out connections before closing them
POOL_CLOSE_SECONDS = 10.0
#: enqueue retries a job whose unique_key holder finished between two statements
_UNIQUE_ROUNDS = 3
#: from this many new jobs a batch goes by COPY (its extra round trips, a transaction
#: around it, cost less than the per-row work it saves over INSERT)
_COPY_FROM = 256
#: the tests of batch isolation tell data errors apart through this name
_data_error = data_error
#: the most children one bounded settle statement releases (edges, the batch's first
#: completion with children always whole; Driver.settle_bounded): 10,000 children
#: take about 130 ms in one statement, while the worker has nothing released to run;
#: bounded, the first run after a few ms and the rest are released beside them
#: (benchmarks.dependencies, docs/benchmarks.md)
RELEASE_BOUND = 2000


class PostgresDriver(TransactionalEnqueue, SQLDriver):
    name = "postgres"
    #: the dashboard's overview counts a finished state exactly up to this many jobs,
    #: and shows the planner's estimate beyond (an exact count reads every entry)
    estimate_beyond = 10_000
    #: a unique_key is at most this long (its index entry must fit in a btree page)
    unique_key_max_chars = 512
    claims_on_settle = True
    #: settle_bounded's and settle_and_claim's bound (RELEASE_BOUND); the lifecycle
    #: model sets 1, so that every completion with children after a call's first is
    #: left for another call
    release_bound: int = RELEASE_BOUND

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
        clock: Clock | None = None,
    ) -> None:
        if max_pool_size < 1:
            raise ValueError("max_pool_size (ASYNCTASQ_POSTGRES_MAX_POOL_SIZE) must be >= 1")
        if poll_interval <= 0:
            raise ValueError("poll_interval must be > 0 seconds")
        super().__init__(keep_completed=keep_completed, clock=clock)
        self.settings = ConnectionSettings(dsn, application_name)
        self.sql = SchemaSQL(schema)
        self.min_pool_size = min_pool_size
        self.max_pool_size = max_pool_size
        self.poll_interval = poll_interval
        #: next-due lookups a NOTIFY cut short, held until they finish (see idle)
        self._lookups: set[asyncio.Future[float | None]] = set()
        self.migrate_on_connect = migrate_on_connect
        self._db = PoolRunner()
        self.statements = PostgresStatements(self._db, self.sql)
        self._vacuum = Vacuum(self._db, self.sql, vacuum_every)
        self._listener: Listener | None = None
        #: LISTENs under way, which run beside the claim that follows (see prepare_wait)
        self._subscribing: set[asyncio.Task[None]] = set()
        self._connect_lock = asyncio.Lock()
        self._applied_on_connect: list[str] = []
        #: queues this driver stored in the queues table (committed)
        self._known_queues: set[str] = set()

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
            self.wakeup = Wakeup()
            # a short timeout: reserve() waits for the LISTEN connection (it polls instead
            # when that fails), and a worker must not hang there on an unreachable server
            self._listener = Listener(
                lambda: self.settings.connect(timeout=5.0), lambda: self.wakeup.notify()
            )

    async def disconnect(self) -> None:
        await self._vacuum.close()
        for subscribing in list(self._subscribing):
            subscribing.cancel()
        await asyncio.gather(*self._subscribing, return_exceptions=True)
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        pool, self._db.pool = self._db.pool, None
        if pool is not None:
            try:
                # close() waits for every checked-out connection to come back; a caller
                # that never returns one must not hang the shutdown
                await asyncio.wait_for(pool.close(), POOL_CLOSE_SECONDS)
            except TimeoutError:
                log.warning(
                    "%s: connections still in use after %.0f s; closing them",
                    self.name,
                    POOL_CLOSE_SECONDS,
                )
                pool.terminate()

    async def _migrate_if_behind(self) -> None:
        async with self._db.require().acquire() as con:
            if await schema_version(con, self.sql) < self.sql.latest_version:
                applied = await apply_migrations(con, self.sql, self.clock)
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
                return earlier + await apply_migrations(con, self.sql, self.clock)
        try:
            con = await self.settings.connect()
        except Exception as exc:
            raise self.settings.unreachable(exc) from exc
        try:
            return await apply_migrations(con, self.sql, self.clock)
        finally:
            await con.close()

    # -- worker side -------------------------------------------------------------------

    def _wake_local(self) -> None:
        """Nothing to do: every statement that makes a job claimable NOTIFYs its queue,
        and this process's listener hears that too (only once it commits: a job
        enqueued in a caller's transaction is not claimable before)."""

    async def _insert(self, jobs: Sequence[Job], connection: Any) -> list[str]:
        # rows are inserted in this order: sorting by unique_key means two batches that
        # share keys wait on each other in one order, never in a cycle (deadlock)
        todo = sorted(jobs, key=lambda j: j.unique_key or "") if _any_keyed(jobs) else jobs
        if connection is not None:
            con = await raw_connection(connection)  # no retries: it is the caller's
            await self._register_queues(jobs)
            try:
                # a failed statement would abort the caller's transaction: no plain try
                holders = await self._store_linked(con, todo, jobs, idempotent=True)
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
                return await self._store_linked(con, todo, jobs, idempotent=tries > 1)

            holders = await self._db.run(insert)
        return [holders.get(job.id, job.id) for job in jobs]

    async def _store_linked(
        self, con: Any, todo: Sequence[Job], jobs: Sequence[Job], *, idempotent: bool
    ) -> dict[str, str]:
        """``_store``, and the jobs with parents linked to them, in one transaction (a
        savepoint inside the caller's: an unknown parent undoes the whole batch)."""
        if not any(job.depends_on or job.flow_id for job in jobs):
            return await self._store(con, todo, idempotent=idempotent)
        async with con.transaction():
            holders = await self._store(con, todo, idempotent=idempotent)
            stored = [job.id for job in jobs if job.id not in holders]
            linking = link_jobs(jobs, stored, self.clock.time(), stored_blocked=True)
            await run_async(linking, self._executor(con))
        return holders

    def _executor(self, con: Any) -> Any:
        """Run a named statement on ``con`` (in its transaction); its rows."""
        sql = self.sql
        return lambda name, params: con.fetch(sql[name], *sql.positional(name, params))

    async def _run_steps(self, make: Callable[[], Steps]) -> Any:
        async def run(con: Any) -> Any:  # each try runs fresh steps
            async with con.transaction():
                return await run_async(make(), self._executor(con))

        return await self._db.run(run)

    async def _fire(
        self, schedule_id: str, expected: float, next_at: float, jobs: Sequence[Job]
    ) -> bool:
        await self._register_queues(jobs)
        advance = self.sql["schedule_advance"]

        async def fire(con: Any) -> bool:
            async with con.transaction():
                if rowcount(await con.execute(advance, schedule_id, expected, next_at)) != 1:
                    return False
                if jobs:  # (linked: a job with parents is stored blocked, see enqueue)
                    await self._store_linked(con, jobs, jobs, idempotent=True)
                return True

        return bool(await self._db.run(fire))

    async def _register_queues(self, jobs: Sequence[Job]) -> None:
        """Store new queue names on our own connection, committed at once, before a
        transactional insert: a queue row the caller's transaction inserted would make
        every other producer of that queue wait until the caller commits."""
        new = sorted({job.queue for job in jobs} - self._known_queues)
        if new:
            await self._db.run(lambda con: con.execute(self.sql["register_queues"], new))
            self._known_queues.update(new)

    async def _store(self, con: Any, jobs: Sequence[Job], *, idempotent: bool) -> dict[str, str]:
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

    async def _claim(
        self, queues: list[str], limit: int, worker_id: str, now: float, lease_seconds: float
    ) -> list[Job]:
        rows = await self._db.fetch(
            self.sql["claim"], queues, now, limit, worker_id, now + lease_seconds
        )
        return await self._claimed(rows, worker_id)

    async def _claimed(self, rows: Sequence[Any], worker_id: str) -> list[Job]:
        self._vacuum.claimed(len(rows))
        jobs = await self._sound(rows, worker_id)
        jobs.sort(key=lambda j: (j.priority, j.run_at, j.id))
        return jobs

    async def prepare_wait(self, queues: Sequence[str], wait: float) -> None:
        """LISTEN on the queues' channels, beside the claim that follows: opening the
        LISTEN connection must not delay a job that is already waiting (a worker's
        start). idle() waits for it, and the claim after that finds a job that came
        before the LISTEN could hear of it."""
        listener = self._listener
        if wait <= 0 or listener is None:
            return
        channels = [self.sql.channel(q) for q in queues]
        if listener.covers(channels):
            return
        subscribing = asyncio.ensure_future(listener.subscribe(channels))
        self._subscribing.add(subscribing)
        subscribing.add_done_callback(self._subscribing.discard)

    async def idle(self, queues: Sequence[str], armed: Any, remaining: float) -> None:
        """Until NOTIFY, the next job is due, or the poll interval (shorter while the
        LISTEN connection is down) passes. The look for the next due job runs beside
        the wait, not before it: a NOTIFY that arrives meanwhile (a child released by
        its parent's settle, a new job) ends the wait at once. While a LISTEN is under
        way, only until it is done (then reserve() claims again)."""
        if self._subscribing:
            await asyncio.wait(self._subscribing, timeout=remaining)
            return
        listening = self._listener is not None and self._listener.healthy
        pause = min(remaining, self.poll_interval if listening else _POLL_WITHOUT_LISTENER)
        if armed.is_set():
            return
        started = self.clock.time()
        lookup = asyncio.ensure_future(self.next_due(queues))
        woken = asyncio.ensure_future(armed.wait())
        try:
            await asyncio.wait((lookup, woken), timeout=pause, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
        if armed.is_set() or not lookup.done():
            self._lookups.add(lookup)  # left to finish on its own (cancelling a query
            lookup.add_done_callback(self._lookup_done)  # would cost its connection more)
            return
        next_due = lookup.result()
        pause -= self.clock.time() - started
        if next_due is not None:
            pause = min(pause, max(next_due - self.clock.time(), 0.0) + 0.001)
        await wait_for(armed, pause)

    def _lookup_done(self, lookup: asyncio.Future[float | None]) -> None:
        self._lookups.discard(lookup)
        if not lookup.cancelled() and lookup.exception() is not None:
            log.debug("looking for the next due job failed: %r", lookup.exception())

    async def next_due(self, queues: Sequence[str]) -> float | None:
        due = await self._db.fetchval(self.sql["next_due"], list(queues), self.clock.time())
        return None if due is None else float(due)

    async def _sound(self, rows: Sequence[Any], worker_id: str) -> list[Job]:
        """The claimed jobs whose records are sound; the others (see faults.py) are
        dead-lettered with the reason, while this claim still holds them."""
        jobs, damaged, reasons = [], [], []
        for row in rows:
            job = claimed_job(row)
            reason = dead_letter_reason(job, claimed=True)
            if reason is not None:
                damaged.append(job.id)
                reasons.append(reason)
            else:
                jobs.append(job)
        if damaged:
            try:
                await self._db.execute(
                    self.sql["dead_letter_claimed"], damaged, reasons, worker_id, self.clock.time()
                )
            except Exception as exc:  # the good jobs are claimed: hand them out anyway
                log.warning(
                    "cannot dead-letter %d damaged job(s) yet (%s: %s); they come back "
                    "when their lease lapses",
                    len(damaged),
                    type(exc).__name__,
                    exc,
                )
        return jobs

    async def settle_and_claim(
        self, outcomes: Sequence[Outcome], request: ClaimRequest
    ) -> tuple[list[bool], list[Job], list[int]]:
        now = self.clock.time()
        worker_id = storable_worker_id(request.worker_id)
        handoff = Handoff(request, worker_id, now + request.lease_seconds, bound=self.release_bound)
        accepted, left = await self._settle_handing(outcomes, handoff)
        if not handoff.rows:
            return accepted, [], left
        jobs = await self._claimed(handoff.rows, worker_id)
        return accepted, await self._drop_expired(jobs, worker_id, now), left

    async def settle_bounded(self, outcomes: Sequence[Outcome]) -> tuple[list[bool], list[int]]:
        bounded = Handoff(None, None, None, bound=self.release_bound)
        return await self._settle_handing(outcomes, bounded)

    async def _settle_handing(
        self, outcomes: Sequence[Outcome], handoff: Handoff
    ) -> tuple[list[bool], list[int]]:
        write = functools.partial(self._settle_batch, handoff=handoff)
        accepted = await self._settle_outcomes(outcomes, write)
        left = handoff.positions_left(outcomes)
        for i in left:  # not applied: neither accepted nor refused yet
            accepted[i] = False
        return accepted, left

    async def _settle(
        self,
        outcomes: Sequence[Outcome],
        write: Callable[[Sequence[Outcome]], Awaitable[list[bool]]],
    ) -> list[bool]:
        # one statement settles each job once: a job reported twice in one batch is
        # settled by its first report, as in the reference
        firsts = list({o.job_id: i for i, o in reversed(list(enumerate(outcomes)))}.values())
        settled = await super()._settle([outcomes[i] for i in sorted(firsts)], write)
        accepted = {outcomes[i].job_id for i, ok in zip(sorted(firsts), settled, strict=True) if ok}
        first = set(firsts)
        return [i in first and o.job_id in accepted for i, o in enumerate(outcomes)]

    async def _settle_batch(
        self, batch: Sequence[Outcome], handoff: Handoff | None = None
    ) -> list[bool]:
        """One statement: every outcome (one per job), or (on an error) none; with a
        ``handoff``, the children it releases claimed for the reporting worker."""
        args = settle_args(batch, self.keep_completed)
        now = self.clock.time()
        if not any(isinstance(o, Failed) for o in batch):  # completions release in-statement
            claim = NO_CLAIM if handoff is None else handoff.args()
            bound = None if handoff is None else handoff.bound
            if bound is not None and _completions(batch) > 1:  # (one: nothing to leave)
                row = await self._db.fetchrow(self.sql["settle_bounded"], *args, now, *claim, bound)
            else:
                row = await self._db.fetchrow(self.sql["settle"], *args, now, *claim)
            if handoff is not None:
                if row["claimed"]:
                    handoff.took(row["claimed"])
                handoff.left.update(row["later"])
            if row["marked"]:  # children linked while their parent settled (0011)
                # (a crash before this runs leaves them to the periodic repair)
                await self._db.fetch(self.sql["dep_release_marked"], row["marked"])
            accepted = set(row["accepted"])
            return [o.job_id in accepted for o in batch]

        async def settle_and_cascade(con: Any) -> set[str]:
            # a failed parent's dependants follow their policy in the same transaction
            async with con.transaction():
                row = await con.fetchrow(self.sql["settle"], *args, now, *NO_CLAIM)
                if row["marked"]:  # children linked while their parent settled (0011)
                    await con.fetch(self.sql["dep_release_marked"], row["marked"])
                done = set(row["accepted"])
                failed = [(o.job_id, "failed") for o in batch if isinstance(o, Failed)]
                ended = [pair for pair in failed if pair[0] in done]
                await run_async(end_dependants(ended, now), self._executor(con))
                return done

        accepted = await self._db.run(settle_and_cascade)
        return [o.job_id in accepted for o in batch]

    async def _requeue_batch(self, ids: Sequence[str], now: float) -> list[str]:
        rows = await self.statements.tuples("requeue_many", ids=list(ids), now=now)
        return [row[0] for row in rows]

    async def _extend(self, ids: Sequence[str], worker_id: str, lease_until: float) -> set[str]:
        rows = await self._db.fetch(self.sql["renew"], list(ids), worker_id, lease_until)
        return {row["id"] for row in rows}

    async def _recover(self, now: float) -> tuple[int, list[Any]]:
        async def recover(con: Any) -> list[Any]:
            async with con.transaction():  # the dead jobs' dependants in the same one
                rows = await con.fetch(self.sql["recover_expired"], now, LEASE_EXPIRED_ERROR)
                ended = [(row["id"], "failed") for row in rows if row["id"] is not None]
                await run_async(end_dependants(ended, now), self._executor(con))
                return list(rows)

        rows = await self._db.run(recover)
        return int(rows[0]["requeued"]), [row for row in rows if row["id"] is not None]

    def finish_notices(self) -> AbstractAsyncContextManager[FinishNotices]:
        return listen_finished(
            lambda: self.settings.connect(timeout=5.0), finished_channel(self.sql.schema)
        )


def _completions(batch: Sequence[Outcome]) -> int:
    return sum(isinstance(o, Completed) for o in batch)


def _any_keyed(jobs: Sequence[Job]) -> bool:
    return any(job.unique_key for job in jobs)
