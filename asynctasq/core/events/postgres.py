"""Events over PostgreSQL LISTEN/NOTIFY, for users without Redis
(``ASYNCTASQ_EVENTS_POSTGRES_DSN``, channel ``ASYNCTASQ_EVENTS_CHANNEL``).

Each NOTIFY payload is a JSON array of events under 8000 bytes (PostgreSQL's
limit); a batch goes out in one statement. NOTIFY is not stored: like Pub/Sub, a
listener sees the events sent while it listens.
"""

from __future__ import annotations

import contextlib
from importlib import resources
from typing import Any

from asynctasq.config import redact_url
from asynctasq.core.events.buffered import BufferedEmitter
from asynctasq.core.events.types import Event
from asynctasq.core.events.wire import json_messages

__all__ = ["PostgresEventEmitter", "connect_postgres"]

_NOTIFY = resources.files(__package__).joinpath("postgres_notify.sql").read_text("utf-8")


async def connect_postgres(dsn: str, timeout: float) -> Any:
    try:
        import asyncpg
    except ImportError:
        raise ImportError(
            "PostgreSQL events need asyncpg: pip install 'asynctasq[postgres]'"
        ) from None
    return await asyncpg.connect(dsn, timeout=timeout)


class PostgresEventEmitter(BufferedEmitter):
    """NOTIFYs events on a PostgreSQL channel; see BufferedEmitter for the buffering."""

    def __init__(self, dsn: str, *, channel: str = "asynctasq:events", **buffering: Any) -> None:
        super().__init__(**buffering)
        if not dsn.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                f"events PostgreSQL DSN {redact_url(dsn)!r} must start with postgresql://"
            )
        if not channel or len(channel.encode()) > 63:
            raise ValueError("a PostgreSQL channel name has 1 to 63 bytes")
        self.dsn = dsn
        self.channel = channel
        self._conn: Any = None

    async def _open(self) -> None:
        self._conn = await connect_postgres(self.dsn, self.send_timeout)

    async def _send(self, batch: list[Event]) -> None:
        await self._conn.execute(_NOTIFY, self.channel, list(json_messages(batch)))

    async def _close_sink(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close(timeout=1.0)

    def _forget(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # its loop may be closed already
                conn.terminate()

    def __repr__(self) -> str:
        return f"PostgresEventEmitter({redact_url(self.dsn)!r}, channel={self.channel!r})"
