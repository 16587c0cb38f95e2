"""Live updates: one event subscription per dashboard process, fanned out to every
open page by Server-Sent Events. With no event stream configured the pages refresh
themselves every few seconds instead."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from asynctasq.config import Config
from asynctasq.core.events import Event
from asynctasq.dashboard.chart import Throughput
from asynctasq.operations.rates import EventRates

__all__ = ["POLL_SECONDS", "EventHub"]

log = logging.getLogger("asynctasq.dashboard")

#: how often a page refreshes itself when there are no events to follow
POLL_SECONDS = 5
#: events a slow browser may fall behind by before it misses some (it then reloads)
BACKLOG = 256
#: a comment line every so often keeps proxies from closing an idle stream
KEEPALIVE_SECONDS = 15.0


class EventHub:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.enabled = bool(config.events_redis_url or config.events_postgres_dsn)
        self.rates = EventRates(window=300.0)
        self.throughput = Throughput()
        self._listeners: set[asyncio.Queue[Event]] = set()
        self._task: asyncio.Task[None] | None = None

    def _ensure_started(self) -> None:
        # started by the first page that listens: a mounted app gets no lifespan call
        if self.enabled and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._follow())

    async def _follow(self) -> None:
        from asynctasq.core.events.subscriber import EventSubscriber  # needs redis or asyncpg

        subscriber = EventSubscriber(config=self.config)
        try:
            async for event in subscriber.listen():
                self.rates.add(event.event_type, event.queue, event.at)
                self.throughput.add(event.event_type, event.queue, event.at)
                for queue in list(self._listeners):
                    with contextlib.suppress(asyncio.QueueFull):
                        queue.put_nowait(event)
        finally:
            await subscriber.close()

    async def stream(self) -> AsyncIterator[str]:
        """The SSE text for one browser: each event as a message, or, with events
        off, one ``polling`` message telling the page to refresh on a timer."""
        if not self.enabled:
            yield f"event: polling\ndata: {POLL_SECONDS}\n\n"
            return
        self._ensure_started()
        mine: asyncio.Queue[Event] = asyncio.Queue(BACKLOG)
        self._listeners.add(mine)
        try:
            yield ": connected\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(mine.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                data = {"type": event.event_type, "queue": event.queue, "job": event.task_id}
                yield f"data: {json.dumps(data)}\n\n"
        finally:
            self._listeners.discard(mine)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
