"""Results on Redis (capability Results).

A completed job's result is written by settle.lua with its completion: beside the
kept record (``results`` hash), or, when completed jobs are not kept, in the same
hash beside its id in ``done`` (forgotten together after the result retention). A
settle that ends jobs publishes on the ``finished`` channel (keys.py), which wakes
result waiters; the paths that publish nothing (cancel, lease recovery, expiry at
claim) are seen by the waiters' look every couple of seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import msgpack

from asynctasq.drivers.capabilities import Flows, Results
from asynctasq.drivers.keys import QUEUE_KEYS
from asynctasq.drivers.overviews import FlowRecord
from asynctasq.drivers.redis.admin import decode_rows
from asynctasq.drivers.redis.base import CHUNK, RedisBase
from asynctasq.drivers.redis.scripts import Call
from asynctasq.drivers.results import FinishNotices, PollingNotices, StoredOutcome
from asynctasq.jobs import JobState

__all__ = ["RedisFlows", "RedisResults"]

log = logging.getLogger("asynctasq.redis")

_FLOWS, _FLOWS_AGE = QUEUE_KEYS.index("flows"), QUEUE_KEYS.index("flows_age")
#: flows read beyond a page from each queue, for those added at the very time of the
#: page's last one (list_flows)
_TIES = 16

#: a waiter looks again at least this often (the ends that publish nothing)
_SAFETY_POLL = 2.0


class RedisResults(RedisBase, Results):
    async def job_outcomes(self, job_ids: Sequence[str]) -> dict[str, StoredOutcome]:
        """Two round trips whatever the number of ids: the known queues, then
        outcomes.lua on each (pipelined), which reads the jobs it stores and the
        completions it remembers only by their result."""
        ids = list(dict.fromkeys(job_ids))
        queues = await self._locator.known_queues() if ids else []
        now = self.clock.time()
        calls = [
            (queue, Call("outcomes", self.keys.queue(queue), (repr(now), *ids[i : i + CHUNK])))
            for queue in queues
            for i in range(0, len(ids), CHUNK)
        ]
        found: dict[str, StoredOutcome] = {}
        for (queue, _), (rows, remembered) in zip(
            calls, await self._run_many([call for _, call in calls]), strict=True
        ):
            for job in decode_rows(queue, rows, now):
                found[job.id] = StoredOutcome(job.id, job.state, job.result, job.error)
            for i in range(0, len(remembered), 2):
                job_id = remembered[i].decode()
                if job_id not in found:
                    found[job_id] = StoredOutcome(job_id, JobState.COMPLETED, remembered[i + 1])
        return found

    def finish_notices(self) -> AbstractAsyncContextManager[FinishNotices]:
        return self._subscribed()

    @asynccontextmanager
    async def _subscribed(self) -> AsyncIterator[FinishNotices]:
        try:
            pubsub: Any = self.client.pubsub()
            await pubsub.subscribe(self.keys.finished)
        except Exception as exc:  # (a client without pub/sub): look from time to time
            log.debug("result waiter polls: cannot subscribe (%r)", exc)
            yield PollingNotices()
            return
        try:
            yield _PubSubNotices(pubsub)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe()
                await pubsub.aclose()


class _PubSubNotices:
    """Subscribed before the first look, so no message between a look and the wait
    is lost (arm() has nothing to do)."""

    def __init__(self, pubsub: Any) -> None:
        self.pubsub = pubsub

    def arm(self) -> None:
        pass

    async def wait(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(max(timeout, 0.0), _SAFETY_POLL)
        while (left := deadline - loop.time()) > 0:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
            if message is not None:
                return


class RedisFlows(RedisBase, Flows):
    async def flow_job_ids(self, flow_id: str) -> list[tuple[str, str | None]]:
        queues = await self._locator.known_queues()
        if not queues:
            return []
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            pipe.hget(self.keys.queue(queue)[_FLOWS], flow_id)
        for record in await pipe.execute():
            if record is not None:
                return _members(record)
        return []

    async def list_flows(
        self, *, limit: int, before: tuple[float, str] | None = None
    ) -> list[FlowRecord]:
        """Each queue's ``flows_age`` read newest first from ``before`` (one pipeline),
        merged. A zset orders equal times by member, descending when read in reverse
        as here, so the read goes from the time of ``before`` inclusive, skips what is
        not after it, and asks for as many more as there are flows at that very time
        (``_TIES``, a bound: flows added in one microsecond)."""
        queues = await self._locator.known_queues()
        if not queues or limit <= 0:
            return []
        top = "+inf" if before is None else repr(before[0])
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            pipe.zrevrangebyscore(
                self.keys.queue(queue)[_FLOWS_AGE], top, "-inf", start=0,
                num=limit + _TIES, withscores=True,
            )  # fmt: skip
        heads: list[tuple[float, str, str]] = []
        for queue, found in zip(queues, await pipe.execute(), strict=True):
            for member, score in found:
                key = (float(score), member.decode() if isinstance(member, bytes) else member)
                if before is None or key < before:
                    heads.append((*key, queue))
        heads.sort(reverse=True)
        heads = heads[:limit]
        if not heads:
            return []
        pipe = self.client.pipeline(transaction=False)
        for _, flow_id, queue in heads:
            pipe.hget(self.keys.queue(queue)[_FLOWS], flow_id)
        return [
            FlowRecord(flow_id, at, tuple(_members(record)))
            for (at, flow_id, _), record in zip(heads, await pipe.execute(), strict=True)
            if record is not None  # (forgotten between the two reads)
        ]


def _members(record: bytes) -> list[tuple[str, str | None]]:
    ids, names = msgpack.unpackb(record, raw=False)
    return [(i, n or None) for i, n in zip(ids, names, strict=True)]
