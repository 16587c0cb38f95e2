"""The event model: one flat record for every kind, cheap to build and to send."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from asynctasq.jobs import Job

__all__ = ["EVENT_TYPES", "Event", "EventType"]

EventType = Literal[
    "task_enqueued",
    "task_started",
    "task_completed",
    "task_failed",
    "task_retrying",
    "task_progress",
    "task_dead",
    "worker_online",
    "worker_heartbeat",
    "worker_offline",
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]


@dataclass(slots=True)
class Event:
    event_type: EventType
    at: float = field(default_factory=time.time)
    task_id: str | None = None
    task: str | None = None  # the task's name
    queue: str | None = None
    worker_id: str | None = None
    attempt: int | None = None
    max_attempts: int | None = None
    duration_ms: float | None = None
    error: str | None = None  # "Type: message"
    traceback: str | None = None  # a short summary, last frames only
    progress: float | None = None
    meta: dict[str, Any] | None = None
    run_at: float | None = None  # task_retrying: when the next attempt is due
    # worker events
    host: str | None = None
    pid: int | None = None
    queues: tuple[str, ...] | None = None
    concurrency: int | None = None
    active: int | None = None

    @classmethod
    def for_job(cls, event_type: EventType, job: Job, **fields: Any) -> Event:
        # positional: built twice per job, the cheapest call a dataclass allows
        return cls(
            event_type,
            time.time(),
            job.id,
            job.task,
            job.queue,
            fields.pop("worker_id", None),
            job.attempts,
            job.max_attempts,
            **fields,
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set; what travels over Pub/Sub and into logs."""
        # on the hot path (every job, twice): a precomputed name list, no fields() call
        return {name: value for name in _FIELD_NAMES if (value := getattr(self, name)) is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """The inverse of to_dict; unknown keys (from a newer sender) are ignored.
        Raises ValueError when ``event_type`` is missing or not a known kind."""
        kind = data.get("event_type")
        if kind not in EVENT_TYPES:
            raise ValueError(f"not an asynctasq event: event_type={kind!r}")
        values = {k: v for k, v in data.items() if k in _FIELD_SET}
        if isinstance(values.get("queues"), list):
            values["queues"] = tuple(values["queues"])
        return cls(**values)


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Event))
_FIELD_SET = frozenset(_FIELD_NAMES)
