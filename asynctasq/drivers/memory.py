"""In-memory driver: the reference implementation of the job lifecycle, and the
broker for unit tests. Everything lives in one process; driver instances that share a
``MemoryBroker`` behave like separate connections to one server.

Every state change it makes is checked against the lifecycle table
(``lifecycle.check``: a dictionary look-up, cheap beside the change itself), and all
its time comes from its ``clock``, so the lifecycle model test
(``asynctasq.testing.conformance``) can move time for it and another broker alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

from asynctasq.clock import SYSTEM_CLOCK, Clock
from asynctasq.dedup import DEBOUNCE, holds, lock_until
from asynctasq.drivers.base import (
    LEASE_EXPIRED_ERROR,
    Driver,
    DriverNotConnected,
    TransactionalEnqueueUnsupported,
)
from asynctasq.drivers.capabilities import (
    EXPIRY_SWEEP,
    ConcurrencyKeys,
    Deduplication,
    Dependencies,
    Expiry,
    Flows,
    Inspection,
    Management,
    Pausing,
    ProgressStore,
    RateLimits,
    Removal,
    Results,
    RunningCancellation,
    Schedules,
    UniqueKeys,
    WorkerRegistry,
)
from asynctasq.drivers.dependencies import REMOVED, check_batch
from asynctasq.drivers.memory_dependencies import DependencyGraph
from asynctasq.drivers.memory_ready import Entry, ReadyQueue
from asynctasq.drivers.overviews import FailedGroups, FlowRecord, group_failed
from asynctasq.drivers.positions import Position, Positioned, check_position
from asynctasq.drivers.results import FinishNotices, NoticeHub, StoredOutcome
from asynctasq.expiry import expired_reason, is_expired
from asynctasq.jobs import (
    Completed,
    Failed,
    Job,
    JobState,
    Outcome,
    QueueStats,
    Recovery,
    Released,
    Retried,
    WorkerInfo,
    visible_state,
)
from asynctasq.lifecycle import JobEvent, check
from asynctasq.ratelimit import Bucket, RateLimit, take
from asynctasq.schedules import Schedule

__all__ = ["MemoryBroker", "MemoryDriver"]

_UNFINISHED = (JobState.PENDING, JobState.SCHEDULED, JobState.BLOCKED, JobState.ACTIVE)


class MemoryBroker:
    """The state one in-memory 'server' holds."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.versions: dict[str, int] = {}
        # per queue: the ready entries (priority, run_at, id, version) in claim order, and a
        # scheduled heap (run_at, id, version); entries go stale when a job's version moves on
        self.ready: dict[str, ReadyQueue] = {}
        self.scheduled: dict[str, list[tuple[float, str, int]]] = {}
        self.active: set[str] = set()
        self.unique: dict[str, str] = {}
        # deduplication modes (asynctasq/dedup.py): key -> (holder id, mode, until)
        self.dedup: dict[str, tuple[str, str, float | None]] = {}
        # concurrency keys: key -> ids of the jobs holding its slots
        self.slots: dict[str, set[str]] = {}
        self.paused: set[str] = set()
        self.known_queues: set[str] = set()
        self.workers: dict[str, tuple[WorkerInfo, float]] = {}
        # schedules: id -> [definition, next_at, paused] (see asynctasq/schedules.py)
        self.schedules: dict[str, list[Any]] = {}
        self.rate_buckets: dict[str, Bucket] = {}  # rate limit key -> token bucket
        # (expires_at, id) of every job stored with a ttl, for the expiry sweep; an
        # entry whose job moved on (started, finished, requeued) is dropped when met
        self.expiring: list[tuple[float, str]] = []
        self.rate_limits: dict[str, RateLimit] = {}  # queue -> its stored limit
        self._wakeup = asyncio.Event()
        self.graph = DependencyGraph(self.jobs)
        self.finished = NoticeHub()  # result waiters (Results)
        self.flows: dict[str, list[tuple[str, str | None]]] = {}  # flow id -> its jobs
        self.flows_added: dict[str, float] = {}  # flow id -> when added (list_flows)

    # the event is replaced, not cleared, so a waiter never misses a wake-up
    def notify(self) -> None:
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def wakeup_event(self) -> asyncio.Event:
        return self._wakeup

    def push(self, job: Job, now: float) -> None:
        version = self.versions.get(job.id, 0) + 1
        self.versions[job.id] = version
        if job.run_at > now:
            heapq.heappush(self.scheduled.setdefault(job.queue, []), (job.run_at, job.id, version))
        else:
            ready = self.ready.get(job.queue)
            if ready is None:
                ready = self.ready[job.queue] = ReadyQueue()
            ready.push((job.priority, job.run_at, job.id, version))

    def invalidate(self, job_id: str) -> None:
        self.versions[job_id] = self.versions.get(job_id, 0) + 1

    def promote_due(self, queue: str, now: float) -> None:
        heap = self.scheduled.get(queue)
        while heap and heap[0][0] <= now:
            run_at, job_id, version = heapq.heappop(heap)
            if self.versions.get(job_id) != version:
                continue
            job = self.jobs[job_id]
            check(JobEvent.DUE, JobState.SCHEDULED, JobState.PENDING)
            ready = self.ready.get(queue)
            if ready is None:
                ready = self.ready[queue] = ReadyQueue()
            ready.push((job.priority, run_at, job_id, version))

    def next_due(self, queues: Sequence[str]) -> float | None:
        heads = [h[0][0] for q in queues if (h := self.scheduled.get(q))]
        return min(heads) if heads else None

    def unfinish_key(self, job: Job) -> None:
        if job.unique_key and self.unique.get(job.unique_key) == job.id:
            del self.unique[job.unique_key]

    def ended(self, job: Job, how: str, now: float) -> None:
        """``job`` ended (a finished state, or removed): its dependants follow; a
        blocked one whose parents are all done becomes pending (scheduled by run_at)."""
        self.finished.notify()
        if job.id in self.graph.children:

            def release(child: Job) -> None:
                child.state = JobState.PENDING
                self.push(child, now)

            self.graph.ended(job.id, how, release, self.unfinish_key, now)
            self.notify()


