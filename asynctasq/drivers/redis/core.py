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
from asynctasq.drivers.dependencies import UnknownParent
from asynctasq.drivers.redis.base import CHUNK, RedisBase
from asynctasq.drivers.redis.claim import Claim
from asynctasq.drivers.redis.codec import encode_outcomes, enqueue_args
from asynctasq.drivers.redis.linking import (
    CLUSTER_LIMIT,
    dag_call,
    dag_groups,
    locate_parents,
    outside_parents,
)
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

#: the most children one settle_bounded script releases, as release_cost() in
#: _prelude.lua counts them (the first completion's all, however many): about 8 µs of
#: Lua each, so the settle of a fan-out's parents blocks the server under 2 ms at a
#: time, and the first children run while the next are released. 100 x 100 fan-out
#: (benchmarks.dependencies): 200 -> as fast as a plain drain; 500 -> -25%; 1,000 and
#: more -> -30% to -35%, as unbounded; 100 -> -10% (more calls)
RELEASE_BOUND = 200

_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisCore(RedisBase):
    #: settle_bounded's bound (RELEASE_BOUND); the lifecycle model sets 1, so that every
    #: completion with children after a call's first is left for another call
    release_bound: int = RELEASE_BOUND

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

        groups = dag_groups(jobs, cluster=self.cluster)
        linked = {queue for group in groups for queue in group}

        def chunks() -> Iterator[Call]:  # packed lazily: packing overlaps with Redis
            for group in groups:  # jobs with parents: the group's batch in one script
                call, indexes = dag_call(self.keys, jobs, group, now, self.result_retention)
                built.append(call)
                offsets.append(indexes)
                yield call
            for queue, indexes in by_queue.items():
                if queue in linked:
                    continue
                for start in range(0, len(indexes), CHUNK):
                    chunk = indexes[start : start + CHUNK]
                    args = enqueue_args([jobs[i] for i in chunk], now)
                    if args[1] == "1":  # all due, nothing unique, no ttl: the lean script
                        built.append(Call("enqueue_due", self.keys.due(queue), args))
                    else:
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
        for k, (chunk, held) in enumerate(zip(offsets, replies, strict=True)):
            if held and held[0] == b"unknown":  # enqueue_dag: nothing of it was stored
                held = await self._enqueue_linked_afar(jobs, groups[k], now, held)
            for j in range(0, len(held), 2):  # unique_key held by another job
                ids[chunk[held[j]]] = held[j + 1].decode()
        return ids

    async def _enqueue_linked_afar(
        self, jobs: Sequence[Job], group: list[str], now: float, unknown: list[bytes]
    ) -> list[Any]:
        """enqueue_dag again, once a parent missing from its child's queue was found
        stored in another queue (plain Redis: its block is declared to the script);
        UnknownParent when it is nowhere, ValueError on Redis Cluster."""
        members = [job for job in jobs if job.queue in group]
        located = await locate_parents(
            self.client, self.keys, await self._locator.known_queues(), outside_parents(members)
        )
        job_id, parent = unknown[1].decode(), unknown[2].decode()
        if self.cluster or parent not in located:
            if parent in located:
                queue = next(job.queue for job in members if job.id == job_id)
                raise ValueError(
                    f"job {job_id} (queue {queue!r}) depends on {parent} (queue "
                    f"{located[parent]!r}): {CLUSTER_LIMIT}"
                )
            raise UnknownParent(job_id, parent)
        call, _ = dag_call(self.keys, jobs, group, now, self.result_retention, located)
        held = await self._scripts.run(call)
        if held and held[0] == b"unknown":  # (it was forgotten meanwhile)
            raise UnknownParent(held[1].decode(), held[2].decode())
        return list(held)

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
        accepted, _ = await self._settle(outcomes, None)
        return accepted

    async def settle_bounded(self, outcomes: Sequence[Outcome]) -> tuple[list[bool], list[int]]:
        return await self._settle(outcomes, self.release_bound)

    async def _settle(
        self, outcomes: Sequence[Outcome], bound: int | None
    ) -> tuple[list[bool], list[int]]:
        if not outcomes:
            return [], []
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
                    *(() if bound is None else (bound,)),
                ]
                calls.append(Call("settle", self.keys.queue(queue), args))
            replies = iter(await self._run_many(calls, return_errors=True))
            return [unsent[k] if k in unsent else next(replies) for k in range(len(batches))]

        accepted, left = await settle_isolated(outcomes, pieces, run)
        later = {outcomes[i].job_id for i in left}  # (still active: still located)
        self._locator.forget(o.job_id for o in outcomes if o.job_id not in later)
        return accepted, left

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
