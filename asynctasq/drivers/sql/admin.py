"""The operator side every SQL driver shares: stats, listings, cancel, requeue (one or
a batch), remove, purge, pause, progress and the worker registry, written once over the
dialect's named statements (statements.py). Times come from the driver's clock, never
the server's."""

from __future__ import annotations

import abc
from collections.abc import Collection, Sequence
from typing import Any, ClassVar

from asynctasq.checks import MAX_EPOCH
from asynctasq.clock import Clock
from asynctasq.drivers.capabilities import (
    Inspection,
    Management,
    Pausing,
    ProgressStore,
    Removal,
    WorkerRegistry,
)
from asynctasq.drivers.overviews import NO_KIND, FailedGroups
from asynctasq.drivers.positions import Position, Positioned, check_position
from asynctasq.drivers.sql.dependencies import stored_state
from asynctasq.drivers.sql.listing import (
    check_progress,
    list_query,
    positioned_query,
    purge_query,
    queue_stats,
    stats_field,
    worker_infos,
    worker_record,
)
from asynctasq.drivers.sql.rows import job_from_row
from asynctasq.drivers.sql.statements import Statements
from asynctasq.drivers.sql.storable import storable_worker_id
from asynctasq.jobs import Job, JobState, QueueStats, WorkerInfo

__all__ = ["SQLOperatorSide"]


