"""The job record every driver stores, and the outcomes a worker reports back.

Times are epoch seconds (``time.time()``) from the process that sets them; hosts
running asynctasq need synchronised clocks (NTP), as with every distributed queue.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from asynctasq.checks import (
    INT32_MAX,
    MAX_EPOCH,
    MAX_SECONDS,
    check_attempts,
    check_epoch,
    check_priority,
    check_seconds,
)

__all__ = [
    "PARENT_POLICIES",
    "Completed",
    "Failed",
    "Job",
    "JobState",
    "Outcome",
    "QueueStats",
    "Recovery",
    "Released",
    "Retried",
    "WorkerInfo",
    "new_completed",
    "new_job_id",
    "parent_ids",
    "parent_policy",
    "validate_name",
    "visible_state",
]


class JobState(StrEnum):
    SCHEDULED = "scheduled"  # pending, but its run_at is still in the future
    PENDING = "pending"  # ready to run
    BLOCKED = "blocked"  # waiting for the jobs it depends on
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"  # the dead-letter state
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def finished(self) -> bool:
        return self in _FINISHED

    @classmethod
    def _missing_(cls, value: object) -> JobState | None:
        # the spellings of AsyncMQ and BullMQ users: "waiting" is ready to run
        return _ALIASES.get(value) if isinstance(value, str) else None


#: what a blocked job does when a parent fails: see Job.on_parent_failure
PARENT_POLICIES = frozenset({"fail", "cancel", "run"})

_FINISHED = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED})
_ALIASES = {"waiting": JobState.PENDING, "delayed": JobState.SCHEDULED, "dead": JobState.FAILED}


_random_bits = random.getrandbits
_LOW_62 = (1 << 62) - 1


def parent_ids(values: Iterable[str]) -> tuple[str, ...]:
    """A ``depends_on`` as a job holds it: job ids, each once, in the order given."""
    if isinstance(values, str):
        raise TypeError("depends_on is a list of job ids, not one id: write [job_id]")
    # a JobHandle (dispatch's return) is a str subclass: stored as the plain id
    ids = tuple(dict.fromkeys(str(v) if isinstance(v, str) else v for v in values))
    for value in ids:
        if not isinstance(value, str) or not value:
            raise TypeError(f"depends_on holds job ids (text), not {value!r}")
    return ids


def parent_policy(value: str) -> str:
    """An ``on_parent_failure`` value, checked."""
    if value not in PARENT_POLICIES:
        raise ValueError(
            f"on_parent_failure={value!r} is not valid: expected one of "
            f"{', '.join(sorted(PARENT_POLICIES))}"
        )
    return value


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
    pattern = _TASK_NAME if kind in ("task", "schedule") else _NAME  # a task names its schedule
    if not isinstance(name, str) or not pattern.match(name):
        raise ValueError(
            f"invalid {kind} name {name!r}: use 1-200 characters from letters, digits "
            "and _ . : @ / -"
        )
    return name


@dataclass(slots=True)
class Job:
    """One job: a task's name and packed arguments, and its state in a broker."""

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
    #: what this job does when a parent in depends_on fails, is cancelled or expires:
    #: "fail" (end failed, naming the parent), "cancel" (end cancelled) or "run"
    on_parent_failure: str = "fail"
    expires_at: float | None = None
    progress: float | None = None
    finished_at: float | None = None
    #: deduplication (asynctasq/dedup.py): how ``unique_key`` holds ("until_started",
    #: "throttle", "debounce"; None: until finished) and the window of the last two.
    #: Instructions to ``enqueue``: brokers do not store them on the job
    unique_mode: str | None = None
    unique_for: float | None = None
    #: the flow that added it (FlowProducer, docs/workflows.md) and its name there:
    #: stored in the flow's record (get_flow), not in the job's own
    flow_id: str | None = None
    flow_name: str | None = None

    def __post_init__(self) -> None:
        # every dispatch and every record read passes here: one expression of plain
        # comparisons, which are also False for NaN (and raise TypeError for a string)
        if not (
            0.0 <= self.run_at <= MAX_EPOCH
            and 0.0 <= self.created_at <= MAX_EPOCH
            and -INT32_MAX <= self.priority <= INT32_MAX
            and 1 <= self.max_attempts <= INT32_MAX
            and self.attempts >= 0
            and (self.timeout is None or 0.0 < self.timeout <= MAX_SECONDS)
            and (self.lease_until is None or 0.0 <= self.lease_until <= MAX_EPOCH)
            and (self.expires_at is None or 0.0 <= self.expires_at <= MAX_EPOCH)
            and (self.finished_at is None or 0.0 <= self.finished_at <= MAX_EPOCH)
            and (self.progress is None or 0.0 <= self.progress <= 1.0)
            and self.on_parent_failure in PARENT_POLICIES
            and (self.unique_mode is None or _unique_ok(self))
        ):
            _refuse(self)

    def copy(self) -> Job:
        """A shallow copy, ten times cheaper than ``dataclasses.replace`` (drivers
        copy every job they hand out)."""
        return _copy_job(self)

    @classmethod
    def unchecked(cls, **fields: Any) -> Job:
        """A Job holding ``fields`` as given, without the checks of the constructor:
        for drivers reading back what they stored (checked when it was dispatched), and
        for records damaged at rest, which a driver must hold to dead-letter them. Every
        field must be given, except those added after a driver's storage format
        (``_LATER_FIELDS``), which take their defaults."""
        return _unchecked(**fields)


