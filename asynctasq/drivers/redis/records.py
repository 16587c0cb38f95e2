"""Job records read back from Redis, never trusting them.

A record (keys.py) is two MessagePack values back to back: ``meta``, which every
script checks before it touches a job (``decode()`` in ``lua/_prelude.lua``), then
``data`` (task, payload, timeout, depends_on, expires_at, then for a flow's job its
flow_id and flow_name), which only Python reads.
A record damaged at rest must not crash a listing, a ``get()`` or a claim: reading
one never raises. It gives a stand-in job that reports the fault (its ``error``
says what is wrong, its ``payload`` keeps the unreadable bytes) and the fault
itself, so that a claim can dead-letter the job (claim.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgpack

from asynctasq.jobs import Job, JobState, validate_name, visible_state

__all__ = ["CORRUPT", "UNREADABLE_TASK", "Read", "read_job"]

#: how every reason for a corrupt record starts (the scripts write the same)
CORRUPT = "corrupt job record: "
#: the task name of a stand-in job whose task could not be read
UNREADABLE_TASK = "<unreadable>"

_STATES: dict[str, JobState] = {s.value: s for s in JobState if s is not JobState.SCHEDULED}
_STATES["waiting"] = JobState.BLOCKED  # how a record holds it (lua/enqueue_dag.lua)
_PAIR = b"\x92"  # a MessagePack array of two: turns a record into one value
_MAX_COUNT = 2**31 - 1
_FIELDS_MAX = 32  # as META_MAX / DATA_MAX in the prelude: newer versions may append


def _number(x: Any) -> bool:
    return type(x) in (int, float) and math.isfinite(x)


def _seconds(x: Any) -> bool:
    return _number(x) and x >= 0


def _count(x: Any) -> bool:
    return _number(x) and 0 <= x <= _MAX_COUNT and x == int(x)


def _text_or_none(x: Any) -> bool:
    return x is False or type(x) is str


def _time_or_none(x: Any) -> bool:
    return x is False or _number(x)


def _fraction_or_none(x: Any) -> bool:
    return x is False or (_number(x) and 0 <= x <= 1)


# the same checks as META_CHECKS in lua/_prelude.lua (tests/drivers/test_redis_corrupt.py
# holds both to one table of damaged records)
_META = (
    ("state", lambda x: type(x) is str and x in _STATES, "a known state"),
    ("attempts", _count, "a whole number from 0 to 2147483647"),
    ("max_attempts", _count, "a whole number from 0 to 2147483647"),
    ("priority", _number, "a finite number"),
    ("run_at", _number, "a finite number"),
    ("worker_id", _text_or_none, "a string or false"),
    ("finished_at", _time_or_none, "a finite number or false"),
    ("unique_key", _text_or_none, "a string or false"),
    ("created_at", _number, "a finite number"),
    ("progress", _fraction_or_none, "a number from 0 to 1 or false"),
)


_known_tasks: set[str] = set()  # names already checked: a claim reads thousands of jobs


def _task_name(x: Any) -> bool:
    if x in _known_tasks if type(x) is str else False:
        return True
    try:
        validate_name("task", x)
    except ValueError:
        return False
    if len(_known_tasks) < 10_000:
        _known_tasks.add(x)
    return True


_DATA = (
    ("task", _task_name, "a task name"),
    ("payload", lambda x: type(x) is bytes, "bytes"),
    ("timeout", lambda x: x is None or _seconds(x), "a number of seconds or nil"),
    (
        "depends_on",
        lambda x: type(x) is list and all(type(i) is str for i in x),
        "a list of job ids",
    ),
    ("expires_at", lambda x: x is None or _number(x), "a finite number or nil"),
)


_DATA_SHAPE = "the data part is not a msgpack array of task, payload and options"


def _sound(meta: Any, data: Any) -> bool:
    """The common case, checked fast (this runs per job of a claim): every field as
    enqueue and the scripts write it, a child's parents, a timeout and a ttl included.
    False does not mean corrupt (a job with progress is not): the field-by-field checks
    then decide, and name the fault."""
    if type(meta) is not list or type(data) is not list or not 10 <= len(meta) <= _FIELDS_MAX:
        return False
    state, attempts, max_attempts, priority, run_at, worker, finished, unique, created, progress = (
        meta[:10]
    )
    number, finite = (int, float), math.isfinite
    return (
        type(state) is str
        and state in _STATES
        and type(attempts) is int
        and 0 <= attempts <= _MAX_COUNT
        and type(max_attempts) is int
        and 0 <= max_attempts <= _MAX_COUNT
        and type(priority) in number
        and finite(priority)
        and type(run_at) in number
        and finite(run_at)
        and type(created) in number
        and finite(created)
        and (worker is False or type(worker) is str)
        and (unique is False or type(unique) is str)
        and finished is False
        and progress is False
        and 5 <= len(data) <= _FIELDS_MAX
        and _task_name(data[0])
        and type(data[1]) is bytes
        and (data[2] is None or _seconds(data[2]))
        and type(data[3]) is list
        and (not data[3] or all(type(parent) is str for parent in data[3]))
        and (data[4] is None or _number(data[4]))
    )


def _fields_fault(value: Any, checks: tuple[Any, ...]) -> str | None:
    for (name, check, expected), field in zip(checks, value, strict=False):
        if not check(field):
            return f"field {name} is {_describe(field)}, not {expected}"
    return None


def _meta_fault(meta: Any) -> str | None:
    if type(meta) is not list:
        return "meta is not a msgpack array"
    if not len(_META) <= len(meta) <= _FIELDS_MAX:
        return f"meta has {len(meta)} fields, expected {len(_META)}"
    return _fields_fault(meta, _META)


def _data_fault(data: Any) -> str | None:
    if type(data) is not list or not len(_DATA) <= len(data) <= _FIELDS_MAX:
        return _DATA_SHAPE
    return _fields_fault(data, _DATA)


def _array_length(raw: bytes) -> int | None:
    """The length of the MessagePack array ``raw`` starts with (array_length() in Lua)."""
    if not raw:
        return None
    head = raw[0]
    if 0x90 <= head <= 0x9F:
        return head - 0x90
    if head == 0xDC and len(raw) >= 3:
        return int.from_bytes(raw[1:3])
    if head == 0xDD and len(raw) >= 5:
        return int.from_bytes(raw[1:5])
    return None


def _describe(x: Any) -> str:
    """A short printable account of a bad value (never its raw bytes)."""
    if isinstance(x, str | bytes):
        head = x[:24] if isinstance(x, str) else x[:24].decode("latin-1")
        shown = "".join(c if c.isprintable() else "?" for c in head)
        return f"the {len(x)}-{'character' if isinstance(x, str) else 'byte'} value {shown!r}"
    if x is None or isinstance(x, bool | int | float):
        return f"the value {x!r}"
    return f"a {type(x).__name__}"


@dataclass(slots=True)  # (not frozen: a frozen __init__ costs twice as much, per job)
class Read:
    """A record read back: the job (a stand-in that reports the fault when the record
    is corrupt) and the fault."""

    job: Job
    fault: str | None = None
    #: the meta was readable: the stand-in's attempts and worker_id are the stored ones
    fenced: bool = True


def read_job(
    queue: str,
    job_id: bytes,
    record: bytes,
    error: bytes | None,
    result: bytes | None = None,
    lease_until: bytes | float | None = None,
    now: float | None = None,
) -> Read:
    text = None if error is None else error.decode("utf-8", "replace")
    lease = None if lease_until is None else float(lease_until)
    try:  # the common case: one C call for the whole record
        meta, data = msgpack.unpackb(_PAIR + record, raw=False, unicode_errors="surrogateescape")
        fault = None if _sound(meta, data) else _meta_fault(meta) or _data_fault(data)
    except Exception:
        meta, data, fault = _split(record)
    if fault is None:
        try:
            job = _job(queue, job_id.decode(), meta, data, text, result, lease, now)
        except Exception as exc:  # a check above missed something: still never raise
            fault = f"unreadable ({type(exc).__name__}: {exc})"
        else:
            return Read(job)
    return _stand_in(queue, job_id, record, meta, data, text, lease, fault)


def _split(record: bytes) -> tuple[Any, Any, str]:
    """(meta, data, fault) of a record that does not read in one piece, checked in
    the order and words of decode() in lua/_prelude.lua; a part that cannot be read
    is left as its raw bytes."""
    if not record:
        return None, record, "the record is empty"
    n = _array_length(record)
    if n is None:
        return None, record, "meta is not a msgpack array"
    if not len(_META) <= n <= _FIELDS_MAX:
        return None, record, f"meta has {n} fields, expected {len(_META)}"
    unpacker = msgpack.Unpacker(raw=False, unicode_errors="surrogateescape")
    unpacker.feed(record)
    try:
        meta = unpacker.unpack()
    except Exception as exc:
        return None, record, f"meta is truncated or not valid msgpack ({type(exc).__name__})"
    data = record[unpacker.tell() :]
    fault = _meta_fault(meta)
    if fault is None and not data:
        fault = "the data part is missing"
    if fault is None and not len(_DATA) <= (_array_length(data) or 0) <= _FIELDS_MAX:
        fault = _DATA_SHAPE
    if fault is not None:
        return meta, data, fault
    try:
        fields = msgpack.unpackb(data, raw=False, unicode_errors="surrogateescape")
    except Exception as exc:
        return meta, data, f"the data part is not valid msgpack ({type(exc).__name__})"
    return meta, fields, _data_fault(fields) or "unreadable"


def _job(
    queue: str,
    job_id: str,
    meta: list[Any],
    data: list[Any],
    error: str | None,
    result: bytes | None,
    lease_until: float | None,
    now: float | None,
) -> Job:
    state, attempts, max_attempts, priority, run_at, worker, finished, unique, created, progress = (
        meta[:10]
    )
    task, payload, timeout, depends_on, expires_at = data[:5]
    # a flow's job carries its flow and name there (codec._record); older records not
    flow_id, flow_name = (data[5], data[6]) if len(data) >= 7 else (None, None)
    job_state = _STATES[state]
    if now is not None:
        job_state = visible_state(job_state, run_at, now)
    return Job.unchecked(  # the scripts checked the record (decode() in _prelude.lua)
        task=task,
        payload=payload,
        queue=queue,
        id=job_id,
        priority=priority,
        attempts=int(attempts),
        max_attempts=int(max_attempts),
        run_at=float(run_at),
        created_at=float(created),
        timeout=timeout,
        lease_until=lease_until,
        worker_id=worker or None,
        state=job_state,
        error=error,
        result=result,
        unique_key=unique or None,
        depends_on=tuple(depends_on),
        expires_at=expires_at,
        progress=None if progress is False else float(progress),
        finished_at=None if finished is False else float(finished),
        flow_id=flow_id if type(flow_id) is str else None,
        flow_name=flow_name if type(flow_name) is str else None,
    )


def _stand_in(
    queue: str,
    job_id: bytes,
    record: bytes,
    meta: Any,
    data: Any,
    stored_error: str | None,
    lease_until: float | None,
    fault: str,
) -> Read:
    """A job that reports what is wrong with its record, from what could be read."""
    reason = CORRUPT + fault
    error = stored_error if stored_error and fault in stored_error else reason
    if stored_error and error is reason:
        error = f"{reason}\n\nlast error: {stored_error}"
    fenced = _meta_fault(meta) is None
    task = data[0] if type(data) is list and data and _task_name(data[0]) else UNREADABLE_TASK
    raw = data if isinstance(data, bytes) else record
    job = Job(
        task=task, payload=raw, queue=queue, id=job_id.decode("utf-8", "replace"), error=error
    )
    job.state, job.max_attempts, job.run_at, job.created_at = JobState.FAILED, 0, 0.0, 0.0
    if fenced:
        state, attempts, max_attempts, priority, run_at, worker, finished, _, created, _ = meta[:10]
        job.state, job.attempts, job.max_attempts = _STATES[state], int(attempts), int(max_attempts)
        job.priority, job.run_at, job.created_at = priority, float(run_at), float(created)
        job.worker_id, job.lease_until = worker or None, lease_until
        job.finished_at = None if finished is False else float(finished)
    return Read(job, fault, fenced)
