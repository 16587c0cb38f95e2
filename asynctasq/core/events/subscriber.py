"""Follow the live event stream from outside the workers.

    subscriber = EventSubscriber(redis_url="redis://localhost:6379/0")
    await subscriber.connect()
    async for event in subscriber.listen():
        print(event.event_type, event.task_id, event.error)

``listen()`` reconnects by itself when the connection drops (events published
while it is away are not replayed: Pub/Sub and NOTIFY keep nothing).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable
from types import TracebackType

from asynctasq.config import Config, get_global_config
from asynctasq.core.events.sources import PostgresSource, RedisSource, Source
from asynctasq.core.events.types import EVENT_TYPES, Event
from asynctasq.core.events.wire import decode_message

__all__ = ["EventSubscriber"]

log = logging.getLogger("asynctasq.events")

_MAX_BACKOFF = 5.0


class EventSubscriber:
    """Events from Redis Pub/Sub (``redis_url``) or PostgreSQL NOTIFY
    (``postgres_dsn``); with neither, from the settings (``ASYNCTASQ_EVENTS_REDIS_URL``,
    then ``ASYNCTASQ_EVENTS_POSTGRES_DSN``). ``kinds`` and ``queues`` keep only the
    matching events (a worker event matches a queue it serves)."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        postgres_dsn: str | None = None,
        channel: str | None = None,
        kinds: Iterable[str] | None = None,
        queues: Iterable[str] | None = None,
        reconnect: bool = True,
        config: Config | None = None,
    ) -> None:
        config = config or get_global_config()
        if redis_url is None and postgres_dsn is None:
            redis_url, postgres_dsn = config.events_redis_url, config.events_postgres_dsn
        # the channel the emitters publish on (ASYNCTASQ_EVENTS_CHANNEL), whoever names
        # the stream
        channel = channel or config.events_channel
        if redis_url:
            self.source: Source = RedisSource(redis_url, channel)
        elif postgres_dsn:
            self.source = PostgresSource(postgres_dsn, channel)
        else:
            raise ValueError(
                "no event stream to follow: pass redis_url= or postgres_dsn=, or set "
                "ASYNCTASQ_EVENTS_REDIS_URL or ASYNCTASQ_EVENTS_POSTGRES_DSN"
            )
        self.kinds = _known_kinds(kinds)
        self.queues = frozenset(queues) if queues else None
        self.reconnect = reconnect
        #: messages that were not asynctasq events (skipped)
        self.malformed = 0
        self._connected = False
        self._closed = False
        self._warned_at = 0.0

    async def connect(self) -> None:
        """Subscribe; every event published after this returns is received."""
        if self._connected:
            return
        try:
            await self.source.open()
        except Exception as exc:
            await self.source.close()
            raise ConnectionError(f"cannot follow events on {self.source!r}: {exc}") from exc
        self._connected = True
        self._closed = False

    async def listen(self) -> AsyncIterator[Event]:
        """The matching events as they come, until close() (or the loop ends)."""
        backoff = 0.1
        while not self._closed:
            if not self._connected:
                try:
                    await self.connect()
                except ConnectionError as exc:
                    if not self.reconnect:
                        raise
                    log.warning("%s; retrying in %.1fs", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF)
                    continue
                if backoff > 0.1:
                    log.info("following events on %r again", self.source)
            try:
                data = await self.source.next_message(1.0)
            except Exception as exc:
                if self._closed:
                    return
                await self._lost()
                if not self.reconnect:
                    raise ConnectionError(f"event stream on {self.source!r} lost: {exc}") from exc
                log.warning("event stream on %r lost (%s); reconnecting", self.source, exc)
                continue
            backoff = 0.1
            if data is None:
                continue
            for event in self._decode(data):
                if self.matches(event):
                    yield event

    def matches(self, event: Event) -> bool:
        if self.kinds is not None and event.event_type not in self.kinds:
            return False
        if self.queues is None:
            return True
        if event.queue is not None:
            return event.queue in self.queues
        return bool(event.queues and self.queues.intersection(event.queues))

    def _decode(self, data: bytes | str) -> list[Event]:
        try:
            return decode_message(data)
        except ValueError as exc:
            self.malformed += 1
            now = time.monotonic()
            if now - self._warned_at > 10:
                self._warned_at = now
                log.warning("skipped %d message(s) that are not events: %s", self.malformed, exc)
            return []

    async def _lost(self) -> None:
        self._connected = False
        await self.source.close()

    async def close(self) -> None:
        self._closed = True
        self._connected = False
        await self.source.close()

    async def __aenter__(self) -> EventSubscriber:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"EventSubscriber({self.source!r})"


def _known_kinds(kinds: Iterable[str] | None) -> frozenset[str] | None:
    if not kinds:
        return None
    chosen = frozenset(kinds)
    unknown = sorted(chosen - set(EVENT_TYPES))
    if unknown:
        raise ValueError(
            f"unknown event kind(s) {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}"
        )
    return chosen
