"""The event model: one flat, immutable record for every kind, cheap to build and to send.

An event is a named tuple: a worker builds two per job, and the Redis emitter packs
them as they are (msgpack arrays), with no conversion in between.
"""

from __future__ import annotations

import time
from typing import Any, Literal, NamedTuple

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


class _EventFields(NamedTuple):
    event_type: EventType
    at: float  # Unix time, seconds
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


_tuple_new = tuple.__new__
_now = time.time


class Event(_EventFields):
    """``Event("worker_online", worker_id=..., host=...)``; ``at`` defaults to now.
    Fields that do not apply to a kind are None."""

    __slots__ = ()

    def __new__(
        cls,
        event_type: EventType,
        at: float | None = None,
        task_id: str | None = None,
        task: str | None = None,
        queue: str | None = None,
        worker_id: str | None = None,
        attempt: int | None = None,
        max_attempts: int | None = None,
        duration_ms: float | None = None,
        error: str | None = None,
        traceback: str | None = None,
        progress: float | None = None,
        meta: dict[str, Any] | None = None,
        run_at: float | None = None,
        host: str | None = None,
        pid: int | None = None,
        queues: tuple[str, ...] | None = None,
        concurrency: int | None = None,
        active: int | None = None,
    ) -> Event:
        values = (event_type, _now() if at is None else at, task_id, task, queue, worker_id,
                  attempt, max_attempts, duration_ms, error, traceback, progress, meta, run_at,
                  host, pid, queues, concurrency, active)  # fmt: skip
        return _tuple_new(cls, values)

    @classmethod
    def for_job(
        cls,
        event_type: EventType,
        job: Job,
        *,
        worker_id: str | None = None,
        duration_ms: float | None = None,
        error: str | None = None,
        traceback: str | None = None,
        progress: float | None = None,
        meta: dict[str, Any] | None = None,
        run_at: float | None = None,
    ) -> Event:
        """A task event of ``job`` (built twice per job: no keyword parsing here)."""
        values = (event_type, _now(), job.id, job.task, job.queue, worker_id, job.attempts,
                  job.max_attempts, duration_ms, error, traceback, progress, meta, run_at,
                  None, None, None, None, None)  # fmt: skip
        return _tuple_new(cls, values)

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set; what travels to logs and ``asynctasq events --json``."""
        return {name: value for name, value in zip(FIELDS, self, strict=True) if value is not None}

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


#: the field names, in tuple order
FIELDS: tuple[str, ...] = _EventFields._fields
_FIELD_SET = frozenset(FIELDS)