class MemoryDriver(
    Inspection,
    Management,
    Removal,
    Pausing,
    WorkerRegistry,
    ProgressStore,
    UniqueKeys,
    Deduplication,
    Dependencies,
    Results,
    Flows,
    Schedules,
    Expiry,
    RunningCancellation,
    RateLimits,
    ConcurrencyKeys,
    Driver,
):
    name = "memory"
    shared_across_processes = False

    def __init__(
        self,
        *,
        broker: MemoryBroker | None = None,
        keep_completed: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._broker_arg = broker
        self._b: MemoryBroker | None = None
        self.keep_completed = keep_completed
        self.clock = clock

    async def claim(
        self, queues: Sequence[str], *, limit: int, worker_id: str, lease_seconds: float
    ) -> list[Job]:
        return self._claim(queues, limit, worker_id, lease_seconds)

    @property
    def broker(self) -> MemoryBroker:
        if self._b is None:
            raise DriverNotConnected(self.name)
        return self._b

    async def connect(self) -> None:
        if self._b is None:
            self._b = self._broker_arg or MemoryBroker()

    async def disconnect(self) -> None:
        self._b = None

    # -- worker side ---------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[Job], *, connection: Any = None) -> list[str]:
        if connection is not None:
            raise TransactionalEnqueueUnsupported(self.name)
        b = self.broker
        if any(job.depends_on for job in jobs):
            check_batch(jobs)
            batch = {job.id for job in jobs}
            for job in jobs:
                b.graph.check_known(job, batch)  # before anything is stored
        ids, linked = [], []
        now = self.clock.time()
        for job in jobs:
            if job.id in b.jobs:  # a retried call (or a schedule slot fired twice)
                ids.append(job.id)
                continue
            if job.unique_mode is not None:
                if (holder := self._duplicate_of(job, now)) is not None:
                    ids.append(holder)
                    continue
            elif job.unique_key and (existing := b.unique.get(job.unique_key)):
                ids.append(existing)
                continue
            check(JobEvent.ENQUEUE, None, _visible_state(job, now))
            stored = job.copy()
            stored.state, stored.worker_id, stored.lease_until = JobState.PENDING, None, None
            b.jobs[job.id] = stored
            b.known_queues.add(job.queue)
            if stored.expires_at is not None:
                heapq.heappush(b.expiring, (stored.expires_at, job.id))
            if job.unique_mode is not None:
                assert job.unique_key is not None  # Job checks it
                until = lock_until(job.unique_mode, job.unique_for, now)
                b.dedup[job.unique_key] = (job.id, job.unique_mode, until)
            elif job.unique_key:
                b.unique[job.unique_key] = job.id
            if stored.depends_on:
                linked.append(stored)  # linked once every job of the batch is stored
            else:
                b.push(stored, now)
            ids.append(job.id)
        for stored in linked:
            self._link(stored)
        for job in jobs:  # a flow's record (FlowProducer), in the order given
            if job.flow_id:
                b.flows.setdefault(job.flow_id, []).append((job.id, job.flow_name))
                b.flows_added.setdefault(job.flow_id, now)
        b.notify()
        return ids

    def _duplicate_of(self, job: Job, now: float) -> str | None:
        """The id of the job holding ``job``'s key by its mode (asynctasq/dedup.py),
        None when the key is free. A debounced duplicate moves its holder on."""
        b = self.broker
        assert job.unique_key is not None
        lock = b.dedup.get(job.unique_key)
        if lock is None:
            return None
        holder_id, mode, until = lock
        holder = b.jobs.get(holder_id)
        if not holds(mode, None if holder is None else holder.state.value, until, now):
            return None
        if (
            holder is not None
            and mode == DEBOUNCE
            and job.unique_mode == DEBOUNCE
            and holder.state is JobState.PENDING
        ):
            check(JobEvent.DEBOUNCE, _visible_state(holder, now), _visible_state(job, now))
            holder.payload, holder.run_at, holder.expires_at = (
                job.payload,
                job.run_at,
                job.expires_at,
            )
            b.push(holder, now)  # its old heap entry goes stale
        return holder_id

    def _link(self, job: Job) -> None:
        b = self.broker
        ended = b.graph.link(job)
        if ended is not None:  # a parent already failed: the policy applies at once
            parent, how = ended
            b.graph.ended_at_enqueue(job, parent, how, b.unfinish_key, self.clock.time())
            b.ended(job, job.state.value, self.clock.time())
        elif job.state is not JobState.BLOCKED:
            b.push(job, self.clock.time())

    async def reserve(
        self,
        queues: Sequence[str],
        *,
        limit: int,
        worker_id: str,
        lease_seconds: float,
        wait: float = 0.0,
    ) -> list[Job]:
        # its own loop rather than the base template: the broker's event is the wake-up
        # and the next due time is known without a round trip
        clock = self.clock
        deadline = clock.monotonic() + wait
        while True:
            b = self.broker
            event = b.wakeup_event()
            claimed = self._claim(queues, limit, worker_id, lease_seconds)
            remaining = deadline - clock.monotonic()
            if claimed or remaining <= 0:
                return claimed
            due = b.next_due([q for q in queues if q not in b.paused])
            if due is not None:
                remaining = min(remaining, max(due - clock.time(), 0.0) + 0.001)
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    def _claim(self, queues: Sequence[str], limit: int, worker_id: str, lease: float) -> list[Job]:
        b = self.broker
        now = self.clock.time()
        live = [q for q in dict.fromkeys(queues) if q not in b.paused]
        for q in live:
            b.promote_due(q, now)
        claimed: list[Job] = []
        versions, ready = b.versions, b.ready
        checked_from: JobState | None = None  # the state the last claim was checked from
        # one queue: its first entries taken at once (the same order as one by one)
        only = ready.get(live[0]) if len(live) == 1 else None
        taken = [] if only is None else only.take(limit, versions)
        taken.reverse()  # popped from the end: claim order
        while len(claimed) < limit:
            if taken:
                _, _, job_id, version = taken.pop()
            else:
                best: ReadyQueue | None = None
                best_head: Entry | None = None
                for q in live:
                    queue = ready.get(q)
                    if queue is None:
                        continue
                    head = queue.peek()
                    while head is not None and versions.get(head[2]) != head[3]:
                        queue.pop()  # stale: its job moved on
                        head = queue.peek()
                    if head is not None and (best_head is None or head[:3] < best_head[:3]):
                        best, best_head = queue, head
                if best is None:
                    break
                _, _, job_id, version = best.pop()
            versions[job_id] = version + 1  # invalidate(): its entries go stale
            job = b.jobs[job_id]
            if job.expires_at is not None and is_expired(job, now):  # lifecycle: -> expired
                assert job.expires_at is not None
                check(JobEvent.CLAIM, job.state, JobState.EXPIRED)
                b.unfinish_key(job)
                job.state, job.finished_at = JobState.EXPIRED, now
                job.error = expired_reason(job.expires_at)
                b.ended(job, JobState.EXPIRED.value, now)  # its dependants by their policy
                if taken:  # a job it released may come first: the rest back, one by one
                    assert only is not None
                    for entry in taken:
                        only.push(entry)
                    taken = []
                continue
            if job.state is not checked_from:  # due: promoted above (pending)
                check(JobEvent.CLAIM, job.state, JobState.ACTIVE)
                checked_from = job.state
            job.state = _ACTIVE
            job.worker_id = worker_id
            job.lease_until = now + lease
            job.attempts += 1
            b.active.add(job_id)
            claimed.append(job.copy())
        return claimed

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        b = self.broker
        accepted = []
        wake = False
        now = self.clock.time()
        jobs, active, keep = b.jobs, b.active, self.keep_completed
        # the same move for every completion: checked once per batch
        completion_checked = False
        for outcome in outcomes:
            job = jobs.get(outcome.job_id)
            if (
                job is None
                or job.state is not _ACTIVE
                or job.worker_id != outcome.worker_id
                or job.attempts != outcome.attempt
            ):
                accepted.append(False)
                continue
            accepted.append(True)
            active.discard(job.id)
            job.lease_until = None
            match outcome:
                case Completed(result=result):
                    if job.unique_key:
                        b.unfinish_key(job)
                    if not completion_checked:
                        check(JobEvent.COMPLETE, _ACTIVE, JobState.COMPLETED if keep else None)
                        b.graph.retention = self.result_retention
                        completion_checked = True
                    if keep:
                        job.state, job.result, job.finished_at = JobState.COMPLETED, result, now
                        job.worker_id = None
                    else:
                        del jobs[job.id]
                        b.versions.pop(job.id, None)
                        b.graph.remember_completed(job.id, now, result)
                    b.ended(job, _COMPLETED, now)
                case Retried(run_at=run_at, error=error):
                    check(JobEvent.RETRY, JobState.ACTIVE, visible_state(_P, run_at, now))
                    job.state, job.run_at, job.error, job.worker_id = (
                        JobState.PENDING,
                        run_at,
                        error,
                        None,
                    )
                    b.push(job, now)
                    wake = True
                case Failed(error=error):
                    check(JobEvent.FAIL, JobState.ACTIVE, JobState.FAILED)
                    b.unfinish_key(job)
                    job.state, job.error, job.finished_at = JobState.FAILED, error, now
                    job.worker_id = None
                    b.ended(job, JobState.FAILED.value, self.clock.time())
                case Released(run_at=run_at):
                    back_at = now if run_at is None else run_at
                    check(JobEvent.RELEASE, JobState.ACTIVE, visible_state(_P, back_at, now))
                    job.state, job.worker_id = JobState.PENDING, None
                    job.run_at = back_at
                    job.attempts = max(job.attempts - 1, 0)
                    b.push(job, now)
                    wake = True
                case _:
                    raise TypeError(f"unknown outcome {outcome!r}")
        if completion_checked and not keep:
            b.graph.forget_completed(now)
        if wake:
            b.notify()
        return accepted

    async def renew(
        self, worker_id: str, job_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        b = self.broker
        held = []
        until = self.clock.time() + lease_seconds
        for job_id in job_ids:
            job = b.jobs.get(job_id)
            if job and job.state is JobState.ACTIVE and job.worker_id == worker_id:
                job.lease_until = until
                held.append(job_id)
        return held

    async def sweep_expired(self, limit: int = EXPIRY_SWEEP) -> int:
        b = self.broker
        now = self.clock.time()
        moved = 0
        while b.expiring and b.expiring[0][0] <= now and moved < limit:
            expires_at, job_id = heapq.heappop(b.expiring)
            job = b.jobs.get(job_id)
            if job is None or job.state is not JobState.PENDING or job.expires_at != expires_at:
                continue  # started, finished, removed or requeued since (ttl spent)
            check(JobEvent.EXPIRE, _visible_state(job, now), JobState.EXPIRED)
            b.invalidate(job_id)  # its ready/scheduled entry goes stale
            b.unfinish_key(job)
            job.state, job.finished_at = JobState.EXPIRED, now
            job.error = expired_reason(expires_at)
            b.ended(job, JobState.EXPIRED.value, now)
            moved += 1
        return moved

    async def recover_expired(self) -> Recovery:
        b = self.broker
        now = self.clock.time()
        for key in [k for k, (_, mode, until) in b.dedup.items() if until and until <= now]:
            del b.dedup[key]  # a throttle lock whose window passed
        requeued, dead = 0, []
        for job_id in list(b.active):
            job = b.jobs[job_id]
            if job.lease_until is None or job.lease_until > now:
                continue
            b.active.discard(job_id)
            job.worker_id, job.lease_until = None, None
            if job.attempts >= job.max_attempts:
                check(JobEvent.LAPSE, JobState.ACTIVE, JobState.FAILED)
                b.unfinish_key(job)
                job.state, job.finished_at = JobState.FAILED, now
                job.error = LEASE_EXPIRED_ERROR
                dead.append(job.copy())
                b.ended(job, JobState.FAILED.value, self.clock.time())
            else:
                check(JobEvent.LAPSE, JobState.ACTIVE, JobState.PENDING)
                job.state, job.run_at = JobState.PENDING, now
                b.push(job, now)
                requeued += 1
        if requeued:
            b.notify()
        return Recovery(requeued, tuple(dead))

    # -- operator side -------------------------------------------------------------

    async def stats(self, queue: str) -> QueueStats:
        b = self.broker
        now = self.clock.time()
        counts = dict.fromkeys(
            ("depth", "processing", "scheduled", "completed", "failed", "cancelled"), 0
        )
        for job in b.jobs.values():
            if job.queue != queue:
                continue
            state = _visible_state(job, now)
            key = {
                JobState.PENDING: "depth",
                JobState.ACTIVE: "processing",
                JobState.SCHEDULED: "scheduled",
                JobState.COMPLETED: "completed",
                JobState.FAILED: "failed",
                JobState.CANCELLED: "cancelled",
                JobState.EXPIRED: "failed",  # dead letters, as on Redis
            }.get(state)
            if key:
                counts[key] += 1
        return QueueStats(queue=queue, paused=queue in b.paused, **counts)

    async def queues(self) -> list[str]:
        return sorted(self.broker.known_queues | self.broker.paused)

    async def get(self, job_id: str) -> Job | None:
        job = self.broker.jobs.get(job_id)
        if job is None:
            return None
        return dataclasses.replace(job, state=_visible_state(job, self.clock.time()))

    async def job_outcomes(self, job_ids: Sequence[str]) -> dict[str, StoredOutcome]:
        b, now = self.broker, self.clock.time()
        found = {}
        for job_id in job_ids:
            job = b.jobs.get(job_id)
            if job is not None:
                state = _visible_state(job, now)
                found[job_id] = StoredOutcome(job_id, state, job.result, job.error)
            elif job_id in b.graph.completed:
                result = b.graph.results.get(job_id)
                found[job_id] = StoredOutcome(job_id, JobState.COMPLETED, result)
        return found

    async def flow_job_ids(self, flow_id: str) -> list[tuple[str, str | None]]:
        return list(self.broker.flows.get(flow_id, ()))

    async def list_flows(
        self, *, limit: int, before: tuple[float, str] | None = None
    ) -> list[FlowRecord]:
        b = self.broker
        # a walk of every flow: the memory broker holds one process's flows only
        newest = sorted(((at, flow_id) for flow_id, at in b.flows_added.items()), reverse=True)
        after = [key for key in newest if before is None or key < before]
        return [FlowRecord(flow_id, at, tuple(b.flows[flow_id])) for at, flow_id in after[:limit]]

    async def failed_groups(self, queue: str, *, budget: int = 0) -> FailedGroups:
        # every job is at hand: exact whatever the budget
        failed = [
            job
            for job in self.broker.jobs.values()
            if job.queue == queue and job.state is JobState.FAILED
        ]
        return group_failed(failed, len(failed))

    def finish_notices(self) -> AbstractAsyncContextManager[FinishNotices]:
        return nullcontext(self.broker.finished.waiter())

    async def list_jobs(
        self, queue: str, state: JobState | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        now = self.clock.time()
        found = []
        for job in self.broker.jobs.values():
            visible = _visible_state(job, now)
            if job.queue == queue and (state is None or visible is state):
                found.append(dataclasses.replace(job, state=visible))
        found.sort(key=_listing_order)
        return found[offset : offset + limit]

    async def list_from(
        self,
        queue: str,
        state: JobState,
        *,
        after: Position | None,
        limit: int,
        reverse: bool = False,
    ) -> list[Positioned] | None:
        """Positions: (priority, run_at, id) of a waiting job, (finish time, id) of a
        finished one (the reference every broker's listing is checked against)."""
        mark = check_position(after, _FINISHED_KINDS if state.finished else _WAITING_KINDS)
        bound = None if mark is None else _order_of(state, mark)
        now = self.clock.time()
        found = []
        for job in self.broker.jobs.values():
            if job.queue != queue or _visible_state(job, now) is not state:
                continue
            position = _position(job)
            key = _order_of(state, position)
            if bound is None or (key < bound if reverse else key > bound):
                found.append((key, position, dataclasses.replace(job, state=state)))
        page = heapq.nlargest(limit, found) if reverse else heapq.nsmallest(limit, found)
        return [(position, job) for _, position, job in page]

    async def cancel(self, job_id: str) -> bool:
        b = self.broker
        job = b.jobs.get(job_id)
        if job is None or job.state not in (JobState.PENDING, JobState.SCHEDULED, JobState.BLOCKED):
            return False
        now = self.clock.time()
        check(JobEvent.CANCEL, _visible_state(job, now), JobState.CANCELLED)
        b.invalidate(job_id)
        b.unfinish_key(job)
        b.graph.forget(job_id)
        job.state, job.finished_at = JobState.CANCELLED, now
        b.ended(job, JobState.CANCELLED.value, self.clock.time())
        return True

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
        if limit <= 0:  # blocked: the bucket is left as it is
            return 0, interval
        buckets = self.broker.rate_buckets
        buckets[key], taken, wait = take(
            buckets.get(key), count, limit, interval, now, burst, spare
        )
        return taken, wait

    async def set_queue_rate_limit(self, queue: str, limit: RateLimit | None) -> None:
        if limit is None:
            self.broker.rate_limits.pop(queue, None)
        else:
            self.broker.rate_limits[queue] = limit

    async def queue_rate_limits(self) -> dict[str, RateLimit]:
        return dict(self.broker.rate_limits)

    async def acquire_slot(self, job: Job, key: str, limit: int) -> bool:
        b = self.broker
        holders = b.slots.setdefault(key, set())
        live = {
            h for h in holders if (j := b.jobs.get(h)) is not None and j.state is JobState.ACTIVE
        }
        holders &= live  # a holder no longer active (settled, lapsed) frees its slot
        if job.id in holders:
            return True
        if len(holders) >= limit:
            return False
        holders.add(job.id)
        return True

    async def release_slot(self, job: Job, key: str) -> None:
        holders = self.broker.slots.get(key)
        if holders is not None:
            holders.discard(job.id)
            if not holders:
                del self.broker.slots[key]

    async def cancel_running(self, job_id: str) -> bool:
        b = self.broker
        job = b.jobs.get(job_id)
        if job is None or job.state is not JobState.ACTIVE:
            return False
        check(JobEvent.CANCEL, JobState.ACTIVE, JobState.CANCELLED)
        b.active.discard(job_id)
        b.unfinish_key(job)
        job.state, job.finished_at = JobState.CANCELLED, self.clock.time()
        job.worker_id, job.lease_until = None, None
        return True

    async def requeue(self, job_id: str) -> bool:
        b = self.broker
        job = b.jobs.get(job_id)
        if job is None or job.state not in (JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED):
            return False
        check(JobEvent.REQUEUE, job.state, JobState.PENDING)
        if job.unique_key and job.unique_mode is None:  # a mode's key is in its lock
            if job.unique_key in b.unique:
                return False
            b.unique[job.unique_key] = job.id
        now = self.clock.time()
        job.state, job.attempts, job.run_at, job.finished_at = JobState.PENDING, 0, now, None
        job.error = None
        job.expires_at = None  # the operator wants it run: its ttl is spent
        b.push(job, now)
        b.notify()
        return True

    async def purge(self, queue: str, state: JobState, *, older_than: float | None = None) -> int:
        if state is JobState.ACTIVE:
            raise ValueError("active jobs cannot be purged: cancel or wait for them")
        b = self.broker
        now = self.clock.time()
        doomed = [
            j
            for j in b.jobs.values()
            if j.queue == queue
            and _visible_state(j, now) is state
            and (older_than is None or (j.finished_at or j.created_at) < older_than)
        ]
        for job in doomed:
            check(JobEvent.PURGE, state, None)
            self._delete(job)
        return len(doomed)

    def _delete(self, job: Job) -> None:
        """Delete a stored job; an unfinished one's dependants end as if it failed."""
        b = self.broker
        b.invalidate(job.id)
        b.unfinish_key(job)
        b.graph.forget(job.id)
        del b.jobs[job.id]
        # a completed job is forgotten with its record, as every broker does: a child
        # dispatched later that names it is refused (UnknownParent), as an unknown id is
        if not job.state.finished:
            b.ended(job, REMOVED, self.clock.time())

    async def remove(self, job_id: str) -> bool:
        b = self.broker
        job = b.jobs.get(job_id)
        if job is None or job.state is JobState.ACTIVE:
            return False
        check(JobEvent.PURGE, _visible_state(job, self.clock.time()), None)  # one job's purge
        self._delete(job)
        return True

    async def pause(self, queue: str) -> None:
        self.broker.paused.add(queue)

    async def resume(self, queue: str) -> None:
        self.broker.paused.discard(queue)
        self.broker.notify()

    async def set_progress(self, job_id: str, worker_id: str, progress: float) -> bool:
        job = self.broker.jobs.get(job_id)
        if job is None or job.state is not JobState.ACTIVE or job.worker_id != worker_id:
            return False
        job.progress = progress
        return True

    # -- worker registry -----------------------------------------------------------

    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        now = self.clock.time()
        self.broker.workers[info.worker_id] = (dataclasses.replace(info, last_seen=now), now + ttl)

    async def remove_worker(self, worker_id: str) -> None:
        self.broker.workers.pop(worker_id, None)

    async def list_workers(self) -> list[WorkerInfo]:
        now = self.clock.time()
        live = [info for info, until in self.broker.workers.values() if until > now]
        return sorted(live, key=lambda w: w.worker_id)

    # -- schedules ---------------------------------------------------------------------

    async def save_schedule(self, schedule: Schedule) -> None:
        schedules, definition = self.broker.schedules, schedule.definition()
        stored = schedules.get(schedule.id)
        if stored is None or stored[0] != definition:
            schedules[schedule.id] = [definition, schedule.next_at, schedule.paused]

    async def list_schedules(self) -> list[Schedule]:
        schedules = self.broker.schedules
        return [Schedule.stored(*schedules[key]) for key in sorted(schedules)]

    async def remove_schedule(self, schedule_id: str) -> bool:
        return self.broker.schedules.pop(schedule_id, None) is not None

    async def pause_schedule(self, schedule_id: str, paused: bool) -> bool:
        stored = self.broker.schedules.get(schedule_id)
        if stored is not None:
            stored[2] = paused
        return stored is not None

    async def fire_schedule(
        self, schedule: Schedule, expected: float, next_at: float, jobs: Sequence[Job]
    ) -> bool:
        stored = self.broker.schedules.get(schedule.id)
        if stored is None or stored[1] != expected:
            return False
        stored[1] = next_at
        await self.enqueue(jobs)  # no await inside: the step is atomic in this loop
        return True


_P = JobState.PENDING
_ACTIVE = JobState.ACTIVE
_COMPLETED = JobState.COMPLETED.value


def _visible_state(job: Job, now: float) -> JobState:
    return visible_state(job.state, job.run_at, now)


_WAITING_KINDS = ("int", "float", "str")
_FINISHED_KINDS = ("float", "str")


def _position(job: Job) -> Position:
    """A job's position in the listing of its state (list_from)."""
    if job.state.finished:
        return (job.finished_at or 0.0, job.id)
    return (job.priority, job.run_at, job.id)


def _order_of(state: JobState, position: Position) -> tuple[float, float, str]:
    """The sort key of a position, as _listing_order sorts (newest first when finished)."""
    if state.finished:
        at, job_id = position
        return (-float(at), 0.0, str(job_id))
    priority, run_at, job_id = position
    return (float(priority), float(run_at), str(job_id))


def _listing_order(job: Job) -> tuple[int, float, float, str]:
    if job.state.finished:
        return (1, -(job.finished_at or 0.0), 0.0, job.id)
    return (0, float(job.priority), job.run_at, job.id)