class SQLOperatorSide(Inspection, Management, Removal, Pausing, WorkerRegistry, ProgressStore):
    statements: Statements
    clock: Clock
    #: jobs one requeue_many statement moves (a short transaction, a bounded statement)
    requeue_slice: ClassVar[int] = 1000
    #: rows one purge statement deletes, so a large purge never holds many locks at
    #: once (None: one statement deletes them all)
    purge_slice: ClassVar[int | None] = None
    #: estimated_stats counts a finished state exactly up to this many jobs, and asks
    #: the planner for an estimate beyond (queries stats_capped, estimate_jobs); None:
    #: always exact (stats)
    estimate_beyond: ClassVar[int | None] = None

    def _wake_local(self) -> None:
        """Wake the reserves of this process: a job may be claimable now."""
        raise NotImplementedError

    async def stats(self, queue: str) -> QueueStats:
        counts = await self.statements.tuples("stats", queue=queue, now=self.clock.time())
        paused = await self.statements.value("is_paused", queue=queue)
        return queue_stats(queue, counts, bool(paused))  # type: ignore[arg-type]

    async def estimated_stats(self, queue: str) -> tuple[QueueStats, dict[str, str]]:
        cap = self.estimate_beyond
        if cap is None:
            return await self.stats(queue), {}
        counts = await self.statements.tuples(
            "stats_capped", queue=queue, now=self.clock.time(), cap=cap + 1
        )
        rows, inexact = [], {}
        # due and scheduled jobs are both stored pending: the planner estimates them
        # together, so one beyond the cap is that estimate less the other's exact count
        pending = {bool(future): int(n) for state, future, n in counts if state == "pending"}
        for state, future, n in counts:
            field = "scheduled" if state == "pending" and future else stats_field(state)
            if n > cap and field is not None:
                # more than cap: the planner's estimate, unless it says no more than was
                # seen (statistics from before the state grew): then only "more than"
                guess = await self._estimated_rows(queue, state)
                if state == "pending":
                    other = pending.get(not future, 0)
                    guess = guess - other if other <= cap else 0  # both beyond: no split
                n, inexact[field] = (guess, "about") if guess > cap else (cap, "more than")
            rows.append((state, future, n))
        paused = await self.statements.value("is_paused", queue=queue)
        return queue_stats(queue, rows, bool(paused)), inexact

    async def _estimated_rows(self, queue: str, state: str) -> int:
        """The planner's estimate of the jobs of ``queue`` in stored ``state``."""
        return int(await self.statements.value("estimate_jobs", queue=queue, state=state) or 0)

    async def count_finished_since(
        self, queue: str, state: JobState, since: float, *, cap: int
    ) -> int:
        if not state.finished:
            raise ValueError(f"{state.value} is not a finished state")
        params = {"queue": queue, "state": stored_state(state), "since": since, "cap": cap}
        return int(await self.statements.value("count_finished_since", **params) or 0)

    async def queues(self) -> list[str]:
        return [row[0] for row in await self.statements.tuples("queues")]

    async def get(self, job_id: str) -> Job | None:
        rows = await self.statements.records("get", id=job_id)
        if not rows:
            return None
        job = job_from_row(rows[0], self.clock.time())
        # the flow lives in its own record (flow_jobs), read by the job's id (0013)
        for flow_id, name in await self.statements.tuples("flow_of", id=job_id):
            job.flow_id, job.flow_name = flow_id, name
        return job

    async def failed_groups(self, queue: str, *, budget: int = 0) -> FailedGroups:
        # one GROUP BY over the queue's failed jobs: exact whatever their number
        found = FailedGroups()
        for task, kind, count in await self.statements.tuples("failed_groups", queue=queue):
            key = (task, kind or NO_KIND)
            found.groups[key] = found.groups.get(key, 0) + int(count)
        found.counted = found.total = sum(found.groups.values())
        return found

    async def list_jobs(
        self, queue: str, state: JobState | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        now = self.clock.time()
        query, params = list_query(state)
        rows = await self.statements.records(
            query, **params, queue=queue, limit=limit, offset=offset, now=now,
            span=limit + offset,  # what a dialect without LIMIT arithmetic reads per state
        )  # fmt: skip
        return [job_from_row(row, now) for row in rows]

    async def list_jobs_reversed(
        self, queue: str, state: JobState, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        if not state.finished:
            return await super().list_jobs_reversed(queue, state, limit=limit, offset=offset)
        now = self.clock.time()
        params = {"queue": queue, "state": stored_state(state), "limit": limit, "offset": offset}
        rows = await self.statements.records("list_finished_oldest", **params)
        return [job_from_row(row, now) for row in rows]

    async def list_finished_from(
        self,
        queue: str,
        state: JobState,
        *,
        after: tuple[float, str] | None,
        limit: int,
        reverse: bool = False,
    ) -> list[Job] | None:
        if not state.finished:
            raise ValueError(f"{state.value} is not a finished state")
        now = self.clock.time()
        # from the start: a finish time beyond any (or before any, reversed)
        at, job_id = after if after is not None else (-1.0 if reverse else MAX_EPOCH + 1, "")
        params = {"queue": queue, "state": stored_state(state), "at": at, "id": job_id}
        query = "list_finished_after_oldest" if reverse else "list_finished_after"
        rows = await self.statements.records(query, **params, limit=limit)
        return [job_from_row(row, now) for row in rows]

    async def list_from(
        self,
        queue: str,
        state: JobState,
        *,
        after: Position | None,
        limit: int,
        reverse: bool = False,
    ) -> list[Positioned] | None:
        """Positions: (finish time, id) of a finished job, read from jobs_finished;
        (priority, run_at, id) of a waiting one, from the claim index (pending and
        scheduled) or the unfinished one (blocked, active)."""
        if state.finished:
            mark = check_position(after, ("float", "str"))
            at_id = None if mark is None else (float(mark[0]), str(mark[1]))
            jobs = await self.list_finished_from(
                queue, state, after=at_id, limit=limit, reverse=reverse
            )
            return [((job.finished_at or 0.0, job.id), job) for job in jobs or ()]
        mark = check_position(after, ("int", "float", "str"))
        now = self.clock.time()
        query, params = positioned_query(state, mark, reverse)
        rows = await self.statements.records(query, **params, queue=queue, now=now, limit=limit)
        return [((job.priority, job.run_at, job.id), job) for job in _jobs(rows, now)]

    async def cancel(self, job_id: str) -> bool:
        return await self.statements.change("cancel", id=job_id, now=self.clock.time()) == 1

    async def requeue(self, job_id: str) -> bool:
        try:
            moved = await self.statements.change("requeue", id=job_id, now=self.clock.time())
        except Exception as exc:
            if self.statements.unique_conflict(exc):
                return False  # another unfinished job took its unique key meanwhile
            raise
        if moved == 1:
            self._wake_local()
        return moved == 1

    async def requeue_many(self, job_ids: Sequence[str]) -> list[bool]:
        """requeue() of each id, a slice of ids per statement. An id named twice is
        requeued once (True at its first place only), as requeue() one by one would."""
        distinct = list(dict.fromkeys(job_ids))
        moved: set[str] = set()
        for start in range(0, len(distinct), self.requeue_slice):
            moved |= await self._requeue_slice(distinct[start : start + self.requeue_slice])
        if moved:
            self._wake_local()
        answers, answered = [], set()
        for job_id in job_ids:
            answers.append(job_id in moved and job_id not in answered)
            answered.add(job_id)
        return answers

    async def _requeue_slice(self, ids: list[str]) -> set[str]:
        try:
            return set(await self._requeue_batch(ids, self.clock.time()))
        except Exception as exc:
            if not self.statements.unique_conflict(exc):
                raise
        # two jobs of the slice share a unique key (or another job took one meanwhile):
        # job by job, the first of them goes back and the others keep their state
        return {job_id for job_id in ids if await self.requeue(job_id)}

    @abc.abstractmethod
    async def _requeue_batch(self, ids: Sequence[str], now: float) -> Collection[str]:
        """Requeue ``ids`` (distinct) in one transaction as requeue() would each; the
        ids moved. May raise a unique violation when two of them share a unique key
        (nothing is moved then)."""

    async def remove(self, job_id: str) -> bool:
        return await self.statements.change("remove", id=job_id) == 1

    async def purge(self, queue: str, state: JobState, *, older_than: float | None = None) -> int:
        query, params = purge_query(state)
        params.update(queue=queue, older_than=older_than, now=self.clock.time())
        total = 0
        while True:
            deleted = await self.statements.change(query, **params, limit=self.purge_slice)
            total += deleted
            if self.purge_slice is None or deleted < self.purge_slice:
                return total

    async def pause(self, queue: str) -> None:
        await self.statements.change("set_paused", queue=queue, paused=True)

    async def resume(self, queue: str) -> None:
        await self.statements.change("set_paused", queue=queue, paused=False)
        self._wake_local()

    async def set_progress(self, job_id: str, worker_id: str, progress: float) -> bool:
        params: dict[str, Any] = {
            "id": job_id,
            "worker_id": storable_worker_id(worker_id),
            "progress": check_progress(progress),
        }
        return await self.statements.change("set_progress", **params) == 1

    # -- worker registry ---------------------------------------------------------------

    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        now = self.clock.time()
        worker_id = storable_worker_id(info.worker_id)
        record = {"worker_id": worker_id, "info": worker_record(info, now), "expires_at": now + ttl}
        await self.statements.change_all(
            ("heartbeat", record), ("forget_dead_workers", {"now": now, "worker_id": worker_id})
        )

    async def remove_worker(self, worker_id: str) -> None:
        await self.statements.change("remove_worker", worker_id=storable_worker_id(worker_id))

    async def list_workers(self) -> list[WorkerInfo]:
        rows = await self.statements.tuples("live_workers", now=self.clock.time())
        return worker_infos(row[0] for row in rows)


def _jobs(rows: Sequence[Any], now: float) -> list[Job]:
    return [job_from_row(row, now) for row in rows]
