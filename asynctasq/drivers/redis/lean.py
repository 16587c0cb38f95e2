"""One lean connection for single script calls: a dispatch from a web handler.

redis-py's asyncio client costs a single call about 60 µs of Python (a pooled
connection taken and given back, two timeouts armed and cancelled, four or five
event-loop turns). A producer that sends one job per request pays that per job, and
a synchronous client (Huey's) is faster per call. This connection is an asyncio
protocol with hiredis's parser: a call writes its packed command and awaits a
future that the reply resolves in ``data_received``, one loop turn per call.
Concurrent calls pipeline on it (replies come back in order). An idle worker's
blocking wait has one of its own (blocking.py: ``pipeline()`` sends its BLPOP and the
claim behind it in one write).

It is used only where it can hold every guarantee of the pooled client: a plain TCP
or unix-socket standalone server with hiredis installed (not Cluster, not TLS).
A connection lost with calls in flight fails those calls with redis-py's
``ConnectionError``, so the caller's fallback (redis-py with its retries) runs as
before; the next call connects again. A reply slower than the client's socket
timeout closes the connection the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

from redis._parsers.base import BaseParser
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

try:
    import hiredis

    HIREDIS = True
except ImportError:  # pragma: no cover - redis[hiredis] is the documented extra
    HIREDIS = False

__all__ = ["LeanConnection", "lean_connection_for"]

Arg = str | bytes | int | float


def _error(message: str) -> ResponseError:
    """The exception redis-py raises for this error reply (OutOfMemoryError for OOM,
    NoScriptError, ReadOnlyError...): callers tell a full server from a bad call."""
    try:
        found = BaseParser.parse_error(message)  # type: ignore[no-untyped-call]
    except Exception:  # pragma: no cover - a redis-py without the mapping
        found = NoScriptError(message) if message.startswith("NOSCRIPT") else None
    return found if isinstance(found, ResponseError) else ResponseError(message)


class _Protocol(asyncio.Protocol):
    """Replies resolve the oldest waiting call (RESP replies come back in order)."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses: no isinstance)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while self.waiting:
            reply = self.reader.gets()
            if reply is False:
                return
            future, _ = self.waiting.popleft()
            if future.done():  # its caller was cancelled: the reply is dropped
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(_error(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def fail(self, error: Exception) -> None:
        self.lost = True
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.abort()


class LeanConnection:
    """Connected on first use; ``call()`` raises redis-py's exceptions."""

    def __init__(
        self,
        *,
        host: str | None = None,
        port: int = 6379,
        path: str | None = None,
        handshake: Sequence[Sequence[Arg]] = (),
        timeout: float = 10.0,
    ) -> None:
        self._host, self._port, self._path = host, port, path
        self._handshake = [tuple(command) for command in handshake]
        self._timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def call(self, *command: Arg) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.lost or self._loop is not asyncio.get_running_loop():
            protocol = await self._connect()
        return await self._send(protocol, command)

    async def pipeline(self, *commands: Sequence[Arg]) -> list[asyncio.Future[Any]]:
        """Send ``commands`` in one write; a future for each reply, in order (a
        blocked command holds the replies behind it: one caller at a time then)."""
        protocol = self._protocol
        if protocol is None or protocol.lost or self._loop is not asyncio.get_running_loop():
            protocol = await self._connect()
        assert protocol.transport is not None
        loop, sent = asyncio.get_running_loop(), time.monotonic()
        futures: list[asyncio.Future[Any]] = []
        for _ in commands:
            futures.append(loop.create_future())
            protocol.waiting.append((futures[-1], sent))
        packed = b"".join(hiredis.pack_command(tuple(c)) for c in commands)  # type: ignore[arg-type]
        protocol.transport.write(packed)
        return futures

    def abort(self) -> None:
        """Drop the connection with whatever is pending on it (a command sent there
        but not yet run never runs); the next call connects again."""
        if self._protocol is not None and not self._protocol.lost:
            self._protocol.fail(RedisConnectionError("connection to Redis dropped"))

    def _send(self, protocol: _Protocol, command: Sequence[Arg]) -> asyncio.Future[Any]:
        assert protocol.transport is not None
        future = asyncio.get_running_loop().create_future()
        protocol.waiting.append((future, time.monotonic()))
        protocol.transport.write(hiredis.pack_command(tuple(command)))  # type: ignore[arg-type]
        return future

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new event loop (asyncio.run again)
            self._loop, self._connecting, self._protocol, self._watchdog = loop, None, None, None
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is not None and not self._protocol.lost:
                return self._protocol
            try:
                async with asyncio.timeout(self._timeout):
                    if self._path is not None:
                        _, protocol = await loop.create_unix_connection(_Protocol, self._path)
                    else:
                        _, protocol = await loop.create_connection(
                            _Protocol, self._host or "localhost", self._port
                        )
                    replies = [self._send(protocol, command) for command in self._handshake]
                    try:
                        await asyncio.gather(*replies)
                    except BaseException:  # refused credentials: the caller sees why
                        protocol.fail(RedisConnectionError("handshake refused"))
                        raise
            except (OSError, TimeoutError) as exc:
                raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
            self._protocol = protocol
            self._arm_watchdog()
            return protocol

    def _arm_watchdog(self) -> None:
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().call_later(self._timeout / 4, self._check)

    def _check(self) -> None:
        """A call unanswered for the socket timeout means a dead server: fail it."""
        self._watchdog = None
        protocol = self._protocol
        if protocol is None or protocol.lost:
            return
        if protocol.waiting and time.monotonic() - protocol.waiting[0][1] > self._timeout:
            protocol.fail(RedisTimeoutError("Redis did not answer within the socket timeout"))
            return
        self._arm_watchdog()

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
            with contextlib.suppress(Exception):
                await asyncio.sleep(0)  # let the transport finish closing


def lean_connection_for(client: Any) -> LeanConnection | None:
    """A lean connection with the client's server, credentials and database, or None
    where it could not keep a guarantee of the client (Cluster, TLS, no hiredis, a
    credential provider)."""
    if not HIREDIS or not isinstance(client, Redis):
        return None
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    if pool.connection_class not in (Connection, UnixDomainSocketConnection):
        return None  # TLS (SSLConnection) or a custom class
    if kwargs.get("credential_provider") is not None:
        return None
    handshake: list[tuple[Arg, ...]] = []
    password = kwargs.get("password")
    if password:
        username = kwargs.get("username")
        handshake.append(("AUTH", username, password) if username else ("AUTH", password))
    if int(kwargs.get("db") or 0):
        handshake.append(("SELECT", int(kwargs["db"])))
    if kwargs.get("client_name"):
        handshake.append(("CLIENT", "SETNAME", kwargs["client_name"]))
    timeout = float(kwargs.get("socket_timeout") or 10.0)
    if pool.connection_class is UnixDomainSocketConnection:
        return LeanConnection(path=kwargs["path"], handshake=handshake, timeout=timeout)
    return LeanConnection(
        host=kwargs.get("host", "localhost"),
        port=int(kwargs.get("port", 6379)),
        handshake=handshake,
        timeout=timeout,
    )
