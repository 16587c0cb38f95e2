"""The listening side of each event sink: raw messages in, one connection each."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol

from asynctasq.config import redact_url
from asynctasq.core.events.postgres import connect_postgres
from asynctasq.core.events.redis import connect_redis

__all__ = ["PostgresSource", "RedisSource", "Source"]

#: an idle connection is checked this often, so a silently dead server is noticed
IDLE_CHECK = 10.0
_LOST = object()


class Source(Protocol):
    async def open(self) -> None:
        """Connect and subscribe; when this returns, no later event is missed."""

    async def next_message(self, timeout: float) -> bytes | str | None:
        """The next raw message, None after ``timeout``; raises when the connection
        is lost."""

    async def close(self) -> None: ...


class RedisSource:
    def __init__(self, url: str, channel: str) -> None:
        self.url, self.channel = url, channel
        self._client: Any = None
        self._pubsub: Any = None

    async def open(self) -> None:
        self._client = connect_redis(self.url, health_check_interval=int(IDLE_CHECK))
        self._pubsub = self._client.pubsub()
        await self._pubsub.subscribe(self.channel)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait for the server's confirmation
            message = await self._pubsub.get_message(timeout=1.0)
            if message is not None and message["type"] == "subscribe":
                return
        raise TimeoutError(f"Redis did not confirm SUBSCRIBE {self.channel}")

    async def next_message(self, timeout: float) -> bytes | None:
        message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        if message is None or message["type"] != "message":
            return None
        data: bytes = message["data"]
        return data

    async def close(self) -> None:
        pubsub, client, self._pubsub, self._client = self._pubsub, self._client, None, None
        with contextlib.suppress(Exception):
            if pubsub is not None:
                await pubsub.aclose()
        with contextlib.suppress(Exception):
            if client is not None:
                await client.aclose()

    def __repr__(self) -> str:
        return f"Redis {redact_url(self.url)} channel {self.channel}"


class PostgresSource:
    def __init__(self, dsn: str, channel: str) -> None:
        self.dsn, self.channel = dsn, channel
        self._conn: Any = None
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._checked = 0.0

    async def open(self) -> None:
        # this connection's own inbox: a late "closed" signal of an old connection
        # must not end the new one
        inbox = self._inbox = asyncio.Queue()

        def received(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            inbox.put_nowait(payload)

        self._conn = await connect_postgres(self.dsn, 10.0)
        self._conn.add_termination_listener(lambda _conn: inbox.put_nowait(_LOST))
        await self._conn.add_listener(self.channel, received)  # LISTEN, confirmed
        self._checked = time.monotonic()

    async def next_message(self, timeout: float) -> str | None:
        try:
            item = await asyncio.wait_for(self._inbox.get(), timeout)
        except TimeoutError:
            if time.monotonic() - self._checked >= IDLE_CHECK:
                await self._conn.fetchval("SELECT 1", timeout=IDLE_CHECK)
                self._checked = time.monotonic()
            return None
        if item is _LOST:
            raise ConnectionError("the PostgreSQL connection was closed")
        self._checked = time.monotonic()
        message: str = item
        return message

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2.0)
            if not conn.is_closed():
                conn.terminate()

    def __repr__(self) -> str:
        return f"PostgreSQL {redact_url(self.dsn)} channel {self.channel}"
