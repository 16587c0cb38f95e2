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
from collections.abc import Mapping, Sequence
from typing import Any

import msgpack

from asynctasq.drivers.sanitize import MAX_ERROR_CHARS, sanitize_text
from asynctasq.jobs import Completed, Failed, Job, Outcome, Released, Retried, WorkerInfo

__all__ = [
    "decode_worker",
    "encode_outcomes",
    "encode_worker",
    "enqueue_args",
    "enqueue_dag_args",
    "pack_for_lua",
    "run_key",
    "storable_error",
]

_MAX_RUN_US = 2**53 - 1


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
    expiries: list[Any] = []
    simple = True
    for job in jobs:
        run_at = float(job.run_at)
        due = run_at <= now
        ids.append(job.id)
        records += (job.id, _record(job))
        waiting += (job.priority if due else run_at, run_key(run_at) + job.id)
        routes.append(("r" if due else "s") + _unique_route(job, now))
        expiries.append("" if job.expires_at is None else float(job.expires_at))
        simple = simple and due and not job.unique_key and job.expires_at is None
    return [
        len(jobs),
        "1" if simple else "0",
        *ids,
        *records,
        *waiting,
        *([] if simple else (*routes, *expiries)),
    ]


#: a deduplication mode as enqueue.lua reads it (asynctasq/dedup.py)
_MODE_CHARS = {"until_started": "s", "throttle": "t", "debounce": "d"}


def _unique_route(job: Job, now: float) -> str:
    """The end of a job's route: its unique_key, or for a deduplication mode
    "\x01<mode char>\x01<now>\x01<until or empty>\x01<key>" (enqueue.lua)."""
    if job.unique_mode is None:
        return job.unique_key or ""
    until = "" if job.unique_mode != "throttle" else repr(now + (job.unique_for or 0.0))
    return f"\x01{_MODE_CHARS[job.unique_mode]}\x01{now!r}\x01{until}\x01{job.unique_key}"


def _record(job: Job) -> bytes:
    """A new job's record: meta (pending) then data (keys.py)."""
    meta = _packers.lua.pack(
        [
            "pending",
            job.attempts,
            job.max_attempts,
            job.priority,
            float(job.run_at),
            False,
            False,
            # a job with a deduplication mode holds its key in its lock (enqueue.lua)
            (job.unique_mode is None and job.unique_key) or False,
            float(job.created_at),
            False if job.progress is None else float(job.progress),
            # only a job with a ttl carries it: the claim reads it (reserve.lua)
            *(() if job.expires_at is None else (float(job.expires_at),)),
        ]
    )
    fields = [job.task, job.payload, job.timeout, list(job.depends_on), job.expires_at]
    if job.flow_id:  # a flow's job knows its flow (get() fills Job.flow_id)
        fields += (job.flow_id, job.flow_name)
    data = _packers.python.pack(fields)
    return meta + data  # type: ignore[no-any-return]


def enqueue_dag_args(
    jobs: Sequence[Job],
    now: float,
    retention: float = 86_400.0,
    *,
    blocks: Mapping[str, int] | None = None,
    located: Mapping[str, int] | None = None,
) -> list[Any]:
    """enqueue_dag.lua's ARGV (its header documents the layout). ``blocks``: queue ->
    its block (1-based) among the script's KEYS (default: every job in block 1);
    ``located``: parent id -> the block of a parent stored earlier in another queue
    than its child."""
    args: list[Any] = [now, len(jobs), pack_for_lua(dict(located or {}))]
    flow = next((job.flow_id for job in jobs if job.flow_id), None)
    for job in jobs:
        run_at = float(job.run_at)
        due = run_at <= now
        args += (
            job.id,
            _record(job),
            job.priority if due else run_at,
            run_key(run_at) + job.id,
            "r" if due else "s",
            pack_for_lua(list(job.depends_on)),
            job.on_parent_failure,
            (blocks or {}).get(job.queue, 1),
        )
    if flow is not None:
        members = [job for job in jobs if job.flow_id == flow]
        record = [[job.id for job in members], [job.flow_name or "" for job in members]]
        args += (flow, pack_for_lua(record), repr(float(retention)))
    return args


def storable_error(error: str) -> str:
    """Error text as Redis keeps it: any bytes fit, but it must encode (no lone
    surrogates) and stay bounded (MAX_ERROR_CHARS, head and tail kept)."""
    return sanitize_text(error, max_chars=MAX_ERROR_CHARS, allow_nul=True)


def encode_outcomes(outcomes: Sequence[Outcome]) -> bytes:
    """settle.lua's batch: [kind, id, worker, attempt, value, error] per outcome."""
    items: list[list[Any]] = []
    for o in outcomes:
        match o:
            case Completed(result=result):
                items.append(["C", o.job_id, o.worker_id, o.attempt, result, None])
            case Retried(run_at=run_at, error=error):
                error = storable_error(error)
                items.append(["R", o.job_id, o.worker_id, o.attempt, float(run_at), error])
            case Failed(error=error):
                items.append(["F", o.job_id, o.worker_id, o.attempt, None, storable_error(error)])
            case Released(run_at=run_at):
                at = None if run_at is None else float(run_at)
                items.append(["L", o.job_id, o.worker_id, o.attempt, at, None])
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
            info.supervisor,
        ]
    )


def decode_worker(raw: bytes) -> WorkerInfo | None:
    """A worker's heartbeat record; None when it is damaged (the listing goes on)."""
    try:
        fields = msgpack.unpackb(raw, raw=False)
        # records written before the supervisor field have eight fields
        worker_id, host, pid, queues, concurrency, active, started_at, last_seen = fields[:8]
        supervisor = fields[8] if len(fields) > 8 else None
        return WorkerInfo(
            worker_id,
            host,
            pid,
            tuple(queues),
            concurrency,
            active,
            started_at,
            last_seen,
            supervisor,
        )
    except Exception:
        return None
