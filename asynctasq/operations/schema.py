"""The one JSON shape of every record the operations hand out (``--json`` of the CLI,
the dashboard, scripts). Keys are only ever added, never renamed or removed; times are
epoch seconds (floats) or null. docs/operations.md documents each key.
"""

from __future__ import annotations

import json
import time
from typing import Any

from asynctasq.jobs import Job, QueueStats, WorkerInfo
from asynctasq.redaction import redact
from asynctasq.serialization import default_serializer
from asynctasq.serialization.payload import decode_payload

__all__ = ["SCHEMA_VERSION", "job_detail", "job_summary", "queue_record", "worker_record"]

#: bumped only if a key ever had to change meaning (never so far)
SCHEMA_VERSION = 1


def error_head(error: str | None) -> str | None:
    """The first line of a stored error (``Type: message``); the traceback follows it."""
    return None if error is None else error.split("\n", 1)[0]


def job_summary(job: Job) -> dict[str, Any]:
    """A job as a list row: what an operator scans for."""
    return {
        "id": job.id,
        "task": job.task,
        "queue": job.queue,
        "state": job.state.value,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "created_at": job.created_at,
        "run_at": job.run_at,
        "finished_at": job.finished_at,
        "worker_id": job.worker_id,
        "progress": job.progress,
        "error": redact(head) if (head := error_head(job.error)) is not None else None,
    }


def job_detail(job: Job) -> dict[str, Any]:
    """Everything about one job (``job show``): the list row, then its arguments
    (decoded, secrets hidden), last error with traceback, result, parents."""
    traceback = None
    if job.error is not None and "\n" in job.error:
        traceback = redact(job.error.split("\n", 1)[1].strip("\n"))
    args, options, undecodable = _arguments(job.payload)
    return {
        **job_summary(job),
        "timeout": job.timeout,
        "expires_at": job.expires_at,
        "lease_until": job.lease_until,
        "unique_key": job.unique_key,
        "args": args,
        "options": options,
        "payload_error": undecodable,
        "traceback": traceback,
        "result": _result(job.result),
        "parents": list(job.depends_on),
        "flow_id": job.flow_id,
        "flow_name": job.flow_name,
    }


def searchable_arguments(payload: bytes, *, hidden: bool = True) -> str:
    """A job's arguments and options as the text a search looks in: the JSON the job
    page shows, credentials hidden (an undecodable payload: the reason it is). With
    ``hidden=False`` the credentials are left in: a search checks that text first
    (redaction is the costly part) and redacts only a job that may match."""
    try:
        args, options = decode_payload(payload)
    except Exception as exc:
        return redact(str(exc))
    text = json.dumps([args, options], ensure_ascii=False, default=repr)
    return redact(text) if hidden else text


def _arguments(payload: bytes) -> tuple[Any, Any, str | None]:
    """(arguments, options, why undecodable) with every credential-looking value hidden:
    the same rule as logs (asynctasq/redaction.py), applied to the JSON text."""
    try:
        args, options = decode_payload(payload)
    except Exception as exc:  # a damaged payload is still shown: it is why the job died
        return None, None, redact(str(exc))
    return _redacted(args), _redacted(options), None


def _result(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return _redacted(default_serializer.loads(data))
    except Exception:
        return f"<{len(data)} bytes, undecodable>"


def _redacted(value: Any) -> Any:
    return json.loads(redact(json.dumps(value, default=repr)))


def queue_record(
    stats: QueueStats, *, oldest_age: float | None, per_minute: int | None
) -> dict[str, Any]:
    return {
        "queue": stats.queue,
        "pending": stats.depth,
        "active": stats.processing,
        "scheduled": stats.scheduled,
        "completed": stats.completed,
        "failed": stats.failed,
        "cancelled": stats.cancelled,
        "paused": stats.paused,
        "oldest_pending_age": oldest_age,
        "completed_last_minute": per_minute,
        # the counts above that are estimates (queue_summaries(estimate=True) fills it)
        "approximate": {},
    }


def worker_record(info: WorkerInfo, *, max_age: float, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    age = now - info.last_seen if info.last_seen else None
    return {
        "worker_id": info.worker_id,
        "host": info.host,
        "pid": info.pid,
        "queues": list(info.queues),
        "concurrency": info.concurrency,
        "active": info.active,
        "started_at": info.started_at,
        "last_seen": info.last_seen,
        "uptime": now - info.started_at if info.started_at else None,
        "status": "alive" if age is not None and age <= max_age else "dead",
        "supervisor": info.supervisor,
    }
