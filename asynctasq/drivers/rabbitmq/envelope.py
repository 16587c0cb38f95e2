"""A job as an AMQP message: its fields in a msgpack envelope (the body), never pickle.

The body is ``[version, id, task, queue, payload, priority, attempts, max_attempts,
run_at, created_at, timeout, unique_key, depends_on, expires_at, error,
finished_at]``. ``attempts`` counts the attempts that *ended* before this message was
published; the broker's ``x-delivery-count`` header adds the deliveries of this very
message that were lost with their channel (a worker that died), so a claim is
attempt ``attempts + x-delivery-count + 1``.

A message that does not decode (published by something else, or damaged) raises
:class:`BadEnvelope` with the reason; the driver dead-letters it and goes on.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgpack
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from asynctasq.jobs import Job, JobState

__all__ = ["BadEnvelope", "decode", "delivery_count", "encode", "properties"]

VERSION = 1
CONTENT_TYPE = "application/vnd.asynctasq.job+msgpack"
_FIELDS = 16


class BadEnvelope(ValueError):
    """The message is not an asynctasq job."""


def encode(job: Job, attempts: int, *, error: str | None = None) -> bytes:
    """``job`` with ``attempts`` ended so far (and the last error, if any)."""
    body: bytes = msgpack.packb(
        [
            VERSION,
            job.id,
            job.task,
            job.queue,
            job.payload,
            job.priority,
            attempts,
            job.max_attempts,
            job.run_at,
            job.created_at,
            job.timeout,
            job.unique_key,
            list(job.depends_on),
            job.expires_at,
            job.error if error is None else error,
            job.finished_at,
        ],
        use_bin_type=True,
    )
    return body


def properties(job_id: str, headers: dict[str, Any] | None = None) -> Basic.Properties:
    """Persistent (written to disk), with the job id as the AMQP message id."""
    return Basic.Properties(
        content_type=CONTENT_TYPE, delivery_mode=2, message_id=job_id, headers=headers
    )


def delivery_count(message: DeliveredMessage) -> int:
    """Deliveries of this message before this one (returned by the broker when their
    channel closed). Quorum queues count them in ``x-delivery-count``; without it a
    redelivered message counts one."""
    headers = message.header.properties.headers
    count = headers.get("x-delivery-count") if headers else None
    if isinstance(count, int) and count >= 0:
        return count
    return 1 if getattr(message.delivery, "redelivered", False) else 0


class _Fields(NamedTuple):
    version: Any
    id: Any
    task: Any
    queue: Any
    payload: Any
    priority: Any
    attempts: Any
    max_attempts: Any
    run_at: Any
    created_at: Any
    timeout: Any
    unique_key: Any
    depends_on: Any
    expires_at: Any
    error: Any
    finished_at: Any


def decode(body: bytes) -> tuple[Job, int]:
    """The job of a message body (state pending) and its ended attempts."""
    try:
        unpacked = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except Exception as exc:
        raise BadEnvelope(f"the body is not msgpack ({type(exc).__name__})") from None
    if not isinstance(unpacked, list) or len(unpacked) != _FIELDS or unpacked[0] != VERSION:
        raise BadEnvelope("the body is not an asynctasq job envelope (version 1)")
    f = _Fields(*unpacked)
    _check(f.id, str, "id")
    _check(f.task, str, "task")
    _check(f.queue, str, "queue")
    _check(f.payload, bytes, "payload")
    for name in ("priority", "attempts", "max_attempts"):
        if type(getattr(f, name)) is not int:
            raise BadEnvelope(f"the envelope's {name} is not an integer")
    _check(f.run_at, (int, float), "run_at")
    _check(f.created_at, (int, float), "created_at")
    for name in ("timeout", "expires_at", "finished_at"):
        _check(getattr(f, name), (int, float, type(None)), name)
    _check(f.unique_key, (str, type(None)), "unique_key")
    _check(f.error, (str, type(None)), "error")
    if not isinstance(f.depends_on, list) or not all(isinstance(d, str) for d in f.depends_on):
        raise BadEnvelope("the envelope's depends_on is not a list of ids")
    try:
        job = Job(
            task=f.task,
            payload=f.payload,
            queue=f.queue,
            id=f.id,
            priority=f.priority,
            attempts=f.attempts,
            max_attempts=f.max_attempts,
            run_at=float(f.run_at),
            created_at=float(f.created_at),
            timeout=_seconds(f.timeout),
            state=JobState.PENDING,
            error=f.error,
            unique_key=f.unique_key,
            depends_on=tuple(f.depends_on),
            expires_at=_seconds(f.expires_at),
            finished_at=_seconds(f.finished_at),
        )
    except (TypeError, ValueError) as exc:  # Job checks its times and numbers
        raise BadEnvelope(f"the envelope holds an invalid job: {exc}") from None
    return job, f.attempts


def _seconds(value: float | None) -> float | None:
    return None if value is None else float(value)


def _check(value: object, kind: type | tuple[type, ...], name: str) -> None:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadEnvelope(f"the envelope's {name} has the wrong type")
