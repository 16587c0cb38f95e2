"""Claiming jobs across queues, on one Redis or across Redis Cluster slots.

A script can only touch keys of one slot, and each queue has its own slot (its
hash tag). So queues are grouped by slot (on a single Redis every queue is in one
group):

* one group: one call of reserve.lua merges the queues by priority and claims, in
  one atomic step;
* several groups (Cluster, queues in different slots): two phases. peek.lua (one
  call per group, pipelined) moves due jobs to ready and reports the heads of the
  ready sets; the heads of all groups are merged here by (priority, run_at) and the
  best ``limit`` decide how many jobs to take from each queue; then reserve.lua
  claims that many from each group. Another worker may claim some of the chosen
  jobs between the phases: the call then returns fewer jobs, never a wrong one,
  and cross-slot priority is exact whenever one worker is alone on the queues.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.crc import key_slot

from asynctasq.drivers.keys import RedisKeys
from asynctasq.drivers.redis.records import CORRUPT, read_job
from asynctasq.drivers.redis.scripts import Arg, Call, ScriptRunner
from asynctasq.jobs import Failed, Job

__all__ = ["Claim", "Claimer", "decode_claim"]

log = logging.getLogger("asynctasq.redis")

#: most due scheduled jobs one call moves to ready, per queue
PROMOTE_MAX = 1000


@dataclass(slots=True)
class Claim:
    """What one claim got: the jobs, (when none) the earliest run_at of a scheduled
    job, and outcomes that dead-letter the claimed jobs whose record only Python
    could tell was corrupt (its data part); the caller settles those."""

    jobs: list[Job] = field(default_factory=list)
    due: float | None = None
    corrupt: list[Failed] = field(default_factory=list)

    def merge(self, other: Claim) -> None:
        self.jobs += other.jobs
        self.corrupt += other.corrupt
        if other.due is not None:
            self.due = _earliest(self.due, other.due)


class Claimer:
    def __init__(self, scripts: ScriptRunner, keys: RedisKeys, *, cluster: bool) -> None:
        self.scripts = scripts
        self.keys = keys
        self.cluster = cluster
        self._groups: dict[tuple[str, ...], list[list[str]]] = {}

    def groups(self, queues: Sequence[str]) -> list[list[str]]:
        """``queues`` (deduplicated, in order) split by Cluster slot."""
        key = tuple(queues)
        found = self._groups.get(key)
        if found is None:
            unique = list(dict.fromkeys(queues))
            if not self.cluster:
                found = [unique]
            else:
                by_slot: dict[int, list[str]] = {}
                for queue in unique:
                    slot = key_slot(self.keys.queue(queue)[0].encode())
                    by_slot.setdefault(slot, []).append(queue)
                found = list(by_slot.values())
            if len(self._groups) > 1000:
                self._groups.clear()
            self._groups[key] = found
        return found

    def wake_groups(self, queues: Sequence[str]) -> list[tuple[str, ...]]:
        return [tuple(self.keys.wake(q) for q in group) for group in self.groups(queues)]

    async def claim(
        self,
        queues: Sequence[str],
        *,
        limit: int,
        worker_id: str,
        lease_seconds: float,
        now: float,
    ) -> Claim:
        groups = self.groups(queues)
        if len(groups) == 1:
            caps = [dict.fromkeys(groups[0], limit)]
        else:
            caps, next_due = await self._plan(groups, limit, now)
            if not any(any(c.values()) for c in caps):
                return Claim(due=next_due)
        calls = [
            (group, self.reserve_call(group, cap, limit, worker_id, lease_seconds, repr(now)))
            for group, cap in zip(groups, caps, strict=True)
            if any(cap.values())
        ]
        replies = await self.scripts.run_many([call for _, call in calls])
        claim = Claim()
        for (group, _), reply in zip(calls, replies, strict=True):
            claim.merge(decode_claim(group, reply, worker_id))
        if len(calls) > 1:
            claim.jobs.sort(key=lambda j: (j.priority, j.run_at, j.id))
        if claim.jobs or claim.corrupt:
            claim.due = None
        return claim

    def reserve_call(
        self,
        group: Sequence[str],
        caps: dict[str, int],
        limit: int,
        worker_id: str,
        lease_seconds: float,
        now: str,
    ) -> Call:
        """A reserve.lua call on one slot's queues (``now``: the client's epoch time)."""
        keys = [k for q in group for k in self.keys.queue(q)]
        args: list[Arg] = [now, limit, worker_id, repr(float(lease_seconds)), PROMOTE_MAX]
        return Call("reserve", keys, [*args, *(caps[q] for q in group)])

    async def _plan(
        self, groups: list[list[str]], limit: int, now: float
    ) -> tuple[list[dict[str, int]], float | None]:
        """Phase one on Cluster: how many jobs to take from each queue."""
        calls = [
            Call(
                "peek",
                [k for q in group for k in self.keys.queue(q)],
                [repr(now), limit, PROMOTE_MAX],
            )
            for group in groups
        ]
        heads: list[tuple[float, bytes, str]] = []
        next_due: float | None = None
        for group, reply in zip(groups, await self.scripts.run_many(calls), strict=True):
            heads.extend(_heads(group, reply))
            for due in _dues(reply):
                next_due = _earliest(next_due, due)
        heads.sort()
        caps = [dict.fromkeys(group, 0) for group in groups]
        where = {q: i for i, group in enumerate(groups) for q in group}
        for _, _, queue in heads[:limit]:
            caps[where[queue]][queue] += 1
        return caps, next_due


def decode_claim(group: Sequence[str], reply: list[Any], worker_id: str) -> Claim:
    """reserve.lua's reply: the claimed jobs (in claim order) and the next due time.

    reserve.lua dead-letters records whose meta is corrupt; a record whose data
    part is corrupt is claimed all the same (only Python reads it), and comes back
    here as a Failed outcome naming the fault, fenced like any other."""
    lease_until = float(reply[1])
    claim = Claim(due=float(reply[0]) if reply[0] else None)
    for i in range(2, len(reply), 4):
        queue_index, job_id, record, error = reply[i : i + 4]
        read = read_job(group[queue_index - 1], job_id, record, error)
        job = read.job
        if read.fault is None:
            job.lease_until = lease_until
            claim.jobs.append(job)
        elif read.fenced and job.worker_id == worker_id:
            log.error("job %s has a corrupt record (%s): dead-lettered", job.id, read.fault)
            claim.corrupt.append(
                Failed(job.id, worker_id, job.attempts, queue=job.queue, error=CORRUPT + read.fault)
            )
        else:  # (reserve.lua checked the meta: never seen) its lease lapses, then recover
            log.error("job %s has a corrupt record (%s): left to its lease", job.id, read.fault)
    return claim


def _heads(group: list[str], reply: list[Any]) -> list[tuple[float, bytes, str]]:
    heads = []
    i = 0
    while i < len(reply):
        index, count = reply[i], reply[i + 2]
        queue = group[index - 1]
        for j in range(count):
            priority, run_key = reply[i + 3 + 2 * j], reply[i + 4 + 2 * j]
            heads.append((float(priority), run_key, queue))
        i += 3 + 2 * count
    return heads


def _dues(reply: list[Any]) -> list[float]:
    dues = []
    i = 0
    while i < len(reply):
        if reply[i + 1]:
            dues.append(float(reply[i + 1]))
        i += 3 + 2 * reply[i + 2]
    return dues


def _earliest(current: float | None, candidate: float) -> float:
    return candidate if current is None or candidate < current else current
