"""Wake-ups: one dedicated connection LISTENs on the channels of the queues this
process reserves from.

Enqueues, retries, releases, recoveries, requeues and resumes NOTIFY their queue's
channel in the same statement (so a job enqueued inside a caller's transaction
wakes workers only when that transaction commits). When the connection drops, the
listener reconnects with backoff, LISTENs again and wakes every waiter, since
notifications sent meanwhile are lost; reserve() also polls on a timer, which bounds
latency whatever happens to notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

__all__ = ["Listener"]

log = logging.getLogger("asynctasq.drivers.postgres")

Connect = Callable[[], Awaitable[Any]]


class Listener:
    def __init__(self, connect: Connect, on_wake: Callable[[], None]) -> None:
        self._connect = connect
        self._on_wake = on_wake
        self._con: Any = None
        self._channels: set[str] = set()
        self._lock = asyncio.Lock()
        self._reconnecting: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def healthy(self) -> bool:
        """Connected and listening: notifications arrive as they are sent."""
        return self._con is not None and not self._con.is_closed()

    def covers(self, channels: Iterable[str]) -> bool:
        """Whether subscribe(channels) has nothing to do: each is listened on already
        (or will be, once the connection is back)."""
        return self._channels.issuperset(channels) and (
            self.healthy or self._reconnecting is not None
        )

    async def subscribe(self, channels: Iterable[str]) -> None:
        """LISTEN on ``channels`` too. Never raises: without a connection the listener
        keeps reconnecting in the background and reserve() polls meanwhile."""
        channels = set(channels)
        if self.covers(channels):
            return
        new = channels - self._channels
        async with self._lock:
            self._channels |= new
            if self._closed or self._reconnecting is not None:
                return
            try:
                if not self.healthy:
                    await self._open()
                else:
                    for channel in new:
                        await self._con.add_listener(channel, self._notified)
            except Exception as exc:
                log.warning(
                    "cannot LISTEN for new jobs (%s: %s); polling until reconnected",
                    type(exc).__name__,
                    exc,
                )
                await self._drop()
                self._start_reconnecting()

    async def _open(self) -> None:
        con = await self._connect()
        try:
            for channel in self._channels:
                await con.add_listener(channel, self._notified)
        except BaseException:
            with contextlib.suppress(Exception):
                await con.close(timeout=1)
            raise
        con.add_termination_listener(self._lost)
        self._con = con

    def _notified(self, con: Any, pid: int, channel: str, payload: str) -> None:
        self._on_wake()

    def _lost(self, con: Any) -> None:
        if self._closed or con is not self._con:
            return
        log.warning("the LISTEN connection was lost; reconnecting (polling meanwhile)")
        self._con = None
        self._start_reconnecting()

    def _start_reconnecting(self) -> None:
        if self._reconnecting is None and not self._closed:
            self._reconnecting = asyncio.get_running_loop().create_task(
                self._reconnect(), name="asynctasq-postgres-listen"
            )

    async def _reconnect(self) -> None:
        delay = 0.05
        try:
            while not self._closed:
                await asyncio.sleep(delay)
                try:
                    async with self._lock:
                        await self._open()
                except Exception as exc:
                    delay = min(delay * 2, 5.0)
                    log.debug("LISTEN reconnect failed (%s); next try in %.2fs", exc, delay)
                    continue
                log.info("LISTEN connection restored")
                self._on_wake()  # whatever was notified while down is lost: look now
                return
        finally:
            self._reconnecting = None

    async def _drop(self) -> None:
        con, self._con = self._con, None
        if con is not None:
            with contextlib.suppress(Exception):
                await con.close(timeout=1)

    async def close(self) -> None:
        self._closed = True
        task = self._reconnecting
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await self._drop()
