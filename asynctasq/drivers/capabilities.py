"""Optional capabilities a driver may add to the core (``base.Driver``).

A driver declares a capability by inheriting its mixin and implementing its methods:

    class MyDriver(Inspection, Pausing, Driver): ...

A feature that needs one asks for it: ``require(driver, Pausing)`` returns the driver
(typed as having the capability) or raises :class:`CapabilityMissing`, whose message
names the driver, the capability and what to do. ``capabilities_of(driver)`` lists
what a driver offers (the conformance suite runs the tests of each, and reports the
others as skipped by name).

Later features add capabilities here (dependencies, schedules, rate limits...).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, TypeVar

from asynctasq.drivers.base import Driver, DriverError
from asynctasq.drivers.overviews import FailedGroups, FlowRecord, group_failed
from asynctasq.drivers.positions import Position, Positioned
from asynctasq.drivers.results import (
    DEFAULT_RESULT_RETENTION,
    FinishNotices,
    StoredOutcome,
    polling_notices,
)
from asynctasq.jobs import Job, JobState, QueueStats, WorkerInfo
from asynctasq.ratelimit import RateLimit
from asynctasq.schedules import Schedule

__all__ = [
    "ALL_CAPABILITIES",
    "EXPIRY_SWEEP",
    "Capability",
    "CapabilityMissing",
    "ConcurrencyKeys",
    "Deduplication",
    "Dependencies",
    "Expiry",
    "Flows",
    "Inspection",
    "Management",
    "Migrations",
    "Pausing",
    "ProgressStore",
    "RateLimits",
    "Removal",
    "Results",
    "RunningCancellation",
    "Schedules",
    "TransactionalEnqueue",
    "UniqueKeys",
    "WorkerRegistry",
    "capabilities_of",
    "require",
]


#: requeues in flight at once in the default Management.requeue_many
REQUEUE_CONCURRENCY = 16
#: most jobs one Expiry.sweep_expired() call moves (one short atomic step)
EXPIRY_SWEEP = 500
#: failed jobs Inspection.failed_groups reads by default when it cannot aggregate
FAILED_GROUPS_BUDGET = 10_000


class Capability(abc.ABC):  # noqa: B024 - some capabilities are declarations only
    """The base of every capability mixin."""

    #: how errors and docs name the capability
    label: ClassVar[str] = "a capability"
    #: what the user can do without it (shown in CapabilityMissing)
    advice: ClassVar[str] = "use a driver that has it (see docs/drivers/)"


class CapabilityMissing(DriverError):
    def __init__(self, driver: Any, capability: type[Capability], feature: str = "") -> None:
        name = getattr(driver, "name", type(driver).__name__)
        needs = f"{feature} needs" if feature else "this needs"
        super().__init__(
            f"the {name} driver does not support {capability.label} "
            f"({capability.__name__}): {needs} it; {capability.advice}"
        )
        self.driver = name
        self.capability = capability


class Inspection(Capability):
    """Read jobs and queues: ``get``, ``list_jobs``, ``stats``, ``queues``."""

    label = "inspecting jobs and queues"

    @abc.abstractmethod
    async def get(self, job_id: str) -> Job | None: ...

    @abc.abstractmethod
    async def list_jobs(
        self, queue: str, state: JobState | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        """Jobs of a queue (optionally in one state): waiting ones in claim order,
        finished ones newest first."""

    @abc.abstractmethod
    async def stats(self, queue: str) -> QueueStats: ...

    async def get_queue_stats(self, queue: str) -> QueueStats:
        return await self.stats(queue)

    @abc.abstractmethod
    async def queues(self) -> list[str]:
        """Every queue that holds or held jobs, sorted."""

    async def estimated_stats(self, queue: str) -> tuple[QueueStats, dict[str, str]]:
        """``stats`` for a display that must stay fast on a huge queue (the dashboard's
        overview), and the QueueStats fields that are not exact counts, each with the
        word to put before it: "about" (an estimate) or "more than" (a lower bound,
        when no estimate can be trusted). A driver may estimate a state holding very
        many jobs rather than count it. This default is the exact ``stats``."""
        return await self.stats(queue), {}

    async def list_jobs_reversed(
        self, queue: str, state: JobState, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        """``list_jobs(queue, state)`` read from its other end: finished jobs oldest
        first, waiting ones last to run first. This default counts the state and
        reads ``list_jobs`` backwards from the end; a driver with an index to walk
        either way reads there instead."""
        total = await self._count(queue, state)
        end = max(0, total - offset)
        start = max(0, end - limit)
        if end <= start:
            return []
        jobs = await self.list_jobs(queue, state, limit=end - start, offset=start)
        return jobs[::-1]

    async def _count(self, queue: str, state: JobState) -> int:
        fields = {
            JobState.PENDING: "depth", JobState.SCHEDULED: "scheduled",
            JobState.ACTIVE: "processing", JobState.COMPLETED: "completed",
            JobState.FAILED: "failed", JobState.CANCELLED: "cancelled",
        }  # fmt: skip
        if state in fields:
            return int(getattr(await self.stats(queue), fields[state]))
        total, page = 0, 1000  # a state stats does not count (blocked, expired): read it
        while True:
            jobs = await self.list_jobs(queue, state, limit=page, offset=total)
            total += len(jobs)
            if len(jobs) < page:
                return total

    async def list_finished_from(
        self,
        queue: str,
        state: JobState,
        *,
        after: tuple[float, str] | None,
        limit: int,
        reverse: bool = False,
    ) -> list[Job] | None:
        """A page of ``list_jobs(queue, state)`` for a finished ``state`` (newest first,
        or oldest first with ``reverse``) that starts just after the job at ``after``
        (its finish time and id; None: from the start), read from an index at that
        position rather than by counting an offset from the start: a page a million
        jobs deep costs what the first does. None when the driver has no such index
        (the caller pages by offset; this default)."""
        return None

    async def list_from(
        self,
        queue: str,
        state: JobState,
        *,
        after: Position | None,
        limit: int,
        reverse: bool = False,
    ) -> list[Positioned] | None:
        """A page of ``list_jobs(queue, state)`` (or of ``list_jobs_reversed`` with
        ``reverse``) that starts just after the position ``after`` (None: from the
        start), each job with its own position (asynctasq/drivers/positions.py): read
        from an index at that position rather than by counting an offset from the
        start, so a page a million jobs deep costs what the first does, and a page
        neither skips nor repeats a job when the jobs before it move on. A position
        is the driver's own sort key of the listing; one that does not fit raises
        ValueError. A driver that answers for one state answers for every state.
        None when the driver has no such index (the caller pages by offset; this
        default)."""
        return None

    async def failed_groups(
        self, queue: str, *, budget: int = FAILED_GROUPS_BUDGET
    ) -> FailedGroups:
        """``queue``'s failed jobs counted by (task, error type), for the dashboard's
        dead letters. A broker that can aggregate them all in one indexed step counts
        them all (exact at any size); this default reads the newest ``budget`` and says
        so (``counted`` of ``total``)."""
        total = await self._count(queue, JobState.FAILED)
        jobs: list[Job] = []
        page = 1000
        while len(jobs) < budget:
            read = await self.list_jobs(
                queue, JobState.FAILED, limit=min(page, budget - len(jobs)), offset=len(jobs)
            )
            jobs += read
            if len(read) < page:
                break
        return group_failed(jobs, total)

    async def count_finished_since(
        self, queue: str, state: JobState, since: float, *, cap: int
    ) -> int:
        """How many kept jobs of ``queue`` ended in ``state`` (a finished one) at or
        after epoch ``since``, counting no further than ``cap`` (``cap`` means "cap or
        more"). This default reads them newest first with ``list_jobs``; a driver with
        an index on the finish time counts there instead."""
        if not state.finished:
            raise ValueError(f"{state.value} is not a finished state")
        count, offset, page = 0, 0, max(1, min(cap, 1000))
        while count < cap:
            jobs = await self.list_jobs(queue, state, limit=page, offset=offset)
            for job in jobs:
                finished = job.finished_at if job.finished_at is not None else job.created_at
                if finished < since:
                    return count  # newest first: every later one is older
                count += 1
                if count >= cap:
                    return cap
            if len(jobs) < page:
                return count
            offset += page
        return count


class Management(Capability):
    """Operator actions on stored jobs: ``cancel``, ``requeue`` (``requeue_many``),
    ``purge``."""

    label = "operator actions (cancel, requeue, purge)"

    @abc.abstractmethod
    async def cancel(self, job_id: str) -> bool:
        """Cancel a job that has not started; False if it is active or finished."""

    @abc.abstractmethod
    async def requeue(self, job_id: str) -> bool:
        """Put a failed, cancelled or expired job back to pending with attempts reset."""

    async def requeue_many(self, job_ids: Sequence[str]) -> list[bool]:
        """``requeue`` of each id (True where requeued), in order. This default sends
        them a few at a time; a driver that can requeue a batch in one round trip
        overrides it (``job retry --all`` on a big dead-letter queue calls this)."""
        gate = asyncio.Semaphore(REQUEUE_CONCURRENCY)

        async def one(job_id: str) -> bool:
            async with gate:
                return await self.requeue(job_id)

        return list(await asyncio.gather(*(one(job_id) for job_id in job_ids)))

    @abc.abstractmethod
    async def purge(self, queue: str, state: JobState, *, older_than: float | None = None) -> int:
        """Delete jobs of a queue in ``state`` (finished before epoch ``older_than``
        when given); returns how many. Active jobs cannot be purged."""


class Removal(Capability):
    """Delete one stored job by id (``asynctasq job remove``): the record goes, with
    its error and result; an active job cannot be removed (cancel it or wait)."""

    label = "removing jobs by id"
    advice = "use `queue clean` to delete finished jobs by state and age"

    @abc.abstractmethod
    async def remove(self, job_id: str) -> bool:
        """Delete a job that is not active; False if it is unknown or active."""


class Pausing(Capability):
    """Pause and resume a queue: a paused queue's jobs are not claimed."""

    label = "pausing queues"

    @abc.abstractmethod
    async def pause(self, queue: str) -> None: ...

    @abc.abstractmethod
    async def resume(self, queue: str) -> None: ...


class WorkerRegistry(Capability):
    """Live workers by heartbeat: ``heartbeat``, ``remove_worker``, ``list_workers``."""

    label = "a worker registry"

    @abc.abstractmethod
    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        """Record a live worker; it disappears from list_workers() after ``ttl``."""

    @abc.abstractmethod
    async def remove_worker(self, worker_id: str) -> None: ...

    @abc.abstractmethod
    async def list_workers(self) -> list[WorkerInfo]: ...


class ProgressStore(Capability):
    """Persist a running job's progress."""

    label = "storing job progress"

    @abc.abstractmethod
    async def set_progress(self, job_id: str, worker_id: str, progress: float) -> bool:
        """Record progress (0..1) of an active job held by ``worker_id``."""


class UniqueKeys(Capability):
    """``enqueue`` keeps one unfinished job per ``unique_key`` (a declaration: the
    core ``enqueue`` honours it)."""

    label = "unique keys"


class TransactionalEnqueue(Capability):
    """``enqueue(jobs, connection=...)`` inside the caller's open transaction: the
    jobs exist only if the caller commits (a declaration on the core ``enqueue``)."""

    label = "transactional enqueue"
    advice = "use the postgres or mysql driver, or enqueue after your commit"


class Migrations(Capability):
    """A schema to create and upgrade (``migrate``, from the core, does the work)."""

    label = "schema migrations"


# -- workflows (issue 15) ------------------------------------------------------------


class Dependencies(Capability):
    """``enqueue`` honours ``Job.depends_on`` (a declaration on the core ``enqueue``):
    a job whose parents have not all completed is stored ``blocked`` and becomes
    pending in the same atomic step that settles its last parent; a parent that ends
    failed, cancelled or expired (or is removed) applies the child's
    ``on_parent_failure``, down the DAG. A parent that completed earlier counts as done
    for ``outcome_retention`` seconds even when completed jobs are not kept; an
    unknown parent id makes ``enqueue`` raise UnknownParent and store nothing."""

    label = "job dependencies (depends_on, flows)"
    advice = "use the memory, sqlite, redis, postgres or mysql driver"


class Results(Capability):
    """A completed job's result is stored with its completion (the same script or
    transaction) and kept ``result_retention`` seconds even when completed jobs are
    not kept; ``job_outcomes`` reads results and how jobs ended, by id;
    ``finish_notices`` wakes waiters when jobs end (a broker that cannot push
    keeps the polling default). ``asynctasq.results`` is built on it."""

    label = "job results (results.get, handle.result(), parent_results)"
    advice = "use the memory, sqlite, redis, postgres, mysql or mongodb driver"

    #: seconds a result is kept (Config.result_retention; ASYNCTASQ_RESULT_RETENTION)
    result_retention: float = DEFAULT_RESULT_RETENTION

    @abc.abstractmethod
    async def job_outcomes(self, job_ids: Sequence[str]) -> dict[str, StoredOutcome]:
        """How each known job stands (an unknown or forgotten id is left out)."""

    def finish_notices(self) -> AbstractAsyncContextManager[FinishNotices]:
        """Notices that jobs may have finished, for one waiter (default: polling)."""
        return polling_notices()


class Flows(Capability):
    """``enqueue`` of a batch whose jobs carry ``flow_id`` (FlowProducer) stores the
    flow's record (each job's id and ``flow_name``, in order) in the same atomic step
    as the jobs; ``flow_job_ids`` reads it back. Kept ``result_retention`` seconds
    once its jobs are gone."""

    label = "flows (FlowProducer, get_flow)"
    advice = "use the memory, sqlite, redis, postgres or mysql driver"

    @abc.abstractmethod
    async def flow_job_ids(self, flow_id: str) -> list[tuple[str, str | None]]:
        """(job id, name) of each job of the flow in the order added; [] if unknown."""

    @abc.abstractmethod
    async def list_flows(
        self, *, limit: int, before: tuple[float, str] | None = None
    ) -> list[FlowRecord]:
        """Stored flows newest first (by when added, then id, descending), from just
        after ``before`` (a flow's created_at and id; None: from the newest), read from
        an index at that position: a page deep in a million flows costs what the first
        does."""


# -- time and flow control (issue 16) ---------------------------------------------------


class Schedules(Capability):
    """Repeatable and cron schedules stored in the broker, fired once per slot.

    ``fire_schedule`` is one atomic step: a compare-and-set of the schedule's
    ``next_at`` (from the value the caller read to the next slot) together with the
    enqueue of the slot's jobs. Only one of any number of racing schedulers wins a
    slot; the losers enqueue nothing. (Slot jobs also have ids derived from schedule
    and slot, and an enqueue leaves a stored id alone: a second guard.)"""

    label = "schedules (repeatable and cron jobs)"
    advice = "use a driver that stores schedules (docs/scheduling.md lists them)"

    @abc.abstractmethod
    async def save_schedule(self, schedule: Schedule) -> None:
        """Store ``schedule`` by id with its ``next_at`` and ``paused``; one already
        stored with the same definition keeps its own (so every worker can register
        the schedules of its code at start without moving them)."""

    @abc.abstractmethod
    async def list_schedules(self) -> list[Schedule]:
        """Every schedule, sorted by id."""

    @abc.abstractmethod
    async def remove_schedule(self, schedule_id: str) -> bool: ...

    @abc.abstractmethod
    async def pause_schedule(self, schedule_id: str, paused: bool) -> bool:
        """Pause (or resume, ``paused=False``); False for an unknown id."""

    @abc.abstractmethod
    async def fire_schedule(
        self, schedule: Schedule, expected: float, next_at: float, jobs: Sequence[Job]
    ) -> bool:
        """If the stored ``next_at`` of ``schedule`` still is ``expected``: set it to
        ``next_at`` and enqueue ``jobs`` (due now, no unique key), in one atomic step,
        and return True; else change nothing and return False."""

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        found = [s for s in await self.list_schedules() if s.id == schedule_id]
        return found[0] if found else None


class Expiry(Capability):
    """A job's ``expires_at`` (``ttl=``) is honoured where it is claimed: a job past
    it moves to ``expired`` instead of being handed out (asynctasq/expiry.py states
    the rule). ``sweep_expired`` moves the waiting ones past it in the background,
    so they do not sit in the queue until a claim meets them (the worker calls it on
    its maintenance tick, beside lease recovery)."""

    label = "job expiry (ttl)"
    advice = "use a driver that expires jobs (docs/flow-control.md lists them), or drop ttl="

    @abc.abstractmethod
    async def sweep_expired(self, limit: int = EXPIRY_SWEEP) -> int:
        """Move up to ``limit`` waiting jobs (pending or scheduled, not blocked) whose
        ``expires_at`` has passed on the driver's clock to ``expired``, with
        :func:`asynctasq.expiry.expired_reason`, attempts unchanged, their unique key
        freed; one atomic step (a job claimed meanwhile is left alone; a broker that
        sweeps queue by queue takes up to ``limit`` of each). Returns how many
        moved: a caller that saw ``limit`` or more moved calls again for the rest."""


class RunningCancellation(Capability):
    """Cancelling a job that is running (``cancel`` only reaches waiting ones).

    ``cancel_running`` moves an active job to ``cancelled`` at once and withdraws its
    lease. Its worker learns of it through lease renewal (a cancelled job is not
    held any more): within two renewal ticks it asks ``is_job_cancelled`` and cancels
    the job's coroutine; the outcome it would report is refused (fenced)."""

    label = "cancelling running jobs"
    advice = "use a driver that has it (docs/flow-control.md lists them), or make the task check"

    @abc.abstractmethod
    async def cancel_running(self, job_id: str) -> bool:
        """Cancel an active job; False when it is not active (or unknown)."""

    async def is_job_cancelled(self, job_id: str) -> bool:
        """Whether the broker holds ``job_id`` as cancelled."""
        if not isinstance(self, Inspection):  # every driver with this capability has it
            raise CapabilityMissing(self, Inspection, "is_job_cancelled")
        job = await self.get(job_id)
        return job is not None and job.state is JobState.CANCELLED


class RateLimits(Capability):
    """Token buckets held in the broker, so a limit holds across every worker, and
    the queues' stored limits (set by ``Queue(rate_limit=)``, the CLI, operations).

    ``take_tokens`` is one atomic step: refill the bucket of ``key`` for the time
    since it was last touched (``limit`` tokens per ``interval`` seconds, never above
    ``burst``, the limit when None), then take up to ``count`` tokens (a worker asks
    once for the jobs it is about to start together), and up to ``spare`` more from
    the bucket's upper half. ``now`` comes from the caller's clock; the arithmetic is
    asynctasq/ratelimit.py's."""

    label = "rate limits"
    advice = "use a driver that holds rate limits (docs/flow-control.md lists them)"

    @abc.abstractmethod
    async def take_tokens(
        self,
        key: str,
        count: int,
        limit: int,
        interval: float,
        now: float,
        *,
        burst: int | None = None,
        spare: int = 0,
    ) -> tuple[int, float]:
        """How many tokens were taken (0..count + spare), and the seconds until the
        next one is free when fewer than ``count`` were, else 0.0 (``interval`` for
        ``limit=0``: a blocked key is looked at again then, its bucket untouched)."""

    async def take_token(self, key: str, limit: int, interval: float, now: float) -> float:
        """0.0 when one token was taken; else the seconds until the next is free."""
        _, wait = await self.take_tokens(key, 1, limit, interval, now)
        return wait

    @abc.abstractmethod
    async def set_queue_rate_limit(self, queue: str, limit: RateLimit | None) -> None:
        """Store ``queue``'s limit (None: remove it). Workers read it periodically."""

    @abc.abstractmethod
    async def queue_rate_limits(self) -> dict[str, RateLimit]:
        """Every stored queue limit, by queue: one small read."""


class Deduplication(Capability):
    """``enqueue`` honours ``Job.unique_mode`` (a declaration on the core
    ``enqueue``; asynctasq/dedup.py states the rules): ``until_started``,
    ``throttle`` (one job per key per ``unique_for`` window) and ``debounce`` (a
    duplicate replaces the waiting job's payload and pushes its run time to now +
    ``unique_for``), each checked and applied in the enqueue's atomic step. A refused
    duplicate is not stored: its place in the returned ids holds the holder's id."""

    label = "deduplication modes (unique_mode)"
    advice = "use a driver with it (docs/flow-control.md lists them), or drop unique_mode="
    #: the modes this broker applies (until_finished is UniqueKeys)
    dedup_modes: ClassVar[frozenset[str]] = frozenset({"until_started", "throttle", "debounce"})


class ConcurrencyKeys(Capability):
    """At most ``limit`` jobs with one concurrency key running at once, across every
    worker (``concurrency_key=``, ``max_concurrency=``; docs/flow-control.md).

    A worker asks for a slot when it is about to start a job with a key, and gives
    it back when the job's attempt ends. ``acquire_slot`` is one atomic step in the
    broker: the key's slots whose job is no longer active (settled, released, or its
    lease lapsed and recovered: a crashed worker's slot frees itself) are dropped;
    then the job takes a slot if fewer than ``limit`` remain (a job that holds one
    already keeps it: a new attempt of the same job)."""

    label = "concurrency keys (concurrency_key, max_concurrency)"
    advice = "use a driver with it (docs/flow-control.md lists them), or drop concurrency_key="

    @abc.abstractmethod
    async def acquire_slot(self, job: Job, key: str, limit: int) -> bool:
        """Take a slot of ``key`` for the active ``job``; False when ``limit`` other
        active jobs hold the key's slots."""

    @abc.abstractmethod
    async def release_slot(self, job: Job, key: str) -> None:
        """Give ``job``'s slot of ``key`` back (nothing when it holds none)."""


ALL_CAPABILITIES: tuple[type[Capability], ...] = (
    Inspection,
    Management,
    Removal,
    Pausing,
    WorkerRegistry,
    ProgressStore,
    UniqueKeys,
    TransactionalEnqueue,
    Migrations,
    Dependencies,
    Results,
    Flows,
    Schedules,
    Expiry,
    RunningCancellation,
    RateLimits,
    Deduplication,
    ConcurrencyKeys,
)

C = TypeVar("C", bound=Capability)


def require(driver: Driver, capability: type[C], feature: str = "") -> C:
    """``driver`` as having ``capability``, or CapabilityMissing naming both."""
    if isinstance(driver, capability):
        return driver
    raise CapabilityMissing(driver, capability, feature)


def capabilities_of(driver: Driver | type[Driver]) -> list[type[Capability]]:
    cls = driver if isinstance(driver, type) else type(driver)
    return [cap for cap in ALL_CAPABILITIES if issubclass(cls, cap)]


def unsupported(driver: Driver, capabilities: Sequence[type[Capability]]) -> list[str]:
    """Labels of the capabilities in ``capabilities`` the driver lacks."""
    return [cap.__name__ for cap in capabilities if not isinstance(driver, cap)]
