"""Waiting for work without polling: BLPOP on the queues' wake lists.

Scripts that make a job ready push a token to its queue's wake list (keys.py). An
idle worker blocks in BLPOP on the lists of its queues, so it wakes within a round
trip of an enqueue. Redis times a BLPOP out only to its ``hz`` tick (up to 100 ms
late), too coarse for a delayed job's ``run_at``; so the BLPOP runs in a task of
its own with a long timeout, the caller waits on that task with its own precise
deadline, and a BLPOP still blocked when the caller moves on is kept for its next
wait instead of being cancelled (cancelling would drop the connection). A token
such a BLPOP takes while nobody waits is pushed back for other idle workers.

On Redis Cluster one BLPOP can only name keys of one slot: queues are grouped by
slot and each group has its own BLPOP; the first to return wakes the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from asynctasq.drivers.redis.connection import Client

__all__ = ["Waker"]

log = logging.getLogger("asynctasq.redis")

#: server-side timeout of one BLPOP (below connection.SOCKET_TIMEOUT)
BLOCK_SECONDS = 2.0


class Waker:
    def __init__(self, client: Client) -> None:
        self.client = client
        self._blocked: dict[tuple[str, ...], asyncio.Task[object]] = {}
        self._waiting = 0

    async def wait(
        self, groups: Sequence[tuple[str, ...]], timeout: float, armed: asyncio.Event
    ) -> None:
        """Return when a token arrives on any list of ``groups`` (each a tuple of
        wake keys of one slot), ``armed`` is set, or after ``timeout`` seconds."""
        if timeout <= 0 or armed.is_set():
            return
        tasks: list[asyncio.Future[object]] = []
        for keys in groups:
            task = self._blocked.get(keys)
            if task is None:
                task = asyncio.create_task(self._blpop(keys), name="asynctasq-redis-wake")
                task.add_done_callback(self._forget(keys))
                self._blocked[keys] = task
            tasks.append(task)
        notified: asyncio.Future[object] = asyncio.ensure_future(armed.wait())
        self._waiting += 1
        try:
            await asyncio.wait(
                [*tasks, notified], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            notified.cancel()
            self._waiting -= 1

    async def _blpop(self, keys: tuple[str, ...]) -> object:
        token = await self.client.blpop(list(keys), timeout=BLOCK_SECONDS)
        if token is not None and not self._waiting:
            # taken while this process was busy: hand it back to other idle workers
            await self.client.lpush(token[0], token[1])
        return token

    def _forget(self, keys: tuple[str, ...]) -> Callable[[asyncio.Task[object]], None]:
        def done(task: asyncio.Task[object]) -> None:
            if self._blocked.get(keys) is task:
                del self._blocked[keys]
            if not task.cancelled() and task.exception() is not None:
                log.debug("wake-up wait failed: %r", task.exception())

        return done

    async def close(self) -> None:
        tasks = list(self._blocked.values())
        self._blocked.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