def _refuse(job: Job) -> None:
    """Raise the ValueError that names the first bad number of ``job`` (off the hot path)."""
    check_epoch("Job.run_at", job.run_at)
    check_epoch("Job.created_at", job.created_at)
    check_priority("Job.priority", job.priority)
    check_attempts("Job.max_attempts", job.max_attempts)
    if job.attempts < 0:
        raise ValueError(f"Job.attempts={job.attempts!r} is not valid: expected a count >= 0")
    if job.timeout is not None:
        check_seconds("Job.timeout", job.timeout, positive=True)
    for name in ("lease_until", "expires_at", "finished_at"):
        value = getattr(job, name)
        if value is not None:
            check_epoch(f"Job.{name}", value)
    if job.progress is not None and not 0.0 <= job.progress <= 1.0:
        raise ValueError(f"Job.progress={job.progress!r} is not valid: expected 0.0 to 1.0")
    parent_policy(job.on_parent_failure)
    if job.unique_mode is not None and not _unique_ok(job):
        raise ValueError(
            f"Job.unique_mode={job.unique_mode!r} with unique_for={job.unique_for!r} is not "
            "valid: until_started (no window), throttle or debounce (a window > 0), "
            "with a unique_key"
        )
    raise ValueError(f"job {job.id}: a number is out of range")  # not reached


_WINDOWED = frozenset({"throttle", "debounce"})


def _unique_ok(job: Job) -> bool:
    """A job's deduplication mode is one a broker stores (dedup.STORED_MODES), its
    window given exactly when the mode has one, and it has a key."""
    window = job.unique_for
    if job.unique_key is None:
        return False
    if job.unique_mode in _WINDOWED:
        return window is not None and 0.0 < window <= MAX_SECONDS
    return job.unique_mode == "until_started" and window is None


def _compile_copy() -> Callable[[Job], Job]:
    # straight-line attribute copies: no loop, no getattr, no __init__ defaults
    lines = [f"    new.{name} = job.{name}" for name in Job.__slots__]
    source = "def copy(job):\n    new = _new(Job)\n" + "\n".join(lines) + "\n    return new\n"
    namespace: dict[str, Any] = {"_new": object.__new__, "Job": Job}
    exec(source, namespace)
    copy: Callable[[Job], Job] = namespace["copy"]
    return copy


