"""In-memory driver: the reference implementation of the protocol, and the broker
for unit tests. Everything lives in one process; driver instances that share a
``MemoryBroker`` behave like separate connections to one server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools
import time
from collections.abc import Sequence
from typing import Any

from asynctasq.drivers.base import (
    LEASE_EXPIRED_ERROR,
    Driver,
    DriverNotConnected,
    TransactionalEnqueueUnsupported,
)
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
    visible_state,
)

__all__ = ["MemoryBroker", "MemoryDriver"]

_UNFINISHED = (JobState.PENDING, JobState.SCHEDULED, JobState.WAITING, JobState.ACTIVE)


class MemoryBroker:
    """The state one in-memory 'server' holds."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.versions: dict[str, int] = {}
        # per queue: ready heap (priority, run_at, seq, id, version), scheduled heap
        # (run_at, seq, id, version); entries go stale when a job's version moves on
        self.ready: dict[str, list[tuple[int, float, int, str, int]]] = {}
        self.scheduled: dict[str, list[tuple[float, int, str, int]]] = {}
        self.active: set[str] = set()
        self.unique: dict[str, str] = {}
        self.paused: set[str] = set()
        self.known_queues: set[str] = set()
        self.workers: dict[str, tuple[WorkerInfo, float]] = {}
        self.seq = itertools.count()
        self._wakeup = asyncio.Event()

    # the event is replaced, not cleared, so a waiter never misses a wake-up
    def notify(self) -> None:
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def wakeup_event(self) -> asyncio.Event:
        return self._wakeup

    def push(self, job: Job) -> None:
        version = self.versions.get(job.id, 0) + 1
        self.versions[job.id] = version
        seq = next(self.seq)
        if job.run_at > time.time():
            heapq.heappush(
                self.scheduled.setdefault(job.queue, []), (job.run_at, seq, job.id, version)
            )
        else:
            entry = (job.priority, job.run_at, seq, job.id, version)
            heapq.heappush(self.ready.setdefault(job.queue, []), entry)

    def invalidate(self, job_id: str) -> None:
        self.versions[job_id] = self.versions.get(job_id, 0) + 1

    def promote_due(self, queue: str, now: float) -> None:
        heap = self.scheduled.get(queue)
        while heap and heap[0][0] <= now:
            run_at, seq, job_id, version = heapq.heappop(heap)
            if self.versions.get(job_id) != version:
                continue
            job = self.jobs[job_id]
            entry = (job.priority, run_at, seq, job_id, version)
            heapq.heappush(self.ready.setdefault(queue, []), entry)

    def next_due(self, queues: Sequence[str]) -> float | None:
        heads = [h[0][0] for q in queues if (h := self.scheduled.get(q))]
        return min(heads) if heads else None

    def unfinish_key(self, job: Job) -> None:
        if job.unique_key and self.unique.get(job.unique_key) == job.id:
            del self.unique[job.unique_key]


