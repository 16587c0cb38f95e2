"""The Redis driver's operator side (capabilities Inspection, Management, Removal,
Pausing, ProgressStore): stats, listing, cancel, requeue, remove, purge, pause,
progress. Every change is one script (lua/)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asynctasq.drivers.keys import QUEUE_KEYS
from asynctasq.drivers.positions import Position, Positioned, check_position
from asynctasq.drivers.redis.base import CHUNK, RedisBase
from asynctasq.drivers.redis.records import read_job
from asynctasq.drivers.redis.scripts import Arg, Call
from asynctasq.jobs import Job, JobState, QueueStats, validate_name

__all__ = ["RedisAdmin", "decode_rows"]

#: jobs purged per script call
PURGE_WINDOW = 2000

_PURGEABLE = ("pending", "scheduled", "completed", "failed", "cancelled")
_FINISHED_SETS = ("completed", "failed", "cancelled")


class RedisAdmin(RedisBase):
    async def stats(self, queue: str) -> QueueStats:
        depth, processing, scheduled, completed, failed, cancelled, paused = await self._run(
            "stats", queue, repr(self.clock.time())
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

    async def count_finished_since(
        self, queue: str, state: JobState, since: float, *, cap: int
    ) -> int:
        """ZCOUNT of the state's set (scored by finish time): exact, O(log n)."""
        if not state.finished:
            raise ValueError(f"{state.value} is not a finished state")
        if state.value not in _FINISHED_SETS:
            return 0  # nothing is stored in this state
        key = self.keys.queue(queue)[QUEUE_KEYS.index(state.value)]
        return min(cap, int(await self.client.zcount(key, repr(float(since)), "+inf")))

    async def queues(self) -> list[str]:
        self.client  # noqa: B018 (raises when not connected)
        return await self._locator.known_queues()

    async def get(self, job_id: str) -> Job | None:
        self.client  # noqa: B018
        queue = await self._locator.find_one(job_id)
        if queue is None:
            return None
        self._locator.remember(job_id, queue)  # a job read once is often read again (polls)
        now = self.clock.time()
        jobs = decode_rows(queue, await self._run("get", queue, repr(now), job_id), now)
        return jobs[0] if jobs else None

    async def list_jobs(
        self, queue: str, state: JobState | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        if state is JobState.EXPIRED or limit <= 0:
            return []  # nothing is stored in these states (yet)
        now = self.clock.time()
        name = "" if state is None else state.value
        jobs: list[Job] = []
        offset = max(offset, 0)
        while len(jobs) < limit:
            size = min(limit - len(jobs), CHUNK)
            rows = await self._run("list", queue, name, repr(now), offset, size)
            page = decode_rows(queue, rows, now)
            jobs += page
            if len(page) < size:
                break
            offset += size
        return jobs

    async def list_from(
        self,
        queue: str,
        state: JobState,
        *,
        after: Position | None,
        limit: int,
        reverse: bool = False,
    ) -> list[Positioned] | None:
        """Positions: the (score, member) of the job's entry in its state's sorted set
        (blocked jobs: 0 and the id), found by rank (lua/list_from.lua)."""
        mark = check_position(after, ("float", "str"))
        if state is JobState.EXPIRED or limit <= 0:
            return []  # nothing is stored in this state (yet)
        found: list[Positioned] = []
        while len(found) < limit:  # CHUNK jobs per script call at most (unpack's limit)
            size = min(limit - len(found), CHUNK)
            page = await self._list_from(queue, state, mark, size, reverse)
            found += page
            if len(page) < size:
                break
            mark = page[-1][0]
        return found

    async def _list_from(
        self, queue: str, state: JobState, mark: Position | None, size: int, reverse: bool
    ) -> list[Positioned]:
        score, member = ("", "") if mark is None else (repr(mark[0]), str(mark[1]))
        now = self.clock.time()
        backwards = "1" if reverse else "0"
        marks, rows = await self._run(
            "list_from", queue, state.value, repr(now), backwards, score, member, size
        )
        jobs = decode_rows(queue, rows, now)
        return [
            ((float(_text(marks[2 * i])), _text(marks[2 * i + 1])), job)
            for i, job in enumerate(jobs)
        ]

    async def cancel(self, job_id: str) -> bool:
        now = repr(self.clock.time())
        return await self._by_id("cancel", job_id, now, job_id, *self._bounds()[1:])

    async def cancel_running(self, job_id: str) -> bool:
        """An active job (capability RunningCancellation): cancel_running.lua."""
        now = repr(self.clock.time())
        return await self._by_id("cancel_running", job_id, now, job_id, *self._bounds()[1:])

    async def requeue(self, job_id: str) -> bool:
        return await self._by_id("requeue", job_id, repr(self.clock.time()), job_id)

    async def requeue_many(self, job_ids: Sequence[str]) -> list[bool]:
        """The requeue script of every id in one pipelined round trip (after one to
        find their queues)."""
        self.client  # noqa: B018
        where = await self._locator.find(job_ids)
        now = repr(self.clock.time())
        # an id named twice is requeued (and answered True) once: the first time
        known = [job_id for job_id in dict.fromkeys(job_ids) if job_id in where]
        calls = [Call("requeue", self.keys.queue(where[i]), [now, i]) for i in known]
        done = dict(zip(known, await self._run_many(calls), strict=True))
        answers = []
        for job_id in job_ids:
            answers.append(bool(done.pop(job_id, False)))
        return answers

    async def remove(self, job_id: str) -> bool:
        removed = await self._by_id("remove", job_id, repr(self.clock.time()), job_id)
        self._locator.forget([job_id])
        return removed

    async def set_progress(self, job_id: str, worker_id: str, progress: float) -> bool:
        now = repr(self.clock.time())
        return await self._by_id("progress", job_id, job_id, worker_id, repr(float(progress)), now)

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
            gone, scanned, buried = await self._run(
                "purge", queue, state.value, repr(self.clock.time()), bound, PURGE_WINDOW, offset
            )
            deleted += int(gone)
            if scanned < PURGE_WINDOW:
                return deleted
            if state in (JobState.PENDING, JobState.SCHEDULED):
                offset += scanned - gone - buried  # jobs kept by older_than stay in the window

    async def pause(self, queue: str) -> None:
        await self._set_paused(queue, True)

    async def resume(self, queue: str) -> None:
        await self._set_paused(queue, False)

    async def _set_paused(self, queue: str, paused: bool) -> None:
        call = Call("pause", self.keys.queue(queue), ["1" if paused else "0"])
        await self._run_many([call], register=[queue])


def decode_rows(queue: str, rows: list[Any], now: float) -> list[Job]:
    """Jobs from fetch() in lua/_prelude.lua: [id, record, error, result, lease] each;
    a record Python cannot read gives a stand-in job whose error names the fault."""
    return [
        read_job(queue, *rows[i : i + 5], now=now).job  # type: ignore[misc]
        for i in range(0, len(rows), 5)
    ]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
