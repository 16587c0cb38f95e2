"""Events to Redis Pub/Sub (``ASYNCTASQ_EVENTS_REDIS_URL``, channel
``ASYNCTASQ_EVENTS_CHANNEL``, default ``asynctasq:events``).

Each PUBLISH carries a msgpack array of events (see ``wire.py``): a batch of a
thousand events costs a few messages, not a thousand commands.
"""

from __future__ import annotations

from typing import Any

from asynctasq.config import redact_url
from asynctasq.core.events.buffered import BufferedEmitter
from asynctasq.core.events.types import Event
from asynctasq.core.events.wire import msgpack_messages

__all__ = ["DEFAULT_CHANNEL", "RedisEventEmitter", "connect_redis"]

DEFAULT_CHANNEL = "asynctasq:events"


def connect_redis(url: str, **options: Any) -> Any:
    """A redis.asyncio client that fails fast: the callers here retry on their own."""
    try:
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError:
        raise ImportError("Redis events need redis-py: pip install 'asynctasq[redis]'") from None
    options.setdefault("socket_connect_timeout", 3.0)
    # one immediate retry lets a pooled connection broken by a Redis restart reconnect
    options.setdefault("retry", Retry(NoBackoff(), 1))
    return redis.from_url(url, **options)


class RedisEventEmitter(BufferedEmitter):
    """Publishes events on a Redis channel; see BufferedEmitter for the buffering."""

    def __init__(self, url: str, *, channel: str = DEFAULT_CHANNEL, **buffering: Any) -> None:
        super().__init__(**buffering)
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"events Redis URL {redact_url(url)!r} must start with redis://, rediss:// "
                "or unix://"
            )
        self.url = url
        self.channel = channel
        self._client: Any = None

    async def _open(self) -> None:
        self._client = connect_redis(self.url, socket_timeout=self.send_timeout)
        await self._client.ping()

    async def _send(self, batch: list[Event]) -> None:
        messages = list(msgpack_messages(batch))
        if len(messages) == 1:
            await self._client.publish(self.channel, messages[0])
            return
        pipe = self._client.pipeline(transaction=False)
        for message in messages:
            pipe.publish(self.channel, message)
        await pipe.execute()

    async def _close_sink(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _forget(self) -> None:
        self._client = None

    def __repr__(self) -> str:
        return f"RedisEventEmitter({redact_url(self.url)!r}, channel={self.channel!r})"