class MemoryDriver(Driver):
    name = "memory"

    def __init__(self, *, broker: MemoryBroker | None = None, keep_completed: bool = False) -> None:
        self._broker_arg = broker
        self._b: MemoryBroker | None = None
        self.keep_completed = keep_completed

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
        ids = []
        for job in jobs:
            if job.unique_key and (existing := b.unique.get(job.unique_key)):
                ids.append(existing)
                continue
            stored = job.copy()
            stored.state, stored.worker_id, stored.lease_until = JobState.PENDING, None, None
            b.jobs[job.id] = stored
            b.known_queues.add(job.queue)
            if job.unique_key:
                b.unique[job.unique_key] = job.id
            b.push(stored)
            ids.append(job.id)
        b.notify()
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
        deadline = time.monotonic() + wait
        while True:
            b = self.broker
            event = b.wakeup_event()
            claimed = self._claim(queues, limit, worker_id, lease_seconds)
            remaining = deadline - time.monotonic()
            if claimed or remaining <= 0:
                return claimed
            due = b.next_due([q for q in queues if q not in b.paused])
            if due is not None:
                remaining = min(remaining, max(due - time.time(), 0.0) + 0.001)
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    def _claim(self, queues: Sequence[str], limit: int, worker_id: str, lease: float) -> list[Job]:
        b = self.broker
        now = time.time()
        live = [q for q in dict.fromkeys(queues) if q not in b.paused]
        for q in live:
            b.promote_due(q, now)
        claimed: list[Job] = []
        while len(claimed) < limit:
            best: str | None = None
            for q in live:
                heap = b.ready.get(q)
                while heap and b.versions.get(heap[0][3]) != heap[0][4]:
                    heapq.heappop(heap)
                if heap and (best is None or heap[0][:3] < b.ready[best][0][:3]):
                    best = q
            if best is None:
                break
            *_, job_id, _version = heapq.heappop(b.ready[best])
            b.invalidate(job_id)
            job = b.jobs[job_id]
            job.state = JobState.ACTIVE
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
        now = time.time()
        for outcome in outcomes:
            job = b.jobs.get(outcome.job_id)
            if (
                job is None
                or job.state is not JobState.ACTIVE
                or job.worker_id != outcome.worker_id
                or job.attempts != outcome.attempt
            ):
                accepted.append(False)
                continue
            accepted.append(True)
            b.active.discard(job.id)
            job.lease_until = None
            match outcome:
                case Completed(result=result):
                    b.unfinish_key(job)
                    if self.keep_completed:
                        job.state, job.result, job.finished_at = JobState.COMPLETED, result, now
                        job.worker_id = None
                    else:
                        del b.jobs[job.id]
                        b.versions.pop(job.id, None)
                case Retried(run_at=run_at, error=error):
                    job.state, job.run_at, job.error, job.worker_id = (
                        JobState.PENDING,
                        run_at,
                        error,
                        None,
                    )
                    b.push(job)
                    wake = True
                case Failed(error=error):
                    b.unfinish_key(job)
                    job.state, job.error, job.finished_at = JobState.FAILED, error, now
                    job.worker_id = None
                case Released():
                    job.state, job.worker_id, job.run_at = JobState.PENDING, None, now
                    job.attempts = max(job.attempts - 1, 0)
                    b.push(job)
                    wake = True
                case _:
                    raise TypeError(f"unknown outcome {outcome!r}")
        if wake:
            b.notify()
        return accepted

    async def renew(
        self, worker_id: str, job_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        b = self.broker
        held = []
        until = time.time() + lease_seconds
        for job_id in job_ids:
            job = b.jobs.get(job_id)
            if job and job.state is JobState.ACTIVE and job.worker_id == worker_id:
                job.lease_until = until
                held.append(job_id)
        return held

    async def recover_expired(self) -> int:
        b = self.broker
        now = time.time()
        moved = 0
        for job_id in list(b.active):
            job = b.jobs[job_id]
            if job.lease_until is None or job.lease_until > now:
                continue
            moved += 1
            b.active.discard(job_id)
            job.worker_id, job.lease_until = None, None
            if job.attempts >= job.max_attempts:
                b.unfinish_key(job)
                job.state, job.finished_at = JobState.FAILED, now
                job.error = LEASE_EXPIRED_ERROR
            else:
                job.state, job.run_at = JobState.PENDING, now
                b.push(job)
        if moved:
            b.notify()
        return moved

    # -- operator side -------------------------------------------------------------

    async def stats(self, queue: str) -> QueueStats:
        b = self.broker
        now = time.time()
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
        return dataclasses.replace(job, state=_visible_state(job, time.time()))

    async def list_jobs(
        self, queue: str, state: JobState | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        now = time.time()
        found = []
        for job in self.broker.jobs.values():
            visible = _visible_state(job, now)
            if job.queue == queue and (state is None or visible is state):
                found.append(dataclasses.replace(job, state=visible))
        found.sort(key=_listing_order)
        return found[offset : offset + limit]

    async def cancel(self, job_id: str) -> bool:
        b = self.broker
        job = b.jobs.get(job_id)
        if job is None or job.state not in (JobState.PENDING, JobState.SCHEDULED, JobState.WAITING):
            return False
        b.invalidate(job_id)
        b.unfinish_key(job)
        job.state, job.finished_at = JobState.CANCELLED, time.time()
        return True

    async def requeue(self, job_id: str) -> bool:
        b = self.broker
        job = b.jobs.get(job_id)
        if job is None or job.state not in (JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED):
            return False
        if job.unique_key:
            if job.unique_key in b.unique:
                return False
            b.unique[job.unique_key] = job.id
        now = time.time()
        job.state, job.attempts, job.run_at, job.finished_at = JobState.PENDING, 0, now, None
        job.error = None
        b.push(job)
        b.notify()
        return True

    async def purge(self, queue: str, state: JobState, *, older_than: float | None = None) -> int:
        if state is JobState.ACTIVE:
            raise ValueError("active jobs cannot be purged: cancel or wait for them")
        b = self.broker
        now = time.time()
        doomed = [
            j
            for j in b.jobs.values()
            if j.queue == queue
            and _visible_state(j, now) is state
            and (older_than is None or (j.finished_at or j.created_at) < older_than)
        ]
        for job in doomed:
            b.invalidate(job.id)
            b.unfinish_key(job)
            del b.jobs[job.id]
        return len(doomed)

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
        now = time.time()
        self.broker.workers[info.worker_id] = (dataclasses.replace(info, last_seen=now), now + ttl)

    async def remove_worker(self, worker_id: str) -> None:
        self.broker.workers.pop(worker_id, None)

    async def list_workers(self) -> list[WorkerInfo]:
        now = time.time()
        live = [info for info, until in self.broker.workers.values() if until > now]
        return sorted(live, key=lambda w: w.worker_id)


def _visible_state(job: Job, now: float) -> JobState:
    return visible_state(job.state, job.run_at, now)


def _listing_order(job: Job) -> tuple[int, float, float, str]:
    if job.state.finished:
        return (1, -(job.finished_at or 0.0), 0.0, job.id)
    return (0, float(job.priority), job.run_at, job.id)
