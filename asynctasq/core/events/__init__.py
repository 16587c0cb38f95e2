"""Events: what tasks and workers do, for monitoring from outside the worker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asynctasq.config import Config, get_global_config
from asynctasq.core.events.emitters import (
    CallbackEmitter,
    CompositeEmitter,
    EventEmitter,
    LoggingEmitter,
    NullEmitter,
)
from asynctasq.core.events.types import EVENT_TYPES, Event, EventType

if TYPE_CHECKING:
    from asynctasq.core.events.subscriber import EventSubscriber

__all__ = [
    "EVENT_TYPES",
    "CallbackEmitter",
    "CompositeEmitter",
    "Event",
    "EventEmitter",
    "EventSubscriber",
    "EventType",
    "LoggingEmitter",
    "NullEmitter",
    "create_event_emitter",
]


def create_event_emitter(config: Config | None = None) -> EventEmitter:
    """The emitters the settings ask for (``ASYNCTASQ_EVENTS_REDIS_URL``...), or a
    no-op emitter when none is configured."""
    config = config or get_global_config()
    emitters: list[EventEmitter] = []
    if config.events_redis_url:
        from asynctasq.core.events.redis import RedisEventEmitter

        emitters.append(RedisEventEmitter(config.events_redis_url, channel=config.events_channel))
    if not emitters:
        return NullEmitter()
    return emitters[0] if len(emitters) == 1 else CompositeEmitter(emitters)


def __getattr__(name: str) -> Any:
    if name == "EventSubscriber":  # needs the redis extra: import on first use
        from asynctasq.core.events.subscriber import EventSubscriber

        return EventSubscriber
    raise AttributeError(name)
