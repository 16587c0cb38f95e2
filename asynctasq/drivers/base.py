"""The driver protocol: the only thing a broker has to implement.

Drivers do I/O and nothing else; retry policy, backoff, hooks and events live in the
worker above. ``memory.py`` is the reference every other driver is tested against
(``tests/drivers/``, one contract suite run unchanged on each).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

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
)

__all__ = [
    "LEASE_EXPIRED_ERROR",
    "Driver",
    "DriverError",
    "DriverNotConnected",
    "TransactionalEnqueueUnsupported",
]


#: the error recover_expired() records on a job that used its last attempt
LEASE_EXPIRED_ERROR = (
    "LeaseExpired: the worker running the last attempt stopped renewing its lease "
    "(killed, crashed or hung); no attempts are left"
)


class DriverError(Exception):
    """The broker failed in a way the caller should see."""


class DriverNotConnected(DriverError):
    def __init__(self, driver: str) -> None:
        super().__init__(f"{driver} is not connected: call `await driver.connect()` first")


class TransactionalEnqueueUnsupported(DriverError):
    def __init__(self, driver: str) -> None:
        super().__init__(
            f"{driver} cannot enqueue inside your transaction (connection=...); "
            "use the postgres or mysql driver for transactional enqueue"
        )


class Driver(abc.ABC):
    """A broker connection shared by dispatchers and workers of one process."""

    name: str = "driver"
    #: keep completed jobs (state ``completed``, with their result) instead of deleting them
    keep_completed: bool = False

    # -- lifecycle -----------------------------------------------------------------

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def disconnect(self) -> None: ...

    async def migrate(self) -> list[str]:
        """Create or upgrade the broker's schema; returns the migrations applied."""
        return []

    async def __aenter__(self) -> Driver:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    # -- worker side ---------------------------------------------------------------

    @abc.abstractmethod
    async def enqueue(self, jobs: Sequence[Job], *, connection: Any = None) -> list[str]:
        """Store jobs in one round trip; returns their ids in order.

        A job whose ``unique_key`` matches an unfinished job is not stored again: the
        id of the existing job is returned in its place. ``connection`` (SQL drivers)
        enqueues inside the caller's open transaction.
        """

    @abc.abstractmethod
    async def reserve(
        self,
        queues: Sequence[str],
        *,
        limit: int,
        worker_id: str,
        lease_seconds: float,
        wait: float = 0.0,
    ) -> list[Job]:
        """Atomically claim up to ``limit`` due jobs, lowest priority value first,
        then oldest ``run_at``, from queues that are not paused.

        Claimed jobs are ``active``, leased to ``worker_id`` until now +
        ``lease_seconds``, with ``attempts`` increased by one. With nothing due it
        waits up to ``wait`` seconds, returning early when a job arrives or a
        scheduled one comes due.
        """

    @abc.abstractmethod
    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """Apply a batch of outcomes in one round trip; True where accepted.

        An outcome is rejected (False) unless its job is active under the same
        worker and attempt (fencing).
        """

    @abc.abstractmethod
    async def renew(
        self, worker_id: str, job_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        """Extend the leases ``worker_id`` holds; returns the ids it still holds."""

    @abc.abstractmethod
    async def recover_expired(self) -> int:
        """Return active jobs whose lease lapsed to pending (the attempt counts), or
        to ``failed`` once they used ``max_attempts``. Returns how many moved."""

    # one-outcome conveniences over settle()

    async def complete(self, job: Job, result: bytes | None = None) -> bool:
        return (await self.settle([_fence(Completed, job, result=result)]))[0]

    async def retry(self, job: Job, run_at: float, error: str) -> bool:
        return (await self.settle([_fence(Retried, job, run_at=run_at, error=error)]))[0]

    async def fail(self, job: Job, error: str) -> bool:
        return (await self.settle([_fence(Failed, job, error=error)]))[0]

    async def release(self, job: Job) -> bool:
        return (await self.settle([_fence(Released, job)]))[0]

    # -- operator side -------------------------------------------------------------

    @abc.abstractmethod
    async def stats(self, queue: str) -> QueueStats: ...

    async def get_queue_stats(self, queue: str) -> QueueStats:
        return await self.stats(queue)

    @abc.abstractmethod
    async def queues(self) -> list[str]:
        """Every queue that holds or held jobs, sorted."""

    @abc.abstractmethod
    async def get(self, job_id: str) -> Job | None: ...

    @abc.abstractmethod
    async def list_jobs(
        self, queue: str, state: JobState | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        """Jobs of a queue (optionally in one state), in reservation order for
        waiting jobs and newest first for finished ones."""

    @abc.abstractmethod
    async def cancel(self, job_id: str) -> bool:
        """Cancel a job that has not started; False if it is active or finished."""

    @abc.abstractmethod
    async def requeue(self, job_id: str) -> bool:
        """Put a failed, cancelled or expired job back to pending with attempts reset."""

    @abc.abstractmethod
    async def purge(self, queue: str, state: JobState, *, older_than: float | None = None) -> int:
        """Delete jobs of a queue in ``state`` (finished before epoch ``older_than``
        when given, else all); returns how many. Active jobs cannot be purged."""

    @abc.abstractmethod
    async def pause(self, queue: str) -> None: ...

    @abc.abstractmethod
    async def resume(self, queue: str) -> None: ...

    @abc.abstractmethod
    async def set_progress(self, job_id: str, worker_id: str, progress: float) -> bool:
        """Record progress (0..1) of an active job held by ``worker_id``."""

    # -- worker registry (heartbeats) ----------------------------------------------

    @abc.abstractmethod
    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        """Record a live worker; it disappears from list_workers() after ``ttl``."""

    @abc.abstractmethod
    async def remove_worker(self, worker_id: str) -> None: ...

    @abc.abstractmethod
    async def list_workers(self) -> list[WorkerInfo]: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _fence(kind: type[Outcome], job: Job, **fields: Any) -> Outcome:
    if job.worker_id is None:
        raise ValueError(f"job {job.id} was not reserved by a worker: it has no outcome to report")
    return kind(job.id, job.worker_id, job.attempts, queue=job.queue, **fields)
