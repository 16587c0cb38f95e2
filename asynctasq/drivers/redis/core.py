"""The Redis driver's core: enqueue, claim, settle, renew and recover, each state
change one Lua script (``asynctasq/drivers/lua/``). Waiting for work is waiting.py;
the plumbing (connection, running scripts) is base.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from asynctasq.drivers.base import (
    LEASE_EXPIRED_ERROR,
    DriverNotConnected,
    TransactionalEnqueueUnsupported,
    dead_jobs,
)
from asynctasq.drivers.capabilities import EXPIRY_SWEEP
from asynctasq.drivers.dependencies import UnknownParent, check_batch
from asynctasq.drivers.redis.base import CHUNK, RedisBase
from asynctasq.drivers.redis.claim import Claim
from asynctasq.drivers.redis.codec import encode_outcomes, enqueue_args, enqueue_dag_args
from asynctasq.drivers.redis.outcomes import settle_isolated, unencodable
from asynctasq.drivers.redis.records import read_job
from asynctasq.drivers.redis.scripts import Arg, Call
from asynctasq.jobs import Failed, Job, Outcome, Recovery

__all__ = ["MAX_CLAIM", "RedisCore"]

log = logging.getLogger("asynctasq.redis")

#: most jobs one claim takes (its limit is "up to")
MAX_CLAIM = 3000

#: expired leases one recover call returns per queue
RECOVER_MAX = 1000

_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisCore(RedisBase):
    async def enqueue(self, jobs: Sequence[Job], *, connection: Any = None) -> list[str]:
        if connection is not None:
            raise TransactionalEnqueueUnsupported(self.name)
        if not jobs:
            return []
        by_queue: dict[str, list[int]] = {}
        for i, job in enumerate(jobs):
            by_queue.setdefault(job.queue, []).append(i)
        for queue in by_queue:
            self.keys.queue(queue)  # validates the name before anything is sent
        now = self.clock.time()
        built: list[Call] = []
        offsets: list[list[int]] = []

        linked = _linked_queues(jobs, by_queue)

        def chunks() -> Iterator[Call]:  # packed lazily: packing overlaps with Redis
            for queue, indexes in by_queue.items():
                if queue in linked:  # jobs with parents: the queue's batch in one script
                    batch = [jobs[i] for i in indexes]
                    args = enqueue_dag_args(batch, now, self.result_retention)
                    built.append(Call("enqueue_dag", self.keys.queue(queue), args))
                    offsets.append(indexes)
                    yield built[-1]
                    continue
                for start in range(0, len(indexes), CHUNK):
                    chunk = indexes[start : start + CHUNK]
                    args = enqueue_args([jobs[i] for i in chunk], now)
                    built.append(Call("enqueue", self.keys.queue(queue), args))
                    offsets.append(chunk)
                    yield built[-1]

        calls = chunks()
        before = self._registration(by_queue)
        try:
            replies = await self._stream(calls, before)
        except _CONNECTION_ERRORS:
            # a stale pooled connection (server restarted): again with redis-py's
            # retries; harmless for chunks that did run, jobs already stored are kept
            for _ in calls:
                pass
            replies = await self._scripts.run_many(built, before=before)
        self._registered.update(by_queue)
        ids = [job.id for job in jobs]
        for chunk, held in zip(offsets, replies, strict=True):
            if held and held[0] == b"unknown":  # enqueue_dag: nothing of it was stored
                raise UnknownParent(held[1].decode(), held[2].decode(), hint=_SAME_QUEUE)
            for k in range(0, len(held), 2):  # unique_key held by another job
                ids[chunk[held[k]]] = held[k + 1].decode()
        return ids

    async def _stream(self, calls: Iterator[Call], before: list[tuple[Arg, ...]]) -> list[Any]:
        if self._client is None:
            raise DriverNotConnected(self.name)
        return await self._scripts.run_stream(calls, before=before)

    async def claim(
        self, queues: Sequence[str], *, limit: int, worker_id: str, lease_seconds: float
    ) -> list[Job]:
        claimer = self._claimer_or_raise()
        if limit <= 0 or not queues:
            return []
        limit = min(limit, MAX_CLAIM)
        while True:
            got = await claimer.claim(
                queues,
                limit=limit,
                worker_id=worker_id,
                lease_seconds=lease_seconds,
                now=self.clock.time(),
            )
            jobs = await self._accept(queues, got)
            if jobs or not got.corrupt:  # (it claimed only corrupt records: again now)
                return jobs

    async def _accept(self, queues: Sequence[str], got: Claim) -> list[Job]:
        """The jobs of a claim, once its corrupt records are dead-lettered; where
        they are is remembered (for settle and renew), and when nothing was due, the
        next due time (for the wait)."""
        if got.corrupt:
            await self._dead_letter(got.corrupt)
        if not got.jobs and not got.corrupt:
            if len(self._due) > 1000:
                self._due.clear()
            self._due[tuple(queues)] = got.due
        for job in got.jobs:
            self._locator.remember(job.id, job.queue)
        return got.jobs

    async def _dead_letter(self, outcomes: list[Failed]) -> None:
        """Settle the Failed outcomes of claimed jobs whose record is corrupt; should
        that fail, their leases lapse and a later claim meets them again."""
        try:
            await self.settle(outcomes)
        except Exception as exc:
            log.warning("could not dead-letter %d corrupt job(s): %s", len(outcomes), exc)

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []
        queues = await self._queues_of(outcomes)
        by_queue: dict[str, list[int]] = {}
        for i, outcome in enumerate(outcomes):
            queue = queues.get(outcome.job_id)
            if queue is not None:
                by_queue.setdefault(queue, []).append(i)
        pieces = [
            (queue, indexes[start : start + CHUNK])
            for queue, indexes in by_queue.items()
            for start in range(0, len(indexes), CHUNK)
        ]
        now = repr(self.clock.time())

        async def run(batches: list[tuple[str, list[Outcome]]]) -> list[Any]:
            calls: list[Call] = []
            unsent: dict[int, Exception] = {}
            for k, (queue, items) in enumerate(batches):
                try:
                    batch = encode_outcomes(items)
                except Exception as exc:  # (odd text that even sanitising could not fix)
                    unsent[k] = unencodable(exc)
                    continue
                args = [
                    now,
                    int(self.keep_completed),
                    *self._bounds(),
                    batch,
                    repr(float(self.result_retention)),
                    self.keys.finished,
                ]
                calls.append(Call("settle", self.keys.queue(queue), args))
            replies = iter(await self._run_many(calls, return_errors=True))
            return [unsent[k] if k in unsent else next(replies) for k in range(len(batches))]

        accepted = await settle_isolated(outcomes, pieces, run)
        self._locator.forget(o.job_id for o in outcomes)
        return accepted

    async def _queues_of(self, outcomes: Sequence[Outcome]) -> dict[str, str]:
        known = {o.job_id: o.queue for o in outcomes if o.queue}
        unknown = [o.job_id for o in outcomes if not o.queue]
        if unknown:
            known.update(await self._locator.find(unknown))
        return known

    async def renew(
        self, worker_id: str, job_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        if not job_ids:
            return []
        # the worker renews from a thread with a driver of its own, which reserved
        # nothing: ids it cannot place go to every queue's script, which skips the
        # ids it does not hold (one call per queue, instead of a lookup per id)
        by_queue: dict[str, list[str]] = {}
        unknown = []
        for job_id in job_ids:
            queue = self._locator.cached(job_id)
            if queue is None:
                unknown.append(job_id)
            else:
                by_queue.setdefault(queue, []).append(job_id)
        if unknown:
            for queue in await self._locator.known_queues():
                by_queue.setdefault(queue, []).extend(unknown)
        now = self.clock.time()
        times = [repr(now + lease_seconds), repr(now)]
        calls, queues = [], []
        for queue, ids in by_queue.items():
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                calls.append(Call("renew", self.keys.queue(queue), [worker_id, *times, *chunk]))
                queues.append(queue)
        held: set[str] = set()
        for queue, reply in zip(queues, await self._run_many(calls), strict=True):
            for raw in reply:
                held.add(job_id := raw.decode())
                self._locator.remember(job_id, queue)  # next time: straight there
        return [job_id for job_id in job_ids if job_id in held]

    async def recover_expired(self) -> Recovery:
        queues = await self._locator.known_queues()
        read_at = self.clock.time()
        now = repr(read_at)
        calls = [
            Call(
                "recover",
                self.keys.queue(q),
                [now, LEASE_EXPIRED_ERROR, RECOVER_MAX, *self._bounds()],
            )
            for q in queues
        ]
        requeued, records = 0, []
        for queue, reply in zip(queues, await self._run_many(calls), strict=True):
            requeued += int(reply[0])  # then [id, record, error, result, lease] per dead job
            records += [(queue, reply[i : i + 5]) for i in range(1, len(reply), 5)]

        def decode(record: tuple[str, list[Any]]) -> Job:
            queue, (job_id, data, error, result, lease_until) = record
            return read_job(queue, job_id, data, error, result, lease_until, now=read_at).job

        return Recovery(requeued, dead_jobs(records, decode, self.name))

    async def sweep_expired(self, limit: int = EXPIRY_SWEEP) -> int:
        """Capability Expiry: expire.lua on each queue (up to ``limit`` each)."""
        queues = await self._locator.known_queues()
        if not queues or limit <= 0:
            return 0
        now = repr(self.clock.time())
        calls = [Call("expire", self.keys.queue(q), [now, limit]) for q in queues]
        return sum(int(n) for n in await self._run_many(calls))


_SAME_QUEUE = "on Redis a job's parents must be in its own queue (one hash tag)"


def _linked_queues(jobs: Sequence[Job], by_queue: dict[str, list[int]]) -> set[str]:
    """The queues whose jobs of this batch depend on others (enqueue_dag.lua stores
    those); refuses, before anything is sent, what that script cannot honour."""
    linked = {job.queue for job in jobs if job.depends_on or job.flow_id}
    if not linked:
        return linked
    flows = {job.flow_id for job in jobs if job.flow_id}
    if flows and (len(flows) > 1 or len({job.queue for job in jobs}) > 1):
        raise ValueError(
            "on Redis a flow's jobs must all be in one queue (one hash tag: one script "
            "stores them atomically); route work by task within the queue"
        )
    check_batch(jobs)
    queue_of = {job.id: job.queue for job in jobs}
    for job in jobs:
        for parent in job.depends_on:
            if queue_of.get(parent, job.queue) != job.queue:
                raise ValueError(
                    f"job {job.id} (queue {job.queue!r}) depends on {parent} (queue "
                    f"{queue_of[parent]!r}): {_SAME_QUEUE}"
                )
    for queue in linked:
        if any(jobs[i].unique_key for i in by_queue[queue]):
            raise ValueError(
                f"queue {queue!r}: a batch with depends_on cannot hold unique keys on "
                "Redis yet; dispatch the jobs with unique keys in a batch of their own"
            )
    return linked
