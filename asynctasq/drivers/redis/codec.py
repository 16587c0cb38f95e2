"""Jobs, outcomes and worker records to and from the bytes the scripts store.

A job's record (keys.py) is two MessagePack values back to back: ``meta`` (the
mutable fields, which the scripts read and rewrite with cmsgpack) then ``data``
(immutable, only Python reads it). What goes to a script is packed without the bin
type, which Redis' cmsgpack cannot read; bytes travel as raw strings and come back
unchanged.
"""

from __future__ import annotations

import math
import threading
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
    "enqueue_args",
    "pack_for_lua",
    "run_key",
]

_STATES = {state.value: state for state in JobState}
_MAX_RUN_US = 2**53 - 1
_PAIR = b"\x92"  # a MessagePack array of two: turns a record into one value


class _Packers(threading.local):
    """Reused packers (building one per call costs more than packing a small
    record); one set per thread, as a Packer is not safe to share."""

    def __init__(self) -> None:
        self.lua = msgpack.Packer(use_bin_type=False)
        self.python = msgpack.Packer(use_bin_type=True)


_packers = _Packers()


def pack_for_lua(value: Any) -> bytes:
    return _packers.lua.pack(value)  # type: ignore[no-any-return]


def run_key(run_at: float) -> str:
    """The 16-digit microsecond prefix of a job's member in the ready and scheduled
    sets; run_entry() in lua/_prelude.lua computes the same from the stored run_at."""
    micros = min(max(math.floor(float(run_at) * 1000000), 0), _MAX_RUN_US)
    return f"{micros:016d}"


def enqueue_args(jobs: Sequence[Job], now: float) -> list[Any]:
    """enqueue.lua's ARGV for a chunk of jobs (its header documents the layout)."""
    ids: list[str] = []
    records: list[Any] = []
    waiting: list[Any] = []
    routes: list[str] = []
    simple = True
    lua, python = _packers.lua, _packers.python
    for job in jobs:
        run_at = float(job.run_at)
        meta = lua.pack(
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
        data = python.pack(
            [job.task, job.payload, job.timeout, list(job.depends_on), job.expires_at]
        )
        due = run_at <= now
        ids.append(job.id)
        records += (job.id, meta + data)
        waiting += (job.priority if due else run_at, run_key(run_at) + job.id)
        routes.append(("r" if due else "s") + (job.unique_key or ""))
        simple = simple and due and not job.unique_key
    return [
        len(jobs),
        "1" if simple else "0",
        *ids,
        *records,
        *waiting,
        *([] if simple else routes),
    ]


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
