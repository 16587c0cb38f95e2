"""Events: what tasks and workers do, for monitoring from outside the worker.

    emitter = create_event_emitter()      # from ASYNCTASQ_EVENTS_* settings
    worker = Worker(queue_driver=driver, queues=["default"], event_emitter=emitter)
    ...
    await emitter.close()

The reference of every kind and field is docs/monitoring.md.
"""

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
    from asynctasq.core.events.postgres import PostgresEventEmitter
    from asynctasq.core.events.redis import RedisEventEmitter
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
    "PostgresEventEmitter",
    "RedisEventEmitter",
    "create_event_emitter",
]

# the names that need an optional driver library: imported on first use
_LAZY = {
    "EventSubscriber": "asynctasq.core.events.subscriber",
    "RedisEventEmitter": "asynctasq.core.events.redis",
    "PostgresEventEmitter": "asynctasq.core.events.postgres",
}


def create_event_emitter(config: Config | None = None) -> EventEmitter:
    """Every emitter the settings ask for, at once: Redis Pub/Sub
    (``ASYNCTASQ_EVENTS_REDIS_URL``), PostgreSQL NOTIFY
    (``ASYNCTASQ_EVENTS_POSTGRES_DSN``) and the log (``ASYNCTASQ_EVENTS_LOG``); a no-op
    emitter when none is configured."""
    config = config or get_global_config()
    emitters: list[EventEmitter] = []
    if config.events_redis_url:
        # lazy, as below: each imports its optional client library
        from asynctasq.core.events.redis import RedisEventEmitter

        emitters.append(RedisEventEmitter(config.events_redis_url, channel=config.events_channel))
    if config.events_postgres_dsn:
        from asynctasq.core.events.postgres import PostgresEventEmitter  # lazy: see above

        emitters.append(
            PostgresEventEmitter(config.events_postgres_dsn, channel=config.events_channel)
        )
    if config.events_log:
        emitters.append(LoggingEmitter())
    if not emitters:
        return NullEmitter()
    return emitters[0] if len(emitters) == 1 else CompositeEmitter(emitters)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)
