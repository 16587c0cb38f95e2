"""The job record every driver stores, and the outcomes a worker reports back.

Times are epoch seconds (``time.time()``) from the process that sets them; hosts
running asynctasq need synchronised clocks (NTP), as with every distributed queue.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Completed",
    "Failed",
    "Job",
    "JobState",
    "Outcome",
    "QueueStats",
    "Released",
    "Retried",
    "WorkerInfo",
    "new_job_id",
    "validate_name",
    "visible_state",
]


class JobState(StrEnum):
    SCHEDULED = "scheduled"  # pending, but its run_at is still in the future
    PENDING = "pending"
    WAITING = "waiting"  # on dependencies (reserved for depends_on)
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"  # the dead-letter state
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def finished(self) -> bool:
        return self in _FINISHED


_FINISHED = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED})


_random_bits = random.getrandbits
_LOW_62 = (1 << 62) - 1


def visible_state(state: JobState, run_at: float, now: float) -> JobState:
    """Drivers store a delayed job as pending; callers see it as scheduled."""
    if state is JobState.PENDING and run_at > now:
        return JobState.SCHEDULED
    return state


def new_job_id() -> str:
    """A UUIDv7 string: sortable by creation time, unique without coordination.

    74 random bits per millisecond from the ``random`` module: not a secret, and
    reseeded in every forked child, so processes never share a sequence.
    """
    rand = _random_bits(74)
    millis = time.time_ns() // 1_000_000
    # 48 bits of time | version 7 | 12 random bits | RFC 4122 variant | 62 random bits
    value = millis << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0x2 << 62 | (rand & _LOW_62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_NAME = re.compile(r"^[A-Za-z0-9_.:@/-]{1,200}$")
_TASK_NAME = re.compile(r"^[A-Za-z0-9_.:@/<>-]{1,300}$")  # qualnames of local classes have <locals>


def validate_name(kind: str, name: str) -> str:
    """Queue and task names end up in Redis keys and SQL rows: keep them plain.

    Braces are refused because Redis Cluster reads ``{...}`` as a hash tag.
    """
    pattern = _TASK_NAME if kind == "task" else _NAME
    if not isinstance(name, str) or not pattern.match(name):
        raise ValueError(
            f"invalid {kind} name {name!r}: use 1-200 characters from letters, digits "
            "and _ . : @ / -"
        )
    return name


@dataclass(slots=True)
class Job:
    task: str
    payload: bytes
    queue: str = "default"
    id: str = field(default_factory=new_job_id)
    priority: int = 0  # lower runs first
    attempts: int = 0  # attempts started so far; reserve() adds one
    max_attempts: int = 1
    run_at: float = field(default_factory=time.time)
    created_at: float = field(default_factory=time.time)
    timeout: float | None = None
    lease_until: float | None = None
    worker_id: str | None = None
    state: JobState = JobState.PENDING
    error: str | None = None
    result: bytes | None = None
    unique_key: str | None = None
    depends_on: tuple[str, ...] = ()
    expires_at: float | None = None
    progress: float | None = None
    finished_at: float | None = None

    def copy(self) -> Job:
        """A shallow copy, ten times cheaper than ``dataclasses.replace`` (drivers
        copy every job they hand out)."""
        return _copy_job(self)


def _compile_copy() -> Callable[[Job], Job]:
    # straight-line attribute copies: no loop, no getattr, no __init__ defaults
    lines = [f"    new.{name} = job.{name}" for name in Job.__slots__]
    source = "def copy(job):\n    new = _new(Job)\n" + "\n".join(lines) + "\n    return new\n"
    namespace: dict[str, Any] = {"_new": object.__new__, "Job": Job}
    exec(source, namespace)
    copy: Callable[[Job], Job] = namespace["copy"]
    return copy


_copy_job = _compile_copy()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a worker reports for one reserved job.

    ``worker_id`` and ``attempt`` fence it: a driver applies the outcome only while
    the job is still active under that worker *and* that attempt, so a worker whose
    lease lapsed and was taken over cannot complete or fail the job.
    """

    job_id: str
    worker_id: str
    attempt: int
    #: the job's queue: lets a broker find the job without a lookup (Redis Cluster)
    queue: str = ""


@dataclass(frozen=True, slots=True)
class Completed(Outcome):
    result: bytes | None = None


@dataclass(frozen=True, slots=True)
class Retried(Outcome):
    run_at: float = 0.0
    error: str = ""


@dataclass(frozen=True, slots=True)
class Failed(Outcome):
    error: str = ""


@dataclass(frozen=True, slots=True)
class Released(Outcome):
    """Back to pending at once, the attempt not counted (graceful shutdown)."""


@dataclass(frozen=True, slots=True)
class QueueStats:
    queue: str
    depth: int = 0  # ready to run now
    processing: int = 0
    scheduled: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    paused: bool = False

    @property
    def pending(self) -> int:
        return self.depth


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    worker_id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    active: int = 0
    started_at: float = 0.0
    last_seen: float = 0.0
