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
from asynctasq.drivers.redis.admin import decode_rows
from asynctasq.drivers.redis.base import CHUNK, RedisBase
from asynctasq.drivers.redis.scripts import Call
from asynctasq.drivers.results import FinishNotices, PollingNotices, StoredOutcome
from asynctasq.jobs import JobState

__all__ = ["RedisFlows", "RedisResults"]

log = logging.getLogger("asynctasq.redis")

_FLOWS = QUEUE_KEYS.index("flows")

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
                ids, names = msgpack.unpackb(record, raw=False)
                return [(i, n or None) for i, n in zip(ids, names, strict=True)]
        return []
