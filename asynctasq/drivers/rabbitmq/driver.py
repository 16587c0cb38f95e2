"""The RabbitMQ driver: the driver core on AMQP 0-9-1, written only against the public
seams (``base.Driver``, ``jobs``, ``clock``, ``waiting``).

How the lifecycle maps (docs/drivers/rabbitmq.md says it for users):

- enqueue: publish persistent messages to quorum queues and return once the broker
  confirmed every one (publisher confirms);
- claim: deliveries of this process's consumers (manual ack, prefetch); an
  unacknowledged delivery *is* the lease, held while the channel lives;
- renew: extends the lease this process keeps for the delivery (lane.py, leases.py);
  recover_expired: a delivery whose lease lapsed (its worker stopped renewing) is
  published again and acknowledged; a dead process needs nothing: its channel closes
  and RabbitMQ redelivers, counting the lost delivery in ``x-delivery-count``;
- settle: acknowledge (completed); publish again, confirmed, then acknowledge
  (retried, released, failed to the dead letters). A crash between the two leaves
  both copies: at-least-once, never a loss.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import aiormq

from asynctasq.clock import SYSTEM_CLOCK, Clock
from asynctasq.config import Config, ConfigError
from asynctasq.drivers.base import (
    LEASE_EXPIRED_ERROR,
    Driver,
    DriverError,
    DriverNotConnected,
    TransactionalEnqueueUnsupported,
)
from asynctasq.drivers.capabilities import CapabilityMissing, Deduplication, Expiry, UniqueKeys
from asynctasq.drivers.rabbitmq.lane import Arrival, Lane
from asynctasq.drivers.rabbitmq.leases import Held, LeaseBook, book_for
from asynctasq.drivers.rabbitmq.moves import Move, apply_moves
from asynctasq.drivers.rabbitmq.publishing import Publisher
from asynctasq.drivers.rabbitmq.session import Session
from asynctasq.drivers.rabbitmq.topology import DEFAULT_BANDS, Topology
from asynctasq.drivers.waiting import Wakeup
from asynctasq.jobs import Completed, Failed, Job, JobState, Outcome, Recovery, Released, Retried
from asynctasq.redaction import redact

__all__ = ["RabbitMQDriver"]

log = logging.getLogger("asynctasq.driver")

#: a job that arrives this early (clock skew between hosts, a delay longer than one
#: trip through the delay queues) waits again for the rest
_EARLY = 0.002
#: how many times an enqueue publishes a message the broker nacked again
NACK_RETRIES = 3
#: seconds before the first of them; each later one waits twice as long
NACK_BACKOFF = 0.05


class RabbitMQDriver(Driver):
    name = "rabbitmq"

    def __init__(
        self,
        url: str = "amqp://guest:guest@localhost:5672/",
        *,
        prefix: str = "asynctasq",
        prefetch: int | None = None,
        priority_bands: Sequence[int] = DEFAULT_BANDS,
        keep_completed: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if keep_completed:
            raise ConfigError(
                "the rabbitmq driver cannot keep completed jobs: RabbitMQ has no store to "
                "read them back from; unset ASYNCTASQ_KEEP_COMPLETED_TASKS or store results "
                "yourself"
            )
        if prefetch is not None and prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, got {prefetch}")
        self.url = url
        self.prefix = prefix
        self.prefetch = prefetch
        self.clock = clock
        self._topology = Topology(prefix, priority_bands)
        self._book: LeaseBook = book_for(url, prefix)
        self.wakeup = Wakeup()  # notified when a delivery arrives: reserve() stops waiting
        self._session: Session | None = None
        self._dead: list[Job] = []  # dead-lettered by claims, for the next recovery
        self._lock = asyncio.Lock()

    @classmethod
    def from_config(cls, config: Config) -> RabbitMQDriver:
        return cls(
            config.rabbitmq_url,
            prefix=config.rabbitmq_prefix,
            keep_completed=config.keep_completed_tasks,
        )

    def __repr__(self) -> str:
        return f"<RabbitMQDriver {redact(self.url)} prefix={self.prefix!r}>"

    # -- connection ---------------------------------------------------------------------

    async def connect(self) -> None:
        async with self._lock:
            if self._session is None or self._session.closed:
                self._session = await Session.open(self.url, self._topology, self.clock)

    async def disconnect(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        lane = session.lane
        try:
            if lane is not None and lane.open and not session.closed:
                await lane.stop_consuming()
                await self._return_unclaimed(session.publisher, lane)
        except Exception as exc:
            log.warning(
                "rabbitmq: could not hand back prefetched jobs before closing (%s); "
                "RabbitMQ returns them and counts the delivery",
                type(exc).__name__,
            )
        finally:
            self._book.release_owner(self)
            await session.close()

    async def _live(self) -> Session:
        """The session, opened again if its connection was lost (the deliveries it
        held went back to the broker)."""
        session = self._session
        if session is None:
            raise DriverNotConnected(self.name)
        if session.closed:
            self._book.release_owner(self)
            await self.connect()
            assert self._session is not None
            session = self._session
        return await session.usable()

    # -- enqueue --------------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[Job], *, connection: Any = None) -> list[str]:
        if connection is not None:
            raise TransactionalEnqueueUnsupported(self.name)
        if not jobs:
            return []
        for job in jobs:
            if job.expires_at is not None:
                raise CapabilityMissing(self, Expiry, f"job {job.id}'s ttl")
            if job.unique_mode is not None:
                raise CapabilityMissing(
                    self,
                    Deduplication,
                    f"job {job.id}'s unique_mode={job.unique_mode!r} (RabbitMQ cannot look "
                    "a message up by key)",
                )
            if job.unique_key is not None:
                raise CapabilityMissing(
                    self,
                    UniqueKeys,
                    f"job {job.id}'s unique_key (RabbitMQ cannot look a message up by key)",
                )
        session = await self._live()
        await session.declare(list(dict.fromkeys(job.queue for job in jobs)))
        publisher = session.publisher
        # within one batch, publish in claim order: a band queue is first in, first out
        ordered = sorted(jobs, key=lambda j: (j.priority, j.run_at, j.id))
        errors = await self._publish_confirmed(publisher, ordered)
        if errors:
            raise DriverError(
                f"RabbitMQ did not confirm {len(errors)} of {len(jobs)} job(s) "
                f"({type(errors[0]).__name__}: {redact(str(errors[0]))}); the "
                "others were stored: enqueue the batch again only if duplicates are "
                "harmless"
            )
        return [job.id for job in jobs]

    async def _publish_confirmed(
        self, publisher: Publisher, jobs: Sequence[Job]
    ) -> list[BaseException]:
        """Publish ``jobs`` in order; a message the broker nacked is published again
        (a quorum queue nacks while its leader is busy or moving; a nacked message
        was not stored, and at-least-once allows the rare duplicate). Returns the
        errors of the messages still not confirmed."""
        pending = list(jobs)
        errors: list[BaseException] = []
        for attempt in range(NACK_RETRIES + 1):
            if attempt:
                await asyncio.sleep(NACK_BACKOFF * 2 ** (attempt - 1))
            sends = [publisher.send(job, job.attempts) for job in pending]
            results = await asyncio.gather(*sends, return_exceptions=True)
            nacked = [j for j, r in zip(pending, results, strict=True) if _nacked(r)]
            errors = [r for r in results if isinstance(r, BaseException)]
            if not nacked or len(errors) > len(nacked):
                return errors  # all confirmed, or an error a retry does not mend
            pending = nacked
        return errors

    # -- claim ----------------------------------------------------------------------------

    async def claim(
        self, queues: Sequence[str], *, limit: int, worker_id: str, lease_seconds: float
    ) -> list[Job]:
        if limit <= 0:
            return []
        lane = await self._lane_for(queues, limit)
        order = [
            [self._topology.band_queue(q, band) for q in queues]
            for band in range(self._topology.band_count)
        ]
        buffered = lane.available(order)
        if buffered < limit:
            await lane.refill(order)
        arrivals = lane.take(order, limit)
        if not arrivals:
            return []
        return await self._lease(lane, arrivals, worker_id, lease_seconds)

    async def _lane_for(self, queues: Sequence[str], limit: int) -> Lane:
        session = await self._live()
        prefetch = self.prefetch or min(2 * max(limit, 1), 1000)
        return await session.lane_for(queues, prefetch=prefetch, on_arrival=self.wakeup.notify)

    async def _lease(
        self, lane: Lane, arrivals: list[Arrival], worker_id: str, lease_seconds: float
    ) -> list[Job]:
        now = self.clock.time()
        until = now + lease_seconds
        jobs: list[Job] = []
        aside: list[Move] = []  # not for a worker: poison, out of attempts, early, duplicate
        deaths: list[Job | None] = []  # of each move aside: the job it dead-letters
        book = self._book
        for arrival in arrivals:
            job = arrival.job
            if job is None or arrival.lost_last_attempt or job.run_at > now + _EARLY:
                move, dead = self._set_aside(lane, arrival, now)
                aside.append(move)
                deaths.append(dead)
                continue
            job.state = JobState.ACTIVE
            job.attempts = arrival.ended + 1
            job.worker_id = worker_id
            job.lease_until = until
            if not book.add(Held(job, arrival.tag, lane, self, until)):
                log.warning("rabbitmq: dropped a duplicate delivery of job %s", job.id)
                aside.append(Move(lane, arrival.tag, None, f"duplicate of job {job.id}"))
                deaths.append(None)
                continue
            jobs.append(job.copy())
        if aside:
            for dead, done in zip(deaths, await apply_moves(aside), strict=True):
                if dead is not None and done:
                    self._dead.append(dead)  # reported by the next recover_expired()
        return jobs

    def _set_aside(self, lane: Lane, arrival: Arrival, now: float) -> tuple[Move, Job | None]:
        """The move of a delivery no worker gets, and the job it dead-letters."""
        assert self._session is not None
        publisher = self._session.publisher
        job = arrival.job
        if job is None:
            queue = self._topology.queue_of.get(arrival.band_queue, "unknown")
            log.warning(
                "rabbitmq: a message in %s is not an asynctasq job (%s): moved to %s",
                arrival.band_queue,
                arrival.reason,
                self._topology.failed_queue(queue),
            )
            publish = publisher.dead_letter_raw(arrival, queue)
            return Move(
                lane, arrival.tag, publish, f"dead letter of a bad message in {queue}"
            ), None
        if arrival.lost_last_attempt:
            # its last attempt's delivery was lost with its channel: the worker died
            publish = publisher.dead_letter(job, arrival.ended, LEASE_EXPIRED_ERROR, now)
            move = Move(lane, arrival.tag, publish, f"dead letter of job {job.id}")
            return move, _dead_record(job, arrival.ended, now)
        publish = publisher.send(job, arrival.ended)
        return Move(lane, arrival.tag, publish, f"further delay of job {job.id}"), None

    # -- outcomes -------------------------------------------------------------------------

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []
        held = self._book.take(outcomes, self)
        accepted = [False] * len(outcomes)
        acks: dict[Lane, list[tuple[int, int]]] = {}  # lane -> (index, tag)
        moves: list[tuple[int, Move]] = []
        publisher: Publisher | None = None
        now = self.clock.time()
        for index, (outcome, entry) in enumerate(zip(outcomes, held, strict=True)):
            if entry is None:
                continue
            if isinstance(outcome, Completed):
                acks.setdefault(entry.lane, []).append((index, entry.tag))
                continue
            publisher = publisher or (await self._live()).publisher
            job, attempt = entry.job, outcome.attempt
            match outcome:
                case Retried(run_at=run_at, error=error):
                    job.run_at = run_at
                    publish = publisher.send(job, attempt, error=error)
                case Failed(error=error):
                    publish = publisher.dead_letter(job, attempt, error, now)
                case Released():
                    job.run_at = now
                    publish = publisher.send(job, attempt - 1)
                case _:
                    raise TypeError(f"unknown outcome {outcome!r}")
            what = f"{type(outcome).__name__.lower()} outcome of job {job.id}"
            moves.append((index, Move(entry.lane, entry.tag, publish, what)))
        for lane, items in acks.items():
            ok = await lane.ack([tag for _, tag in items])
            for index, _ in items:
                accepted[index] = ok
        if moves:
            applied = await apply_moves([move for _, move in moves])
            for (index, _), ok in zip(moves, applied, strict=True):
                accepted[index] = ok
        return accepted

    # -- leases ---------------------------------------------------------------------------

    async def renew(
        self, worker_id: str, job_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        if not job_ids:
            return []
        return self._book.renew(worker_id, job_ids, self.clock.time() + lease_seconds)

    async def recover_expired(self) -> Recovery:
        dead, self._dead = self._dead, []
        now = self.clock.time()
        lapsed, _ = self._book.expired(self, now)
        if not lapsed:
            return Recovery(0, tuple(dead))
        publisher = (await self._live()).publisher
        moves: list[Move] = []
        records: list[Job | None] = []
        for entry in lapsed:
            job, attempt = entry.job, entry.job.attempts
            if attempt >= job.max_attempts:
                records.append(_dead_record(job, attempt, now))
                publish = publisher.dead_letter(job, attempt, LEASE_EXPIRED_ERROR, now)
            else:
                records.append(None)
                job.run_at = now
                publish = publisher.send(job, attempt)
            moves.append(Move(entry.lane, entry.tag, publish, f"recovery of job {job.id}"))
        requeued = 0
        for record, ok in zip(records, await apply_moves(moves), strict=True):
            if ok and record is None:
                requeued += 1
            elif ok and record is not None:
                dead.append(record)
        return Recovery(requeued, tuple(dead))

    async def _return_unclaimed(self, publisher: Publisher, lane: Lane) -> None:
        """Prefetched deliveries no worker took: published again as they were (so the
        delivery does not count as an attempt), then acknowledged."""
        now = self.clock.time()
        moves = []
        for arrival in lane.drain():
            job = arrival.job
            if job is None:
                moves.append(self._set_aside(lane, arrival, now)[0])
            else:
                publish = publisher.send(job, arrival.ended)
                moves.append(Move(lane, arrival.tag, publish, f"return of prefetched {job.id}"))
        if moves:
            await apply_moves(moves)


def _nacked(result: object) -> bool:
    """The broker refused the message (Basic.Nack), as opposed to a lost channel."""
    return isinstance(result, aiormq.exceptions.DeliveryError)


def _dead_record(job: Job, attempts: int, now: float) -> Job:
    """The job as a dead letter, for the worker's failed() hooks."""
    dead = job.copy()
    dead.state, dead.attempts, dead.error = JobState.FAILED, attempts, LEASE_EXPIRED_ERROR
    dead.worker_id = dead.lease_until = None
    dead.finished_at = now
    return dead