_copy_job = _compile_copy()
# the method is the compiled copy itself: one call per job handed out, not two
_copy_job.__doc__ = Job.copy.__doc__
Job.copy = _copy_job  # type: ignore[method-assign,assignment]


#: fields drivers may leave out of Job.unchecked(): added after their storage formats
_LATER_FIELDS = {
    "on_parent_failure": '"fail"',
    "unique_mode": "None",
    "unique_for": "None",
    "flow_id": "None",
    "flow_name": "None",
}


def _with_defaults(names: tuple[str, ...]) -> list[str]:
    return [f"{n}={_LATER_FIELDS[n]}" if n in _LATER_FIELDS else n for n in names]


def _compile_unchecked() -> Callable[..., Job]:
    names = Job.__slots__
    lines = [f"    new.{name} = {name}" for name in names]
    source = (
        f"def unchecked(*, {', '.join(_with_defaults(names))}):\n    new = _new(Job)\n"
        + "\n".join(lines)
        + "\n    return new\n"
    )
    namespace: dict[str, Any] = {"_new": object.__new__, "Job": Job}
    exec(source, namespace)
    build: Callable[..., Job] = namespace["unchecked"]
    return build


_unchecked = _compile_unchecked()


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
    """The job ran and returned ``result`` (packed; None: no result kept)."""

    result: bytes | None = None


def _completed_builder() -> Callable[[str, str, int, str, bytes | None], Completed]:
    # a frozen dataclass sets each field through object.__setattr__ in its __init__
    # (1.4 µs for a Completed); the worker builds one per job: each slot's own setter
    new = object.__new__
    fields = ("job_id", "worker_id", "attempt", "queue", "result")
    set_job_id, set_worker_id, set_attempt, set_queue, set_result = (
        getattr(Completed, name).__set__ for name in fields
    )

    def completed(
        job_id: str, worker_id: str, attempt: int, queue: str, result: bytes | None
    ) -> Completed:
        outcome: Completed = new(Completed)
        set_job_id(outcome, job_id)
        set_worker_id(outcome, worker_id)
        set_attempt(outcome, attempt)
        set_queue(outcome, queue)
        set_result(outcome, result)
        return outcome

    return completed


#: ``Completed(job_id, worker_id, attempt, queue=queue, result=result)``, built faster
new_completed = _completed_builder()


@dataclass(frozen=True, slots=True)
class Retried(Outcome):
    """The attempt failed with ``error``; the job runs again at ``run_at``."""

    run_at: float = 0.0
    error: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.run_at <= MAX_EPOCH:  # a NaN here was a lost job on Redis
            check_epoch("Retried.run_at", self.run_at)


@dataclass(frozen=True, slots=True)
class Failed(Outcome):
    """The job failed for good with ``error``: dead-lettered."""

    error: str = ""


@dataclass(frozen=True, slots=True)
class Released(Outcome):
    """Back to pending, the attempt not counted: at once (graceful shutdown), or at
    ``run_at`` when given (a rate limit: the job waits for its next token)."""

    run_at: float | None = None

    def __post_init__(self) -> None:
        if self.run_at is not None and not 0.0 <= self.run_at <= MAX_EPOCH:
            check_epoch("Released.run_at", self.run_at)


@dataclass(frozen=True, slots=True)
class QueueStats:
    """How many jobs of one queue are in each state, and whether it is paused."""

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
class Recovery:
    """What one ``recover_expired()`` call moved: how many jobs whose lease lapsed went
    back to pending, and the records of those it dead-lettered (their last attempt's
    lease lapsed), so the worker can run their ``failed`` hooks."""

    requeued: int = 0
    dead: tuple[Job, ...] = ()

    @property
    def moved(self) -> int:
        return self.requeued + len(self.dead)


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One live worker, as it registered with its broker and last renewed."""

    worker_id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    active: int = 0
    started_at: float = 0.0
    last_seen: float = 0.0
    #: the id of the supervisor that started this worker (``--processes N``): the
    #: workers of one supervisor are one group, on one host. None: a worker alone
    supervisor: str | None = None
