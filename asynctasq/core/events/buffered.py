"""Fire-and-forget delivery to an outside sink (Redis, PostgreSQL).

``emit`` appends to a bounded buffer and returns: it never waits for the network.
One background task per emitter sends what accumulated, in batches, over one
connection. When the sink is slow or down the buffer fills, the oldest events are
dropped (counted in ``dropped`` and logged at most every ten seconds), and the
sender reconnects with backoff; job processing never waits for any of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

from asynctasq.core.events.emitters import EventEmitter
from asynctasq.core.events.types import Event
from asynctasq.redaction import redact

__all__ = ["BufferedEmitter"]

log = logging.getLogger("asynctasq.events")

_WARN_EVERY = 10.0
_MAX_BACKOFF = 5.0


class BufferedEmitter(EventEmitter):
    """Subclasses implement ``_open``, ``_send(batch)``, ``_close_sink`` and
    ``_forget`` (drop a connection of a closed event loop without awaiting)."""

    def __init__(
        self,
        *,
        max_buffer: int = 10_000,
        batch_size: int = 1_000,
        linger: float = 0.02,
        send_timeout: float = 5.0,
        close_timeout: float = 5.0,
    ) -> None:
        if max_buffer < 1 or batch_size < 1:
            raise ValueError("max_buffer and batch_size must be at least 1")
        self.max_buffer = max_buffer
        self.batch_size = batch_size
        #: how long the sender lets events gather before a send: fewer, larger batches
        self.linger = linger
        self.send_timeout = send_timeout
        self.close_timeout = close_timeout
        #: events handed to the sink
        self.sent = 0
        self._dropped = 0
        self._buffer: deque[Event] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._idle = True  # no sender yet: the first emit starts one
        self._connected = False
        self._failures = 0
        self._closed = False
        self._warned_at = -_WARN_EVERY

    # -- the sink, per subclass ----------------------------------------------------

    async def _open(self) -> None:
        raise NotImplementedError

    async def _send(self, batch: list[Event]) -> None:
        raise NotImplementedError

    async def _close_sink(self) -> None:
        raise NotImplementedError

    def _forget(self) -> None:
        raise NotImplementedError

    # -- emitting (synchronous, never blocks) ---------------------------------------

    @property
    def pending(self) -> int:
        """Events buffered, not yet sent."""
        return len(self._buffer) + self._in_flight

    def emit(self, event: Event) -> None:
        if self._closed:
            self._drop(1, "the emitter is closed")
            return
        buffer = self._buffer
        if len(buffer) >= self.max_buffer:
            buffer.popleft()
            self._drop(1, "the buffer is full: the event sink is slow or unreachable")
        buffer.append(event)
        if self._idle:  # a busy sender takes the event with its next batch
            self._wake_sender()

    def _wake_sender(self) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None  # another thread
        mine = self._loop
        if loop is not None and loop is mine:
            self._wake.set()
            self._idle = False  # woken: the other events of this loop turn need not
        elif mine is not None and not mine.is_closed():
            with contextlib.suppress(RuntimeError):  # closing meanwhile: sent on close
                mine.call_soon_threadsafe(self._wake.set)
        elif loop is not None:
            self._start(loop)
        # else: no loop anywhere yet; the buffer waits for the first one

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not None:
            self._forget()  # its connection belonged to the loop that closed
            self._connected = False
        self._loop = loop
        self._start_sender(loop)

    def _start_sender(self, loop: asyncio.AbstractEventLoop) -> None:
        self._wake = asyncio.Event()
        self._wake.set()
        self._idle = False
        self._sender = loop.create_task(self._run(), name=f"asynctasq-events-{self!r}")
        self._sender.add_done_callback(self._sender_gone)

    def _sender_gone(self, _task: asyncio.Task[None]) -> None:
        self._idle = True  # the next emit (or flush) starts another

    def _drop(self, count: int, reason: str) -> None:
        self._dropped += count
        self._warn(f"{self!r}: {self._dropped} event(s) dropped so far; {reason}")

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning("%s", message)

    # -- the sender -------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while True:
                # idle first, then look: an emit from another thread in between wakes us
                self._idle = True
                if not self._buffer:
                    self._wake.clear()
                    await self._wake.wait()
                self._idle = False
                # let a batch gather: a send per event loop turn would cost more than
                # the events themselves
                if self.linger and len(self._buffer) < self.batch_size:
                    await asyncio.sleep(self.linger)
                try:
                    await self._send_some()
                except Exception:  # a bug of ours must not stop the events for good
                    log.exception("%r: sending events failed; going on", self)
                    await asyncio.sleep(1.0)
        except asyncio.CancelledError:
            await self._last_flush()
            raise

    async def _send_some(self) -> None:
        if not self._connected:
            try:
                async with asyncio.timeout(self.send_timeout):
                    await self._open()
            except Exception as exc:
                self._failures += 1
                delay = min(0.1 * 2**self._failures, _MAX_BACKOFF)
                self._warn(f"cannot reach {self!r} ({_describe(exc)}); retrying in {delay:.1f}s")
                await self._reset()
                await asyncio.sleep(delay)
                return
            if self._failures:
                log.info("%r reachable again", self)
            self._connected, self._failures = True, 0
        batch = self._take(self.batch_size)
        count = self._in_flight = len(batch)
        try:
            async with asyncio.timeout(self.send_timeout):
                await self._send(batch)
            self.sent += count
        except asyncio.CancelledError:
            self._dropped += count
            raise
        except Exception as exc:
            self._drop(count, f"sending failed ({_describe(exc)})")
            await self._reset()
        finally:
            self._in_flight = 0

    def _take(self, most: int) -> list[Event]:
        buffer = self._buffer
        if len(buffer) <= most:  # the usual case: all of it, at C speed
            batch = list(buffer)
            buffer.clear()
            return batch
        return [buffer.popleft() for _ in range(most)]

    async def _reset(self) -> None:
        self._connected = False
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._close_sink(), 1.0)

    async def _last_flush(self) -> None:
        """The loop is shutting down (asyncio.run ends) without close(): one quick try."""
        if self._closed or not self._connected or not self._buffer:
            return
        with contextlib.suppress(BaseException):
            while self._buffer:
                batch = self._take(self.batch_size)
                await asyncio.wait_for(self._send(batch), 1.0)
                self.sent += len(batch)

    # -- lifecycle ----------------------------------------------------------------------

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every buffered event was sent (True) or ``timeout`` passed."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop and (self._loop is None or self._loop.is_closed()):
            self._start(loop)
        elif self._loop is loop and self.pending and (self._sender is None or self._sender.done()):
            # asyncio.run() cancels every task before it finalises async generators
            # (where the default dispatcher closes us, asynctasq.aclose()): a sender of
            # its own sends what the cancelled one left, on a fresh connection
            await self._reset()
            self._start_sender(loop)
        self._wake_sender()
        deadline = time.monotonic() + (self.close_timeout if timeout is None else timeout)
        while self.pending and time.monotonic() < deadline:
            if self._sender is not None and self._sender.done():
                return False
            await asyncio.sleep(0.005)
        return not self.pending

    async def close(self) -> None:
        """Send what is buffered (within ``close_timeout``), then disconnect. Events
        emitted after this are dropped."""
        if self._closed:
            return
        if self._buffer or self._in_flight:
            await self.flush()
        self._closed = True
        sender, self._sender = self._sender, None
        if sender is not None and not sender.done():
            sender.cancel()
            if sender.get_loop() is asyncio.get_running_loop():
                await asyncio.gather(sender, return_exceptions=True)
        if self._buffer:
            self._drop(len(self._buffer), "the sink did not take them before close")
            self._buffer.clear()
        await self._reset()


def _describe(exc: BaseException) -> str:
    text = str(exc) or "no detail"  # a driver's error may quote its URL
    return redact(f"{type(exc).__name__}: {text}")
