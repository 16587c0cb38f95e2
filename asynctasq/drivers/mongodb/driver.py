"""The MongoDB driver: the driver core on one jobs collection, written only against the
public seams (``base.Driver``, ``capabilities``, ``jobs``, ``clock``, ``waiting``).

How the lifecycle maps (docs/drivers/mongodb.md says it for users):

- enqueue: ``insert_many`` (unordered); a unique key is a partial unique index on the
  ``ukey`` field, held while the job is unfinished;
- claim: one ``find_one_and_update`` for a single job; for a batch, the ids of the
  first due jobs in claim order, one ``update_many`` taking those still pending under a
  fresh claim token (each document's update is atomic, so two workers never take the
  same job), and one read of the jobs carrying the token;
- settle, renew, progress: updates fenced by (id, state active, worker, attempt);
- recover_expired: one ``update_many`` puts back the jobs with attempts left; those
  without are dead-lettered one by one (their records go to the failed hooks);
- an idle reserve waits on a change stream (changes.py), or polls where the server
  has none, backing off like the MySQL driver.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
from collections.abc import Sequence
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError

from asynctasq.clock import SYSTEM_CLOCK, Clock
from asynctasq.config import Config, ConfigError
from asynctasq.drivers.base import (
    LEASE_EXPIRED_ERROR,
    Driver,
    DriverError,
    DriverNotConnected,
    dead_jobs,
)
from asynctasq.drivers.capabilities import (
    ConcurrencyKeys,
    Deduplication,
    TransactionalEnqueue,
    UniqueKeys,
)
from asynctasq.drivers.mongodb.admin import MongoOperatorSide
from asynctasq.drivers.mongodb.changes import ChangeWatcher
from asynctasq.drivers.mongodb.dedup import enqueue_deduplicated, sweep_locks
from asynctasq.drivers.mongodb.documents import (
    by_ids,
    claim_order,
    document_of,
    stored_job,
)
from asynctasq.drivers.mongodb.rates import MongoRateLimits
from asynctasq.drivers.mongodb.results import MongoResults, forget_results, keep_results
from asynctasq.drivers.mongodb.schedules import MongoSchedules
from asynctasq.drivers.mongodb.slots import MongoSlots
from asynctasq.drivers.mongodb.store import Store
from asynctasq.drivers.mongodb.store import write_concern as write_concern_of
from asynctasq.drivers.sql.faults import dead_letter_reason
from asynctasq.drivers.sql.storable import storable_error
from asynctasq.drivers.waiting import AdaptivePoll, Wakeup, wait_for
from asynctasq.jobs import (
    Completed,
    Failed,
    Job,
    Outcome,
    Recovery,
    Released,
    Retried,
    validate_name,
)
from asynctasq.redaction import redact

__all__ = ["MongoDBDriver"]

log = logging.getLogger("asynctasq.driver")

Document = dict[str, Any]

#: a unique key whose holder finished between our insert and our look-up: tries
_UNIQUE_TRIES = 3
#: seconds between two sweeps of passed throttle locks (dedup.py) by one driver
_SWEEP_INTERVAL = 5.0
#: claims of a batch lost to other workers before the claim gives up for this round
_CLAIM_ROUNDS = 3


class MongoDBDriver(
    MongoOperatorSide,
    MongoResults,
    MongoSchedules,
    MongoRateLimits,
    MongoSlots,
    UniqueKeys,
    Deduplication,
    TransactionalEnqueue,
    ConcurrencyKeys,
    Driver,
):
    name = "mongodb"

    def __init__(
        self,
        url: str = "mongodb://localhost:27017/",
        *,
        database: str | None = None,
        prefix: str = "asynctasq",
        write_concern: str | int = "majority",
        poll_interval: float = 0.5,
        change_streams: bool = True,
        connect_timeout: float = 10.0,
        keep_completed: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        validate_name("collection prefix", prefix)
        if not 0 < poll_interval <= 60:
            raise ValueError(f"poll_interval must be > 0 and <= 60 seconds, got {poll_interval}")
        self.url = url
        self.database = database
        self.prefix = prefix
        self.write_concern = write_concern
        self._concern = write_concern_of(write_concern)
        self.poll_interval = poll_interval
        self.change_streams = change_streams
        self.connect_timeout = connect_timeout
        self.keep_completed = keep_completed
        self.clock = clock
        self.wakeup = Wakeup()
        self._poll = AdaptivePoll(floor=min(0.01, poll_interval), ceiling=poll_interval)
        self._store: Store | None = None
        self._changes: ChangeWatcher | None = None
        self._lock = asyncio.Lock()
        self._known_queues: set[str] = set()
        self._next_sweep = 0.0  # when recover_expired next drops passed throttle locks

    @classmethod
    def from_config(cls, config: Config, **options: Any) -> MongoDBDriver:
        """The driver the settings describe; ``options`` (keyword arguments of the
        constructor, from ``ASYNCTASQ_DRIVER_OPTIONS`` or code) override them."""
        unknown = set(options) - set(inspect.signature(cls).parameters)
        if unknown:  # (names only: option values may be secrets)
            raise ConfigError(
                f"driver options: the mongodb driver does not take {', '.join(sorted(unknown))}"
                "; see docs/drivers/mongodb.md for its settings"
            )
        settings: dict[str, Any] = {
            "database": config.mongodb_database,
            "prefix": config.mongodb_prefix,
            "write_concern": config.mongodb_write_concern,
            "poll_interval": config.mongodb_poll_interval,
            "keep_completed": config.keep_completed_tasks,
        }
        settings.update(options)
        return cls(settings.pop("url", config.mongodb_url), **settings)

    def __repr__(self) -> str:
        return f"<MongoDBDriver {redact(self.url)} prefix={self.prefix!r}>"

    # -- connection ---------------------------------------------------------------------

    async def connect(self) -> None:
        async with self._lock:
            if self._store is not None:
                return
            store = Store.open(
                self.url, self.database, self.prefix, self._concern, self.connect_timeout
            )
            try:
                await store.create_indexes()
            except BaseException:
                await store.close()
                raise
            self._store = store
            if self.change_streams:
                self._changes = ChangeWatcher(store.jobs, self.wakeup.notify)

    async def disconnect(self) -> None:
        store, self._store = self._store, None
        changes, self._changes = self._changes, None
        if changes is not None:
            await changes.stop()
        if store is not None:
            await store.close()
        self._known_queues.clear()

    @property
    def store(self) -> Store:
        if self._store is None:
            raise DriverNotConnected(self.name)
        return self._store

    def _wake_local(self) -> None:
        self.wakeup.notify()

    # -- enqueue ------------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[Job], *, connection: Any = None) -> list[str]:
        if not jobs:
            return []
        session = _transaction_of(connection)
        for job in jobs:
            validate_name("queue", job.queue)
        await self._register_queues({job.queue for job in jobs})
        if any(job.unique_mode is not None for job in jobs):
            return await self._enqueue_deduplicated(jobs, session)
        ids = [job.id for job in jobs]
        keyed = [i for i, job in enumerate(jobs) if job.unique_key is not None]
        holders = await self._unique_holders([jobs[i] for i in keyed], session)
        fresh: list[int] = []
        first_of_key: dict[str, str] = {}
        for index, job in enumerate(jobs):
            key = job.unique_key
            if key is not None and (held := holders.get(key) or first_of_key.get(key)):
                ids[index] = held
                continue
            if key is not None:
                first_of_key[key] = job.id
            fresh.append(index)
        if fresh:
            await self._insert([jobs[i] for i in fresh], ids, fresh, session)
        self._wake_local()
        return ids

    async def _enqueue_deduplicated(
        self, jobs: Sequence[Job], session: AsyncClientSession | None
    ) -> list[str]:
        """A batch holding jobs with a deduplication mode (dedup.py): those go one
        transaction each, in order; the others together, as usual."""
        if session is not None:
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
                ids.append(await enqueue_deduplicated(self.store, job, self.clock.time()))
        self._wake_local()
        return ids

    async def _insert(
        self,
        jobs: list[Job],
        ids: list[str],
        positions: list[int],
        session: AsyncClientSession | None,
    ) -> None:
        """Store ``jobs`` (at ``positions`` of ``ids``); a job whose unique key another
        producer took meanwhile gets that job's id in its place."""
        pending = list(zip(positions, (document_of(job) for job in jobs), strict=True))
        for _ in range(_UNIQUE_TRIES):
            try:
                documents = [document for _, document in pending]
                await self.store.jobs.insert_many(documents, ordered=False, session=session)
                return
            except BulkWriteError as exc:
                lost = _duplicates(exc)
                if session is not None or not lost:
                    raise  # (in the caller's transaction: it is aborted, nothing to salvage)
            retry = []
            for index in lost:
                position, document = pending[index]
                if "ukey" not in document:
                    continue  # the same job id stored twice: it is there
                holder = await self.store.jobs.find_one({"ukey": document["ukey"]}, {"_id": 1})
                if holder is None:
                    retry.append((position, document))  # its holder finished: try again
                else:
                    ids[position] = holder["_id"]
            if not retry:
                return
            pending = retry
        raise DriverError("mongodb: a unique key kept changing hands during enqueue; try again")

    async def _unique_holders(
        self, jobs: list[Job], session: AsyncClientSession | None
    ) -> dict[str, str]:
        """Unique key -> id of the unfinished job holding it, for the keys of ``jobs``."""
        if not jobs:
            return {}
        keys = list({job.unique_key for job in jobs})
        cursor = self.store.jobs.find({"ukey": {"$in": keys}}, {"ukey": 1}, session=session)
        return {document["ukey"]: document["_id"] async for document in cursor}

    async def _register_queues(self, queues: set[str]) -> None:
        """Record the queue names (once per process). Outside the caller's transaction:
        two transactions creating one queue's record would conflict, and a name listed
        for an enqueue that was rolled back costs nothing."""
        new = queues - self._known_queues
        if not new:
            return
        await self.store.queues.bulk_write(
            [
                UpdateOne({"_id": q}, {"$setOnInsert": {"paused": False}}, upsert=True)
                for q in sorted(new)
            ],
            ordered=False,
        )
        self._known_queues |= new

    # -- claim --------------------------------------------------------------------------

    async def claim(
        self, queues: Sequence[str], *, limit: int, worker_id: str, lease_seconds: float
    ) -> list[Job]:
        if limit <= 0:
            return []
        live = await self._unpaused(list(dict.fromkeys(queues)))
        if not live:
            return []
        now = self.clock.time()
        due = {"queue": {"$in": live}, "state": "pending", "run_at": {"$lte": now}}
        taken = _taken(worker_id, now + lease_seconds)
        if limit == 1:
            document = await self.store.jobs.find_one_and_update(
                due, taken, sort=claim_order, return_document=ReturnDocument.AFTER
            )
            documents = [] if document is None else [document]
        else:
            documents = await self._claim_batch(due, taken, limit)
        return await self._sound(documents, now)

    async def _claim_batch(
        self, due: Document, taken: list[Document], limit: int
    ) -> list[Document]:
        jobs = self.store.jobs
        for _ in range(_CLAIM_ROUNDS):
            candidates = [
                d["_id"] async for d in jobs.find(due, {"_id": 1}, sort=claim_order, limit=limit)
            ]
            if not candidates:
                return []
            token = secrets.token_hex(12)
            update = [{"$set": {**taken[0]["$set"], "claim": token}}]
            result = await jobs.update_many({**due, **by_ids(candidates)}, update)
            if result.modified_count:
                found = [d async for d in jobs.find({"claim": token})]
                order = {job_id: i for i, job_id in enumerate(candidates)}
                return sorted(found, key=lambda d: order.get(d["_id"], len(order)))
        return []  # other workers took every candidate three times running

    async def _sound(self, documents: list[Document], now: float) -> list[Job]:
        """The claimed jobs a worker can run; a damaged record is dead-lettered with
        the reason instead (it would fail every worker that took it)."""
        jobs = []
        for document in documents:
            job = stored_job(document)
            reason = dead_letter_reason(job, claimed=True)
            if reason is None:
                jobs.append(job)
                continue
            log.warning("mongodb: job %r has a damaged record: dead-lettered", document.get("_id"))
            await self.store.jobs.update_one(
                {"_id": document["_id"], "state": "active"},
                {
                    "$set": {
                        "state": "failed",
                        "error": reason,
                        "finished_at": now,
                        "worker_id": None,
                        "lease_until": None,
                    },
                    "$unset": {"ukey": ""},
                },
            )
        return jobs

    async def _unpaused(self, queues: list[str]) -> list[str]:
        paused = {
            d["_id"]
            async for d in self.store.queues.find(
                {"_id": {"$in": queues}, "paused": True}, {"_id": 1}
            )
        }
        return [q for q in queues if q not in paused]

    # -- waiting ------------------------------------------------------------------------

    async def prepare_wait(self, queues: Sequence[str], wait: float) -> None:
        if wait > 0 and self._changes is not None:
            await self._changes.start(ready_within=min(wait, 2.0))

    async def idle(self, queues: Sequence[str], armed: Any, remaining: float) -> None:
        """Wait for a change-stream wake-up, the next due job or the time left; without
        a stream, look again after a pause that doubles while nothing arrives."""
        watching = self._changes is not None and self._changes.watching
        pause = min(remaining, self.poll_interval if watching else self._poll.next())
        due = await self.next_due(queues)
        if due is not None:
            pause = min(pause, max(due - self.clock.time(), 0.0) + 0.001)
        if await wait_for(armed, pause):
            self._poll.busy()

    async def next_due(self, queues: Sequence[str]) -> float | None:
        """When the earliest *scheduled* job comes due. A job already due that the
        claim did not get (its queue is paused, another worker took it) is not a
        reason to look again at once: that would spin until the wait ends."""
        document = await self.store.jobs.find_one(
            {
                "queue": {"$in": list(queues)},
                "state": "pending",
                "run_at": {"$gt": self.clock.time()},
            },
            {"run_at": 1},
            sort=[("run_at", 1)],
        )
        run_at = None if document is None else document.get("run_at")
        return float(run_at) if isinstance(run_at, int | float) else None

    # -- outcomes and leases ------------------------------------------------------------

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []
        for outcome in outcomes:
            if not isinstance(outcome, Completed | Retried | Failed | Released):
                raise TypeError(f"unknown outcome {outcome!r}")
        now = self.clock.time()
        seen: set[str] = set()
        firsts = []
        for outcome in outcomes:  # a second outcome for one job in a batch is refused
            firsts.append(outcome.job_id not in seen)
            seen.add(outcome.job_id)
        if not self.keep_completed:
            # the results first: a crash before the deletes leaves those jobs to run
            # again, and a job's own document outranks a result beside it (results.py)
            done = [
                (o.job_id, o.result)
                for o, first in zip(outcomes, firsts, strict=True)
                if first and isinstance(o, Completed)
            ]
            await keep_results(self.store, done, now)
        accepted = await asyncio.gather(
            *(self._settle_one(o, now) for o, first in zip(outcomes, firsts, strict=True) if first)
        )
        answers = iter(accepted)
        result = [next(answers) if first else False for first in firsts]
        if any(isinstance(o, Retried | Released) for o in outcomes):
            self._wake_local()
        return result

    async def _settle_one(self, outcome: Outcome, now: float) -> bool:
        fence = {
            "_id": outcome.job_id,
            "state": "active",
            "worker_id": outcome.worker_id,
            "attempts": outcome.attempt,
        }
        jobs = self.store.jobs
        done: Document = {"worker_id": None, "lease_until": None}
        match outcome:
            case Completed() if not self.keep_completed:  # (its result: kept by settle)
                return (await jobs.delete_one(fence)).deleted_count == 1
            case Completed(result=result):
                update = {
                    "$set": {**done, "state": "completed", "result": result, "finished_at": now},
                    "$unset": {"ukey": ""},
                }
            case Retried(run_at=run_at, error=error):
                update = {
                    "$set": {
                        **done,
                        "state": "pending",
                        "run_at": run_at,
                        "error": storable_error(error),
                    },
                }
            case Failed(error=error):
                update = {
                    "$set": {
                        **done,
                        "state": "failed",
                        "error": storable_error(error),
                        "finished_at": now,
                    },
                    "$unset": {"ukey": ""},
                }
            case Released(run_at=run_at):
                # due at once, or at run_at (a rate limit's next token)
                due = now if run_at is None else run_at
                update = {
                    "$set": {**done, "state": "pending", "run_at": due},
                    "$inc": {"attempts": -1},
                }
            case _:
                raise TypeError(f"unknown outcome {outcome!r}")
        return (await jobs.update_one(fence, update)).matched_count == 1

    async def renew(
        self, worker_id: str, job_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        if not job_ids:
            return []
        held = {"state": "active", "worker_id": worker_id, **by_ids(job_ids)}
        until = self.clock.time() + lease_seconds
        jobs = self.store.jobs
        await jobs.update_many(held, {"$set": {"lease_until": until}})
        still = {d["_id"] async for d in jobs.find({**held, "lease_until": until}, {"_id": 1})}
        return [job_id for job_id in job_ids if job_id in still]

    async def recover_expired(self) -> Recovery:
        now = self.clock.time()
        jobs = self.store.jobs
        if now >= self._next_sweep:  # every worker's tick, at most once per interval
            self._next_sweep = now + _SWEEP_INTERVAL
            await sweep_locks(self.store, now)
            await forget_results(self.store, now - self.result_retention)
        lapsed = {"state": "active", "lease_until": {"$lt": now}}
        back = await jobs.update_many(
            {**lapsed, "$expr": {"$lt": ["$attempts", "$max_attempts"]}},
            {"$set": {"state": "pending", "run_at": now, "worker_id": None, "lease_until": None}},
        )
        dead: list[Document] = []
        last = {**lapsed, "$expr": {"$not": [{"$lt": ["$attempts", "$max_attempts"]}]}}
        async for candidate in jobs.find(last, {"_id": 1, "lease_until": 1}):
            record = await jobs.find_one_and_update(
                {
                    "_id": candidate["_id"],
                    "state": "active",
                    "lease_until": candidate["lease_until"],
                },
                {
                    "$set": {
                        "state": "failed",
                        "error": LEASE_EXPIRED_ERROR,
                        "finished_at": now,
                        "worker_id": None,
                        "lease_until": None,
                    },
                    "$unset": {"ukey": ""},
                },
                return_document=ReturnDocument.AFTER,
            )
            if record is not None:
                dead.append(record)
        if back.modified_count:
            self._wake_local()
        return Recovery(back.modified_count, dead_jobs(dead, stored_job, self.name))


def _taken(worker_id: str, lease_until: float) -> list[Document]:
    """The claim's update, as a pipeline: active, leased, one more attempt. An attempt
    count another tool left non-numeric stays as it is (``$inc`` would fail the whole
    claim on it): the claim then dead-letters the record by its damage."""
    attempts = {"$cond": [{"$isNumber": "$attempts"}, {"$add": ["$attempts", 1]}, "$attempts"]}
    fields = {
        "state": "active",
        "worker_id": worker_id,
        "lease_until": lease_until,
        "attempts": attempts,
    }
    return [{"$set": fields}]


def _transaction_of(connection: Any) -> AsyncClientSession | None:
    """The caller's session, which must be in a transaction (else the jobs would be
    stored at once, whatever the caller does next)."""
    if connection is None:
        return None
    if not isinstance(connection, AsyncClientSession):
        raise DriverError(
            "the mongodb driver enqueues inside your transaction when connection= is the "
            f"AsyncClientSession running it, not a {type(connection).__name__}"
        )
    if not connection.in_transaction:
        raise DriverError(
            "connection= is a session with no transaction open: call "
            "session.start_transaction() first (or enqueue without connection=)"
        )
    return connection


def _duplicates(exc: BulkWriteError) -> list[int]:
    """Indexes of the documents refused as duplicates (unique key or id); [] when any
    other write error is among them."""
    errors = exc.details.get("writeErrors", [])
    if not errors or any(e.get("code") != 11000 for e in errors):
        return []
    return [e["index"] for e in errors]
