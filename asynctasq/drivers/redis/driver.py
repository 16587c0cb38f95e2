"""Redis (and Redis Cluster) driver: every state change is one Lua script.

The keyspace is documented in ``asynctasq/drivers/keys.py``, each script's KEYS and
ARGV in the header of its file in ``asynctasq/drivers/lua/``, and the operating
guide (Cluster, TLS, durability) in ``docs/drivers/redis.md``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from asynctasq.config import Config, redact_url
from asynctasq.drivers.base import (
    LEASE_EXPIRED_ERROR,
    Driver,
    DriverError,
    DriverNotConnected,
    TransactionalEnqueueUnsupported,
)
from asynctasq.drivers.keys import RedisKeys
from asynctasq.drivers.redis.blocking import BlockingClaim
from asynctasq.drivers.redis.claim import Claimer
from asynctasq.drivers.redis.codec import (
    decode_job,
    decode_worker,
    encode_outcomes,
    encode_worker,
    new_job_item,
    pack_for_lua,
)
from asynctasq.drivers.redis.connection import Client, build_client, check_url
from asynctasq.drivers.redis.locate import Locator
from asynctasq.drivers.redis.scripts import Arg, Call, ScriptRunner
from asynctasq.drivers.redis.wake import Waker
from asynctasq.jobs import (
    Job,
    JobState,
    Outcome,
    QueueStats,
    Released,
    WorkerInfo,
    validate_name,
)

__all__ = ["RedisDriver"]

#: jobs (or outcomes) per script call: bounds how long one call holds Redis
CHUNK = 1000
#: jobs purged per script call
PURGE_WINDOW = 2000
#: expired leases one recover call returns per queue
RECOVER_MAX = 1000

_PURGEABLE = ("pending", "scheduled", "completed", "failed", "cancelled")
_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisDriver(Driver):
    name = "redis"

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        password: str | None = None,
        prefix: str = "asynctasq",
        max_connections: int = 50,
        cluster: bool = False,
        keep_completed: bool = False,
        completed_ttl: float = 86400.0,
        dead_letter_ttl: float = 30 * 86400.0,
        dead_letter_max: int = 100_000,
    ) -> None:
        check_url(url, cluster=cluster)
        self.url = url
        self.password = password
        self.keys = RedisKeys(prefix)
        self.max_connections = max_connections
        self.cluster = cluster
        self.keep_completed = keep_completed
        self.completed_ttl = completed_ttl
        self.dead_letter_ttl = dead_letter_ttl
        self.dead_letter_max = dead_letter_max
        self._client: Client | None = None
        self._blocking: BlockingClaim | None = None
        self._registered: set[str] = set()

    @classmethod
    def from_config(cls, config: Config) -> RedisDriver:
        return cls(
            config.redis_url,
            password=config.redis_password,
            prefix=config.redis_prefix,
            max_connections=config.redis_max_connections,
            cluster=config.redis_cluster,
            keep_completed=config.keep_completed_tasks,
            completed_ttl=config.completed_ttl,
            dead_letter_ttl=config.redis_dead_letter_ttl,
            dead_letter_max=config.redis_dead_letter_max,
        )

    def __repr__(self) -> str:
        mode = " cluster" if self.cluster else ""
        return f"<RedisDriver{mode} {redact_url(self.url)} prefix={self.keys.prefix!r}>"

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def client(self) -> Client:
        if self._client is None:
            raise DriverNotConnected(self.name)
        return self._client

    async def connect(self) -> None:
        if self._client is not None:
            return
        client = build_client(
            self.url,
            password=self.password,
            max_connections=self.max_connections,
            cluster=self.cluster,
        )
        try:
            await client.ping()
        except Exception as exc:
            await client.aclose()
            raise DriverError(
                f"cannot reach Redis at {redact_url(self.url)} ({type(exc).__name__}: {exc}); "
                "check ASYNCTASQ_REDIS_URL and that the server is running"
            ) from exc
        self._client = client
        self._scripts = ScriptRunner(client)
        self._claimer = Claimer(self._scripts, self.keys, cluster=self.cluster)
        self._locator = Locator(client, self.keys)
        self._waker = Waker(client)
        self._blocking = (
            BlockingClaim(client, self._claimer, self._release)
            if isinstance(client, Redis)
            else None
        )

    async def disconnect(self) -> None:
        if self._client is None:
            return
        if self._blocking is not None:
            await self._blocking.close()  # may release jobs: still connected
        client, self._client = self._client, None
        await self._waker.close()
        await client.aclose()

    # -- worker side -------------------------------------------------------------------

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
        now = repr(time.time())
        built: list[Call] = []
        offsets: list[list[int]] = []

        def chunks() -> Iterator[Call]:  # packed lazily: packing overlaps with Redis
            for queue, indexes in by_queue.items():
                for start in range(0, len(indexes), CHUNK):
                    chunk = indexes[start : start + CHUNK]
                    items = pack_for_lua([new_job_item(jobs[i]) for i in chunk])
                    built.append(Call("enqueue", self.keys.queue(queue), [now, items]))
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
            for k in range(0, len(held), 2):  # unique_key held by another job
                ids[chunk[held[k]]] = held[k + 1].decode()
        return ids

    async def _stream(self, calls: Iterator[Call], before: list[tuple[Arg, ...]]) -> list[Any]:
        if self._client is None:
            raise DriverNotConnected(self.name)
        return await self._scripts.run_stream(calls, before=before)

    def _registration(self, queues: Iterable[str]) -> list[tuple[Arg, ...]]:
        """SADD of queue names this driver has not registered yet (see queues())."""
        fresh = [q for q in queues if q not in self._registered]
        return [("SADD", self.keys.registry, *fresh)] if fresh else []

    async def reserve(
        self,
        queues: Sequence[str],
        *,
        limit: int,
        worker_id: str,
        lease_seconds: float,
        wait: float = 0.0,
    ) -> list[Job]:
        if limit <= 0:
            return []
        claimer = self._claimer_or_raise()
        deadline = time.monotonic() + wait
        options = {"limit": limit, "worker_id": worker_id, "lease_seconds": lease_seconds}
        jobs, next_due = await claimer.claim(queues, now=time.time(), **options)  # type: ignore[arg-type]
        while not jobs:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            if next_due is not None:
                # a timer of our own: Redis times BLPOP out only to its hz tick
                remaining = min(remaining, max(next_due - time.time(), 0.0) + 0.001)
            got = None
            if self._blocking is not None and len(claimer.groups(queues)) == 1:
                got = await self._blocking.wait(queues, timeout=remaining, **options)  # type: ignore[arg-type]
            else:
                await self._waker.wait(claimer.wake_groups(queues), remaining)
            if got is None:  # a deadline, or woken without a claim: look now
                jobs, next_due = await claimer.claim(queues, now=time.time(), **options)  # type: ignore[arg-type]
            else:
                jobs, next_due = got
        for job in jobs:
            self._locator.remember(job.id, job.queue)
        return jobs

    async def _release(self, jobs: list[Job]) -> list[bool]:
        return await self.settle(
            [Released(j.id, j.worker_id or "", j.attempts, queue=j.queue) for j in jobs]
        )

    def _claimer_or_raise(self) -> Claimer:
        if self._client is None:
            raise DriverNotConnected(self.name)
        return self._claimer

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []
        queues = await self._queues_of(outcomes)
        by_queue: dict[str, list[int]] = {}
        for i, outcome in enumerate(outcomes):
            queue = queues.get(outcome.job_id)
            if queue is not None:
                by_queue.setdefault(queue, []).append(i)
        now = repr(time.time())
        calls, offsets = [], []
        for queue, indexes in by_queue.items():
            for start in range(0, len(indexes), CHUNK):
                chunk = indexes[start : start + CHUNK]
                batch = encode_outcomes([outcomes[i] for i in chunk])
                args = [now, int(self.keep_completed), *self._bounds(), batch]
                calls.append(Call("settle", self.keys.queue(queue), args))
                offsets.append(chunk)
        accepted = [False] * len(outcomes)
        for chunk, reply in zip(offsets, await self._run_many(calls), strict=True):
            for i, ok in zip(chunk, reply, strict=True):
                accepted[i] = bool(ok)
        self._locator.forget(o.job_id for o in outcomes)
        return accepted

    async def _queues_of(self, outcomes: Sequence[Outcome]) -> dict[str, str]:
        known = {o.job_id: o.queue for o in outcomes if o.queue}
        unknown = [o.job_id for o in outcomes if not o.queue]
        if unknown:
            known.update(await self._locator.find(unknown))
        return known

    def _bounds(self) -> list[Arg]:
        return [
            repr(float(self.completed_ttl)),
            repr(float(self.dead_letter_ttl)),
            self.dead_letter_max,
        ]

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
        lease_until = repr(time.time() + lease_seconds)
        calls = [
            Call("renew", self.keys.queue(q), [worker_id, lease_until, *ids])
            for q, ids in by_queue.items()
        ]
        held: set[str] = set()
        for queue, reply in zip(by_queue, await self._run_many(calls), strict=True):
            for raw in reply:
                held.add(job_id := raw.decode())
                self._locator.remember(job_id, queue)  # next time: straight there
        return [job_id for job_id in job_ids if job_id in held]

    async def recover_expired(self) -> int:
        queues = await self._locator.known_queues()
        now = repr(time.time())
        calls = [
            Call(
                "recover",
                self.keys.queue(q),
                [now, LEASE_EXPIRED_ERROR, RECOVER_MAX, *self._bounds()],
            )
            for q in queues
        ]
        return sum(int(moved) for moved in await self._run_many(calls))

    async def _run_many(self, calls: Sequence[Call], *, register: Iterable[str] = ()) -> list[Any]:
        """Script calls in one round trip, registering new queue names first."""
        if not calls:
            return []
        if self._client is None:
            raise DriverNotConnected(self.name)
        replies = await self._scripts.run_many(calls, before=self._registration(register))
        self._registered.update(register)
        return replies

    async def _run(self, script: str, queue: str, *args: Arg) -> Any:
        if self._client is None:
            raise DriverNotConnected(self.name)
        return await self._scripts.run(Call(script, self.keys.queue(queue), args))

    # -- operator side -----------------------------------------------------------------

    async def stats(self, queue: str) -> QueueStats:
        depth, processing, scheduled, completed, failed, cancelled, paused = await self._run(
            "stats", queue, repr(time.time())
        )
        return QueueStats(
            queue=queue,
            depth=depth,
            processing=processing,
            scheduled=scheduled,
            completed=completed,
            failed=failed,
            cancelled=cancelled,
            paused=bool(paused),
        )

    async def queues(self) -> list[str]:
        self.client  # noqa: B018 (raises when not connected)
        return await self._locator.known_queues()

    async def get(self, job_id: str) -> Job | None:
        self.client  # noqa: B018
        queue = await self._locator.find_one(job_id)
        if queue is None:
            return None
        jobs = _decode_rows(queue, await self._run("get", queue, job_id), time.time())
        return jobs[0] if jobs else None

    async def list_jobs(
        self, queue: str, state: JobState | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        if state in (JobState.WAITING, JobState.EXPIRED) or limit <= 0:
            return []  # nothing is stored in these states (yet)
        now = time.time()
        name = "" if state is None else state.value
        rows = await self._run("list", queue, name, repr(now), max(offset, 0), limit)
        return _decode_rows(queue, rows, now)

    async def cancel(self, job_id: str) -> bool:
        return await self._by_id("cancel", job_id, repr(time.time()), job_id, *self._bounds()[1:])

    async def requeue(self, job_id: str) -> bool:
        return await self._by_id("requeue", job_id, repr(time.time()), job_id)

    async def set_progress(self, job_id: str, worker_id: str, progress: float) -> bool:
        return await self._by_id("progress", job_id, job_id, worker_id, repr(float(progress)))

    async def _by_id(self, script: str, job_id: str, *args: Arg) -> bool:
        self.client  # noqa: B018
        queue = await self._locator.find_one(job_id)
        return queue is not None and bool(await self._run(script, queue, *args))

    async def purge(self, queue: str, state: JobState, *, older_than: float | None = None) -> int:
        if state is JobState.ACTIVE:
            raise ValueError("active jobs cannot be purged: cancel or wait for them")
        if state.value not in _PURGEABLE:
            return 0
        validate_name("queue", queue)
        bound = "" if older_than is None else repr(float(older_than))
        deleted, offset = 0, 0
        while True:
            gone, scanned = await self._run(
                "purge", queue, state.value, repr(time.time()), bound, PURGE_WINDOW, offset
            )
            deleted += int(gone)
            if scanned < PURGE_WINDOW:
                return deleted
            if state in (JobState.PENDING, JobState.SCHEDULED):
                offset += scanned - gone  # jobs kept by older_than stay in the window

    async def pause(self, queue: str) -> None:
        await self._set_paused(queue, True)

    async def resume(self, queue: str) -> None:
        await self._set_paused(queue, False)

    async def _set_paused(self, queue: str, paused: bool) -> None:
        call = Call("pause", self.keys.queue(queue), ["1" if paused else "0"])
        await self._run_many([call], register=[queue])

    # -- worker registry ---------------------------------------------------------------

    def _registry_call(self, *args: Arg) -> Call:
        return Call("workers", [self.keys.workers, self.keys.worker_info], args)

    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        now = time.time()
        call = self._registry_call(
            "beat", info.worker_id, encode_worker(info, now), repr(now + ttl), repr(now)
        )
        await self._run_many([call])

    async def remove_worker(self, worker_id: str) -> None:
        await self._run_many([self._registry_call("remove", worker_id)])

    async def list_workers(self) -> list[WorkerInfo]:
        (infos,) = await self._run_many([self._registry_call("list", repr(time.time()))])
        return [decode_worker(raw) for raw in infos if raw is not None]


def _decode_rows(queue: str, rows: list[Any], now: float) -> list[Job]:
    """Jobs from fetch() in lua/_prelude.lua: [id, record, error, result, lease] each."""
    return [
        decode_job(queue, *rows[i : i + 5], now=now)  # type: ignore[misc]
        for i in range(0, len(rows), 5)
    ]
