"""The SQL driver protocol, written once: SQLite, PostgreSQL and MySQL differ only in
dialect text and connection plumbing.

``SQLDriver`` implements the core (enqueue, claim, settle, renew, recover_expired)
and the operator side (admin.py) with everything the three brokers share: values made
storable before they are sent (storable.py), a batch that isolates the item the
broker refuses (isolation.py), damaged records told apart (faults.py), fencing, the
clock as the only source of time, local wake-ups. A dialect subclass brings:

- ``statements``: its named statements on its connections (statements.py);
- how it stores a batch of jobs (``_insert``: executemany, unnest/COPY, multi-row
  VALUES; unique keys and the caller's transaction);
- how it claims (``_claim``: SQLite's single writer, SKIP LOCKED elsewhere);
- how it applies a batch of outcomes, extends leases and recovers expired ones
  (``_settle_batch``, ``_extend``, ``_recover``);
- how an idle reserve waits (``prepare_wait``/``idle`` of the core's reserve
  template: LISTEN/NOTIFY for PostgreSQL, polling for the others).
"""

from __future__ import annotations

import abc
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from asynctasq.checks import MAX_EPOCH
from asynctasq.clock import Clock
from asynctasq.drivers.base import Driver, TransactionalEnqueueUnsupported, dead_jobs
from asynctasq.drivers.capabilities import (
    EXPIRY_SWEEP,
    ConcurrencyKeys,
    Deduplication,
    Dependencies,
    Expiry,
    Flows,
    Migrations,
    Results,
    RunningCancellation,
    TransactionalEnqueue,
    UniqueKeys,
)
from asynctasq.drivers.overviews import FORGOTTEN, FlowRecord
from asynctasq.drivers.results import StoredOutcome
from asynctasq.drivers.sql.admin import SQLOperatorSide
from asynctasq.drivers.sql.dedup import enqueue_deduplicated
from asynctasq.drivers.sql.dependencies import (
    BLOCKED_STORED,
    Steps,
    cancel_job,
    expire_waiting,
    remove_job,
    sweep,
)
from asynctasq.drivers.sql.isolation import renew_isolated, settle_isolated
from asynctasq.drivers.sql.rates import SQLRateLimits
from asynctasq.drivers.sql.rows import job_from_row
from asynctasq.drivers.sql.schedules import SQLSchedules
from asynctasq.drivers.sql.slots import SQLSlots
from asynctasq.drivers.sql.storable import (
    batch_refused,
    check_storable,
    storable_outcome,
    storable_worker_id,
)
from asynctasq.drivers.waiting import Wakeup
from asynctasq.expiry import expired_reason
from asynctasq.jobs import (
    Completed,
    Failed,
    Job,
    JobState,
    Outcome,
    Recovery,
    Released,
    Retried,
)

__all__ = ["SQLDriver"]

#: parents' outcomes read per statement (bounded: a statement's parameters are)
_OUTCOMES_PER_READ = 1000

log = logging.getLogger(__name__)

#: seconds between two dependency repairs (sql/dependencies.py sweep) by one driver
SWEEP_INTERVAL = 5.0


