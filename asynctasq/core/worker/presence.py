"""How a worker shows itself: its id, its WorkerInfo record, its ``worker_*``
events, and, once at start, what its driver cannot do for it.

A driver brings the core and whatever capabilities it declares; a worker runs jobs
on the core alone. What a missing capability costs is said once in the log, not
discovered later.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Sequence

from asynctasq.clock import Clock
from asynctasq.core.events.emitters import EventEmitter
from asynctasq.core.events.types import Event, EventType
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Capability, Inspection, ProgressStore, WorkerRegistry
from asynctasq.jobs import WorkerInfo
from asynctasq.redaction import redact

__all__ = [
    "announce",
    "broker_location",
    "default_worker_id",
    "log_what_the_driver_lacks",
    "worker_info",
]

log = logging.getLogger("asynctasq.worker")

#: what a worker does with each capability, and what it does without
_WITHOUT: tuple[tuple[type[Capability], str], ...] = (
    (
        WorkerRegistry,
        "it has no worker registry: this worker is not listed by `asynctasq stats` "
        "(its worker_* events are still sent)",
    ),
    (
        ProgressStore,
        "it cannot store progress: report_progress() only sends task_progress events",
    ),
)
_BURST_WITHOUT = (
    Inspection,
    "it cannot be inspected: --burst stops at the first empty claim, without waiting "
    "for scheduled jobs and retries",
)


def broker_location(driver: Driver) -> str:
    """The broker and where it is, for the start-up line: a SQLite file as an
    absolute path (the first question when two processes do not see the same jobs),
    a URL without its password."""
    path = getattr(driver, "path", None)
    if isinstance(path, str):
        return f"{driver.name} {os.path.abspath(path)}"
    url = getattr(driver, "url", None)
    where = url if isinstance(url, str) else repr(driver)
    return f"{driver.name} {redact(where)}"


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def log_what_the_driver_lacks(driver: Driver, *, burst: bool) -> None:
    for capability, cost in (*_WITHOUT, *((_BURST_WITHOUT,) if burst else ())):
        if not isinstance(driver, capability):
            log.info("the %s driver lacks %s: %s", driver.name, capability.__name__, cost)


def worker_info(
    worker_id: str,
    queues: Sequence[str],
    *,
    concurrency: int,
    active: int,
    started_at: float,
    clock: Clock,
    supervisor: str | None = None,
) -> WorkerInfo:
    return WorkerInfo(
        worker_id=worker_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        queues=tuple(queues),
        concurrency=concurrency,
        active=active,
        started_at=started_at,
        last_seen=clock.time(),
        supervisor=supervisor,
    )


def announce(emitter: EventEmitter, kind: EventType, info: WorkerInfo) -> None:
    """A ``worker_online``, ``worker_heartbeat`` or ``worker_offline`` event."""
    if emitter.enabled:
        emitter.emit(
            Event(
                kind,
                worker_id=info.worker_id,
                host=info.host,
                pid=info.pid,
                queues=info.queues,
                concurrency=info.concurrency,
                active=info.active,
            )
        )
