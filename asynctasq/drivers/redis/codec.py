"""Jobs, outcomes and worker records to and from the bytes the scripts store.

A job's record (keys.py) is two MessagePack values back to back: ``meta`` (the
mutable fields, which the scripts read and rewrite with cmsgpack) then ``data``
(immutable, only Python reads it). What goes to a script is packed without the bin
type, which Redis' cmsgpack cannot read; bytes travel as raw strings and come back
unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import msgpack

from asynctasq.jobs import (
    Completed,
    Failed,
    Job,
    JobState,
    Outcome,
    Released,
    Retried,
    WorkerInfo,
    visible_state,
)

__all__ = [
    "decode_job",
    "decode_worker",
    "encode_outcomes",
    "encode_worker",
    "new_job_item",
    "pack_for_lua",
    "run_key",
]

_STATES = {state.value: state for state in JobState}
_MAX_RUN_US = 2**53 - 1
_PAIR = b"\x92"  # a MessagePack array of two: turns a record into one value


def pack_for_lua(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=False)  # type: ignore[no-any-return]


def run_key(run_at: float) -> str:
    """The 16-digit microsecond prefix of a job's member in the ready and scheduled
    sets; run_entry() in lua/_prelude.lua computes the same from the stored run_at."""
    micros = min(max(math.floor(float(run_at) * 1000000), 0), _MAX_RUN_US)
    return f"{micros:016d}"


def new_job_item(job: Job) -> list[Any]:
    """One element of enqueue.lua's chunk: [id, record, priority, entry, run_at, unique]."""
    run_at = float(job.run_at)
    meta = pack_for_lua(
        [
            "pending",
            job.attempts,
            job.max_attempts,
            job.priority,
            run_at,
            False,
            False,
            job.unique_key or False,
            float(job.created_at),
            False if job.progress is None else float(job.progress),
        ]
    )
    data = msgpack.packb(
        [job.task, job.payload, job.timeout, list(job.depends_on), job.expires_at],
        use_bin_type=True,
    )
    entry = run_key(run_at) + job.id
    return [job.id, meta + data, job.priority, entry, run_at, job.unique_key]


def decode_job(
    queue: str,
    job_id: bytes,
    record: bytes,
    error: bytes | None,
    result: bytes | None = None,
    lease_until: bytes | float | None = None,
    now: float | None = None,
) -> Job:
    meta, data = msgpack.unpackb(_PAIR + record, raw=False)
    (
        state,
        attempts,
        max_attempts,
        priority,
        run_at,
        worker,
        finished,
        unique,
        created,
        progress,
    ) = meta
    task, payload, timeout, depends_on, expires_at = data
    job_state = _STATES[state]
    if now is not None:
        job_state = visible_state(job_state, run_at, now)
    return Job(
        task=task,
        payload=payload,
        queue=queue,
        id=job_id.decode(),
        priority=priority,
        attempts=attempts,
        max_attempts=max_attempts,
        run_at=float(run_at),
        created_at=float(created),
        timeout=timeout,
        lease_until=None if lease_until is None else float(lease_until),
        worker_id=worker or None,
        state=job_state,
        error=None if error is None else error.decode("utf-8", "replace"),
        result=result,
        unique_key=unique or None,
        depends_on=tuple(depends_on),
        expires_at=expires_at,
        progress=None if progress is False else float(progress),
        finished_at=None if finished is False else float(finished),
    )


def encode_outcomes(outcomes: Sequence[Outcome]) -> bytes:
    """settle.lua's batch: [kind, id, worker, attempt, value, error] per outcome."""
    items: list[list[Any]] = []
    for o in outcomes:
        match o:
            case Completed(result=result):
                items.append(["C", o.job_id, o.worker_id, o.attempt, result, None])
            case Retried(run_at=run_at, error=error):
                items.append(["R", o.job_id, o.worker_id, o.attempt, float(run_at), error])
            case Failed(error=error):
                items.append(["F", o.job_id, o.worker_id, o.attempt, None, error])
            case Released():
                items.append(["L", o.job_id, o.worker_id, o.attempt, None, None])
            case _:
                raise TypeError(f"unknown outcome {o!r}")
    return pack_for_lua(items)


def encode_worker(info: WorkerInfo, now: float) -> bytes:
    return msgpack.packb(  # type: ignore[no-any-return]
        [
            info.worker_id,
            info.host,
            info.pid,
            list(info.queues),
            info.concurrency,
            info.active,
            info.started_at,
            now,
        ]
    )


def decode_worker(raw: bytes) -> WorkerInfo:
    worker_id, host, pid, queues, concurrency, active, started_at, last_seen = msgpack.unpackb(
        raw, raw=False
    )
    return WorkerInfo(
        worker_id, host, pid, tuple(queues), concurrency, active, started_at, last_seen
    )