class SQLDriver(
    SQLOperatorSide,
    SQLSchedules,
    SQLRateLimits,
    SQLSlots,
    UniqueKeys,
    Deduplication,
    Migrations,
    Expiry,
    RunningCancellation,
    Dependencies,
    ConcurrencyKeys,
    Results,
    Flows,
    Driver,
):
    #: the dialect keeps a blocked job's count of unfinished parents (blocked_by);
    #: else a child is released when no edge names it (sql/dependencies.py)
    counts_blocked: ClassVar[bool] = True
    #: the longest unique_key the broker's index holds (None: no limit)
    unique_key_max_chars: ClassVar[int | None] = None

    def __init__(self, *, keep_completed: bool, clock: Clock | None) -> None:
        self.keep_completed = keep_completed
        if clock is not None:
            self.clock = clock
        self.wakeup = Wakeup()
        self._checked_names: set[str] = set()  # queue and task names found storable
        self._next_sweep = 0.0  # when recover_expired next repairs dependencies

    def _wake_local(self) -> None:
        self.wakeup.notify()

    # -- enqueue -----------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[Job], *, connection: Any = None) -> list[str]:
        if connection is not None and not isinstance(self, TransactionalEnqueue):
            raise TransactionalEnqueueUnsupported(self.name)
        if not jobs:
            return []
        check_storable(jobs, key_max_chars=self.unique_key_max_chars, names=self._checked_names)
        if any(job.unique_mode is not None for job in jobs):
            return await self._enqueue_deduplicated(jobs, connection)
        try:
            ids = await self._insert(jobs, connection)
        except Exception as exc:
            if not self._refuses_batch(exc):
                raise
            raise batch_refused(self.name, exc) from exc  # one transaction: none stored
        self._wake_local()
        return ids

    async def _enqueue_deduplicated(self, jobs: Sequence[Job], connection: Any) -> list[str]:
        """A batch holding jobs with a deduplication mode (sql/dedup.py): those go
        one transaction each, in order; the others together, as usual."""
        if connection is not None:
            raise ValueError(
                "unique_mode cannot be enqueued inside your transaction (connection=) yet: "
                "enqueue it after your commit"
            )
        plain = [job for job in jobs if job.unique_mode is None]
        stored = iter(await self.enqueue(plain) if plain else [])
        ids = []
        for job in jobs:
            if job.unique_mode is None:
                ids.append(next(stored))
            else:
                make = functools.partial(enqueue_deduplicated, job, self.clock.time())
                ids.append(await self._run_fresh_steps(make))
        self._wake_local()
        return ids

    @abc.abstractmethod
    async def _insert(self, jobs: Sequence[Job], connection: Any) -> list[str]:
        """Store ``jobs`` (in the caller's transaction with ``connection``) in one
        transaction; their ids, or the id of the unfinished job holding a job's
        unique_key in its place."""

    def _refuses_batch(self, exc: BaseException) -> bool:
        """``exc`` from ``_insert`` refuses the data (nothing was stored)."""
        return self.statements.data_error(exc)

    # -- claim -------------------------------------------------------------------------

    async def claim(
        self, queues: Sequence[str], *, limit: int, worker_id: str, lease_seconds: float
    ) -> list[Job]:
        if limit <= 0:
            return []
        now = self.clock.time()
        worker_id = storable_worker_id(worker_id)
        jobs = await self._claim(list(dict.fromkeys(queues)), limit, worker_id, now, lease_seconds)
        return await self._drop_expired(jobs, worker_id, now)

    async def cancel_running(self, job_id: str) -> bool:
        """An active job (capability RunningCancellation): cancelled, lease withdrawn."""
        now = self.clock.time()
        return await self.statements.change("cancel_running", id=job_id, now=now) == 1

    async def _drop_expired(self, jobs: list[Job], worker_id: str, now: float) -> list[Job]:
        """The claimed jobs whose ttl has not run out; the others move to expired
        (capability Expiry), while this claim still holds them."""
        live = []
        for job in jobs:
            if job.expires_at is None or job.expires_at > now:
                live.append(job)
                continue
            try:
                await self.statements.change(
                    "expire_claimed",
                    id=job.id,
                    worker_id=worker_id,
                    now=now,
                    error=expired_reason(job.expires_at),
                )
            except Exception as exc:  # still never run: its lease lapses, a later claim expires it
                log.warning("cannot expire job %s yet (%s: %s)", job.id, type(exc).__name__, exc)
        return live

    @abc.abstractmethod
    async def _claim(
        self, queues: list[str], limit: int, worker_id: str, now: float, lease_seconds: float
    ) -> list[Job]:
        """Claim up to ``limit`` due jobs of ``queues`` (sound records only: a damaged
        one is dead-lettered with the reason), in claim order."""

    # -- outcomes and leases -----------------------------------------------------------

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        return await self._settle_outcomes(outcomes, self._settle_batch)

    async def _settle_outcomes(
        self,
        outcomes: Sequence[Outcome],
        write: Callable[[Sequence[Outcome]], Awaitable[list[bool]]],
    ) -> list[bool]:
        """settle(), each batch applied by ``write`` (``_settle_batch`` or a variant)."""
        if not outcomes:
            return []
        for outcome in outcomes:
            if not isinstance(outcome, Completed | Retried | Failed | Released):
                raise TypeError(f"unknown outcome {outcome!r}")
        accepted = await self._settle(outcomes, write)
        # a retry or release is claimable again; a completion may have released children
        if any(not isinstance(o, Failed) for o in outcomes):
            self._wake_local()
        return accepted

    async def _settle(
        self,
        outcomes: Sequence[Outcome],
        write: Callable[[Sequence[Outcome]], Awaitable[list[bool]]],
    ) -> list[bool]:
        batch = [storable_outcome(o) for o in outcomes]
        return await settle_isolated(batch, write, self.statements.data_error)

    @abc.abstractmethod
    async def _settle_batch(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """Apply every outcome in one transaction, or (on an error) none; each fenced
        by (state, worker, attempt). True where accepted."""

    async def renew(
        self, worker_id: str, job_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        if not job_ids:
            return []
        worker_id = storable_worker_id(worker_id)
        lease_until = self.clock.time() + lease_seconds

        async def extend(ids: Sequence[str]) -> list[bool]:
            held = await self._extend(ids, worker_id, lease_until)
            return [job_id in held for job_id in ids]

        return await renew_isolated(job_ids, extend, self.statements.data_error)

    @abc.abstractmethod
    async def _extend(self, ids: Sequence[str], worker_id: str, lease_until: float) -> set[str]:
        """Extend the leases ``worker_id`` holds among ``ids``; the ids it holds."""

    async def recover_expired(self) -> Recovery:
        now = self.clock.time()
        if now >= self._next_sweep:  # every worker's tick, at most once per interval
            self._next_sweep = now + SWEEP_INTERVAL
            await self._run_steps(
                lambda: sweep(now, counted=self.counts_blocked, retention=self.result_retention)
            )
            await self.statements.change("dedup_sweep", now=now)  # passed throttle windows
        requeued, dead = await self._recover(now)
        if requeued:
            self._wake_local()
        return Recovery(requeued, dead_jobs(dead, lambda row: job_from_row(row, now), self.name))

    @abc.abstractmethod
    async def _recover(self, now: float) -> tuple[int, Sequence[Any]]:
        """Move jobs whose lease lapsed before ``now`` back to pending, or to failed
        after their last attempt; how many went back, and the failed ones' rows."""

    # -- dependencies (sql/dependencies.py) --------------------------------------------

    @abc.abstractmethod
    async def _run_steps(self, make: Callable[[], Steps]) -> Any:
        """Run the dependency steps ``make()`` gives in one transaction; what they
        return. (A factory: a transaction retried after a lost connection runs fresh
        steps, not a generator already part consumed.)"""

    async def _run_fresh_steps(self, make: Callable[[], Steps]) -> Any:
        """``_run_steps`` (the name SQLSlots and the deduplicated enqueue know)."""
        return await self._run_steps(make)

    async def cancel(self, job_id: str) -> bool:
        return bool(await self._run_steps(lambda: cancel_job(job_id, self.clock.time())))

    async def sweep_expired(self, limit: int = EXPIRY_SWEEP) -> int:
        """Capability Expiry: one transaction (sql/dependencies.py expire_waiting)."""
        if limit <= 0:
            return 0
        return int(await self._run_steps(lambda: expire_waiting(self.clock.time(), limit)))

    async def remove(self, job_id: str) -> bool:
        return bool(await self._run_steps(lambda: remove_job(job_id, self.clock.time())))

    async def purge(self, queue: str, state: JobState, *, older_than: float | None = None) -> int:
        purged = await super().purge(queue, state, older_than=older_than)
        if purged and not state.finished:  # children of purged parents must not wait
            await self._run_steps(
                lambda: sweep(
                    self.clock.time(),
                    counted=self.counts_blocked,
                    retention=self.result_retention,
                )
            )
        return purged

    # -- results (Results, 0008) ----------------------------------------------------------

    async def job_outcomes(self, job_ids: Sequence[str]) -> dict[str, StoredOutcome]:
        """One statement per ``_OUTCOMES_PER_READ`` ids (a fan-in child reads 10,000
        parents in a few round trips, not 10,000)."""
        found: dict[str, StoredOutcome] = {}
        unique = list(dict.fromkeys(job_ids))
        for start in range(0, len(unique), _OUTCOMES_PER_READ):
            chunk = unique[start : start + _OUTCOMES_PER_READ]
            rows = await self.statements.tuples("job_outcomes", ids=self._id_list(chunk))
            # a job still stored (kept) comes before its entry in completed (source 0)
            for job_id, state, result, error, _source in sorted(rows, key=lambda r: r[4]):
                if job_id not in found:
                    found[job_id] = StoredOutcome(
                        job_id, _visible(state), None if result is None else bytes(result), error
                    )
        return found

    def _id_list(self, ids: Sequence[str]) -> Any:
        """A list of ids as this dialect's statements take it (SQLite: JSON text)."""
        return list(ids)

    async def flow_job_ids(self, flow_id: str) -> list[tuple[str, str | None]]:
        """(job id, name) of each job of a flow, in the order it was added."""
        return [
            (row[0], row[1]) for row in await self.statements.tuples("flow_jobs", flow_id=flow_id)
        ]

    async def list_flows(
        self, *, limit: int, before: tuple[float, str] | None = None
    ) -> list[FlowRecord]:
        at, flow_id = before if before is not None else (MAX_EPOCH + 1, "")
        heads = await self.statements.tuples("flows_newest", at=at, id=flow_id, limit=limit)
        return [
            FlowRecord(
                str(head_id), float(created), tuple(await self.flow_job_ids(head_id)),
                await self._flow_states(head_id),
            )
            for created, head_id in heads
        ]  # fmt: skip

    async def _flow_states(self, flow_id: str) -> dict[str, int]:
        """A flow's jobs by state, counted by the database (one query, any flow size)."""
        counts: dict[str, int] = {}
        for stored, n in await self.statements.tuples("flow_states", flow_id=flow_id):
            state = FORGOTTEN if stored is None else _visible(stored).value
            counts[state] = counts.get(state, 0) + int(n)
        return counts


def _visible(stored: str) -> JobState:
    return JobState.BLOCKED if stored == BLOCKED_STORED else JobState(stored)
