"""The driver core: the few methods every broker must implement.

A broker is a class with these seven methods (``connect``, ``disconnect``,
``enqueue``, ``claim``, ``settle``, ``renew``, ``recover_expired``). Everything else
a broker may offer (listing jobs, pausing queues, a worker registry, transactional
enqueue...) is a *capability*: a mixin from ``capabilities.py`` that the driver
class inherits and implements. Features ask for a capability with
``require(driver, Capability)`` and fail with a clear error naming the driver and
what it lacks.

Drivers do I/O and nothing else; retry policy, backoff, hooks and events live in the
worker above. The in-memory driver is the reference implementation of the job
lifecycle (``asynctasq/lifecycle.py``); ``asynctasq.testing.conformance`` holds the
tests every driver must pass.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar

from asynctasq.clock import SYSTEM_CLOCK, Clock
from asynctasq.config import redact_secrets
from asynctasq.drivers.waiting import Wakeup, wait_for
from asynctasq.jobs import Completed, Failed, Job, Outcome, Recovery, Released, Retried

__all__ = [
    "LEASE_EXPIRED_ERROR",
    "ClaimRequest",
    "Driver",
    "DriverError",
    "DriverNotConnected",
    "TransactionalEnqueueUnsupported",
    "dead_jobs",
]

log = logging.getLogger("asynctasq.driver")
Record = TypeVar("Record")


#: the error recover_expired() records on a job that used its last attempt
LEASE_EXPIRED_ERROR = (
    "LeaseExpired: the worker running the last attempt stopped renewing its lease "
    "(killed, crashed or hung); no attempts are left"
)


class DriverError(Exception):
    """The broker failed in a way the caller should see."""


@dataclasses.dataclass(frozen=True)
class ClaimRequest:
    """A claim a worker asks to have made in the round trip of its settle (see
    ``Driver.settle_and_claim``): up to ``limit`` jobs of ``queues``, leased as
    ``claim`` leases them."""

    queues: tuple[str, ...]
    limit: int
    worker_id: str
    lease_seconds: float


class DriverNotConnected(DriverError):
    def __init__(self, driver: str) -> None:
        super().__init__(f"{driver} is not connected: call `await driver.connect()` first")


class TransactionalEnqueueUnsupported(DriverError):
    def __init__(self, driver: str) -> None:
        super().__init__(
            f"{driver} cannot enqueue inside your transaction (connection=...); "
            "use a driver with the TransactionalEnqueue capability (postgres, mysql)"
        )


class Driver(abc.ABC):
    """A broker connection shared by the dispatchers and workers of one process."""

    #: the name settings use (``ASYNCTASQ_DRIVER``) and errors show
    name: ClassVar[str] = "driver"
    #: can another OS process reach this broker? (False for the in-memory broker: a
    #: worker then renews leases on its loop and cannot start worker processes)
    shared_across_processes: ClassVar[bool] = True
    #: keep completed jobs (state ``completed``, with their result) instead of deleting them
    keep_completed: bool = False
    #: where the driver reads the time; a test passes a ManualClock
    clock: Clock = SYSTEM_CLOCK
    #: the longest an idle reserve() sleeps without a notification
    poll_interval: float = 1.0

    # -- the core: every broker implements these ---------------------------------------

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open connections (idempotent: a connected driver is left as is)."""

    @abc.abstractmethod
    async def disconnect(self) -> None: ...

    @abc.abstractmethod
    async def enqueue(self, jobs: Sequence[Job], *, connection: Any = None) -> list[str]:
        """Store jobs in one round trip; returns their ids in order.

        ``connection`` is for drivers with the TransactionalEnqueue capability; others
        raise TransactionalEnqueueUnsupported when it is given. A job whose
        ``unique_key`` matches an unfinished job (UniqueKeys capability) is not stored
        again: the existing job's id is returned in its place.
        """

    @abc.abstractmethod
    async def claim(
        self, queues: Sequence[str], *, limit: int, worker_id: str, lease_seconds: float
    ) -> list[Job]:
        """Atomically take up to ``limit`` due jobs of unpaused ``queues``, lowest
        priority value first, then oldest ``run_at``, then id; each becomes ``active``,
        leased to ``worker_id`` until now + ``lease_seconds``, ``attempts`` + 1.
        Returns at once (``reserve`` does the waiting)."""

    @abc.abstractmethod
    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """Apply a batch of outcomes in one round trip; True where accepted.

        An outcome is rejected (False) unless its job is active under the same worker
        and attempt (fencing). One outcome that cannot be applied never stops the
        others."""

    async def settle_bounded(self, outcomes: Sequence[Outcome]) -> tuple[list[bool], list[int]]:
        """``settle``, except that a broker may leave for a later call the completions
        whose children would make this one long: (accepted, the positions it left).
        The caller sends those again (the worker's outcome buffer: with the outcomes
        that arrive meanwhile). The first completion with children is always applied,
        so calls repeated with what is left always end. A parent and the release of
        its children stay one atomic step: a parent left for later is still active,
        its children still blocked. Redis bounds its settle script so (one script
        blocks the whole server, and the worker waits with nothing to run while a
        fan-out's children are released), and PostgreSQL its settle statement (the
        worker sends what is left beside its other settles); others settle all at
        once."""
        return await self.settle(outcomes), []

    #: whether ``settle_and_claim`` claims in the settle's own round trip
    claims_on_settle: ClassVar[bool] = False

    async def settle_and_claim(
        self, outcomes: Sequence[Outcome], request: ClaimRequest
    ) -> tuple[list[bool], list[Job], list[int]]:
        """``settle_bounded``, and the jobs its completions released (children whose
        last parent completed in it) claimed for ``request`` in the same round trip, as
        ``claim`` would have taken them: due, of unpaused queues, in claim order, and
        only while no other due job of ``request.queues`` would come first. A child
        reaches the worker that finished its last parent without a wake-up and a claim
        of its own. (accepted, claimed, the positions left for a later call). A broker
        that cannot (``claims_on_settle`` False) only settles."""
        accepted, left = await self.settle_bounded(outcomes)
        return accepted, [], left

    @abc.abstractmethod
    async def renew(
        self, worker_id: str, job_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        """Extend the leases ``worker_id`` holds; returns the ids it still holds."""

    @abc.abstractmethod
    async def recover_expired(self) -> Recovery:
        """Move active jobs whose lease lapsed back to pending (the attempt counts), or
        to ``failed`` once they used ``max_attempts``; reports what moved."""

    # -- waiting for work: a template over claim() -------------------------------------

    #: set by the driver when its broker says work arrived (or this process enqueued)
    wakeup: Wakeup

    async def reserve(
        self,
        queues: Sequence[str],
        *,
        limit: int,
        worker_id: str,
        lease_seconds: float,
        wait: float = 0.0,
    ) -> list[Job]:
        """``claim``, and with nothing due wait up to ``wait`` seconds for work,
        returning early when a job arrives or a scheduled one comes due."""
        queues = list(dict.fromkeys(queues))
        clock = self.clock
        deadline = clock.monotonic() + wait
        await self.prepare_wait(queues, wait)
        while True:
            armed = self._reserve_wakeup().armed()  # before the claim: a wake-up during it counts
            jobs = await self.claim(
                queues, limit=limit, worker_id=worker_id, lease_seconds=lease_seconds
            )
            remaining = deadline - clock.monotonic()
            if jobs or remaining <= 0:
                return jobs
            jobs = await self.claim_on_wakeup(
                queues,
                armed,
                remaining,
                limit=limit,
                worker_id=worker_id,
                lease_seconds=lease_seconds,
            )
            if jobs:
                return jobs

    async def quiesce(self) -> None:  # noqa: B027
        """Finish background work that holds claimed jobs out of every caller's sight
        (Redis: a claim sent behind a blocking pop whose caller moved on), so that
        they are pending again. Burst mode asks before it judges the queues drained."""

    async def prepare_wait(self, queues: Sequence[str], wait: float) -> None:  # noqa: B027
        """Before a reserve that may wait: subscribe to the broker's notifications."""

    async def claim_on_wakeup(
        self,
        queues: Sequence[str],
        armed: Any,
        remaining: float,
        *,
        limit: int,
        worker_id: str,
        lease_seconds: float,
    ) -> list[Job]:
        """``idle()``, then [] so that ``reserve`` claims. A broker that can claim in
        the same round trip as its wake-up overrides this and returns the jobs so
        claimed (Redis sends its claim script right behind its blocking pop: a job
        reaches an idle worker in one round trip, not two)."""
        await self.idle(queues, armed, remaining)
        return []

    async def idle(self, queues: Sequence[str], armed: Any, remaining: float) -> None:
        """Wait until ``armed`` is set, the next scheduled job is due, the poll interval
        passes, or ``remaining`` runs out. Drivers override ``next_due`` (cheap) or this
        (when their broker needs another way to notice work, e.g. SQLite's
        data_version)."""
        pause = min(remaining, self.poll_interval)
        due = await self.next_due(queues)
        if due is not None:
            pause = min(pause, max(due - self.clock.time(), 0.0) + 0.001)
        await wait_for(armed, pause)

    async def next_due(self, queues: Sequence[str]) -> float | None:
        """When the earliest scheduled job of ``queues`` comes due (epoch), if known."""
        return None

    def _reserve_wakeup(self) -> Wakeup:
        try:
            return self.wakeup
        except AttributeError:
            self.wakeup = Wakeup()
            return self.wakeup

    # -- conveniences over the core ----------------------------------------------------

    async def migrate(self) -> list[str]:
        """Create or upgrade the broker's schema; returns the migrations applied
        (drivers with a schema override this; see the Migrations capability)."""
        return []

    async def __aenter__(self) -> Driver:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    async def complete(self, job: Job, result: bytes | None = None) -> bool:
        return (await self.settle([_fence(Completed, job, result=result)]))[0]

    async def retry(self, job: Job, run_at: float, error: str) -> bool:
        return (await self.settle([_fence(Retried, job, run_at=run_at, error=error)]))[0]

    async def fail(self, job: Job, error: str) -> bool:
        return (await self.settle([_fence(Failed, job, error=error)]))[0]

    async def release(self, job: Job) -> bool:
        return (await self.settle([_fence(Released, job)]))[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def dead_jobs(
    records: Iterable[Record], decode: Callable[[Record], Job], driver: str
) -> tuple[Job, ...]:
    """The jobs a recovery dead-lettered, decoded from their stored records. A record
    that cannot be decoded (corrupt at rest) is left out and logged: it is in the
    dead-letter state all the same, only its ``failed`` hook cannot run."""
    jobs = []
    for record in records:
        try:
            jobs.append(decode(record))
        except Exception as exc:
            log.warning(
                "%s: a job dead-lettered by lease recovery has a record that cannot be "
                "decoded (%s: %s); its failed() hook will not run",
                driver,
                type(exc).__name__,
                redact_secrets(str(exc)),
            )
    return tuple(jobs)


def _fence(kind: type[Outcome], job: Job, **fields: Any) -> Outcome:
    if job.worker_id is None:
        raise ValueError(f"job {job.id} was not reserved by a worker: it has no outcome to report")
    return kind(job.id, job.worker_id, job.attempts, queue=job.queue, **fields)
