"""Where events go. ``emit`` never blocks and never raises: monitoring must not slow
or break job processing."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from asynctasq.core.events.types import Event

__all__ = ["CallbackEmitter", "CompositeEmitter", "EventEmitter", "LoggingEmitter", "NullEmitter"]

log = logging.getLogger("asynctasq.events")


class EventEmitter:
    """Base of emitters: override ``emit`` (non-blocking) and ``close``."""

    #: False lets the worker skip building events nobody receives
    enabled: bool = True
    _dropped: int = 0

    @property
    def dropped(self) -> int:
        """Events lost because a sink failed or its buffer was full."""
        return self._dropped

    def emit(self, event: Event) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Deliver what is buffered and release connections."""


class NullEmitter(EventEmitter):
    enabled = False

    def emit(self, event: Event) -> None:
        pass


class CallbackEmitter(EventEmitter):
    """Calls ``callback(event)`` in-process; a coroutine callback is scheduled."""

    def __init__(self, callback: Callable[[Event], Awaitable[None] | None]) -> None:
        self.callback = callback
        self._pending: set[Any] = set()

    def emit(self, event: Event) -> None:
        try:
            result = self.callback(event)
            if inspect.isawaitable(result):
                import asyncio

                task = asyncio.ensure_future(result)
                self._pending.add(task)
                task.add_done_callback(self._done)
        except Exception:
            self._dropped += 1
            log.exception("event callback failed for %s; event dropped", event.event_type)

    def _done(self, task: Any) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._dropped += 1
            log.error("event callback failed: %r", task.exception())

    async def close(self) -> None:
        import asyncio

        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


class LoggingEmitter(EventEmitter):
    """Writes each event as a log record on the ``asynctasq.events`` logger."""

    def __init__(self, level: int = logging.INFO, logger: logging.Logger | None = None) -> None:
        self.level = level
        self.logger = logger or log

    def emit(self, event: Event) -> None:
        if self.logger.isEnabledFor(self.level):
            fields = event.to_dict()
            kind = fields.pop("event_type")
            self.logger.log(self.level, "%s %s", kind, fields, extra={"event": fields})


class CompositeEmitter(EventEmitter):
    """Several emitters at once."""

    def __init__(self, emitters: Sequence[EventEmitter]) -> None:
        self.emitters = [e for e in emitters if e.enabled]
        self.enabled = bool(self.emitters)

    def emit(self, event: Event) -> None:
        for emitter in self.emitters:
            emitter.emit(event)

    @property
    def dropped(self) -> int:
        return sum(e.dropped for e in self.emitters)

    async def close(self) -> None:
        for emitter in self.emitters:
            try:
                await emitter.close()
            except Exception:
                log.exception("closing %r failed", emitter)
