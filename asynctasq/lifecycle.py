"""The job lifecycle, defined once: every state and every allowed transition.

This table is the specification. The in-memory driver (``drivers/memory``) is its
reference implementation and checks each change it makes against it; every other
broker is held to the same behaviour by the lifecycle model test
(``asynctasq.testing.conformance``), which drives random operations against a broker
and the reference side by side. ``docs/concepts.md`` shows it as a diagram
(``python -m asynctasq.lifecycle`` prints it; a test keeps the two in step).

States are the ones callers see. ``scheduled`` is a pending job whose ``run_at`` is
still in the future: brokers may store it as pending and report it as scheduled
(``jobs.visible_state``). ``None`` stands for "no such job": the source of a new job,
the target of a job that is deleted.

A feature that adds a state or a transition adds rows here, makes the memory driver
do it, and passes the same model test on every broker.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from asynctasq.jobs import JobState

__all__ = [
    "TRANSITIONS",
    "IllegalTransition",
    "JobEvent",
    "Transition",
    "check",
    "document",
    "mermaid",
    "table_markdown",
    "targets",
]


class JobEvent(StrEnum):
    """What moves a job: an operation on the broker, or time passing."""

    ENQUEUE = "enqueue"  # a producer stores a new job
    DUE = "due"  # a scheduled job's run_at arrives (time, not an operation)
    CLAIM = "claim"  # reserve(): a worker takes it under a lease
    COMPLETE = "complete"  # settle(Completed)
    RETRY = "retry"  # settle(Retried): back to waiting with a new run_at
    FAIL = "fail"  # settle(Failed): dead-lettered
    RELEASE = "release"  # settle(Released): back at once, the attempt not counted
    LAPSE = "lapse"  # recover(): the lease ran out (worker died or hung)
    CANCEL = "cancel"  # an operator or the app cancels it
    REQUEUE = "requeue"  # an operator puts a finished job back (attempts reset)
    PURGE = "purge"  # an operator deletes it
    # -- dependencies (workflows, issue 15) --
    UNBLOCK = "unblock"  # its last unfinished parent completes (in that parent's settle)
    PARENT_FAILED = "parent_failed"  # a parent ended failed, cancelled, expired or removed
    # -- flow control (issue 16) --
    EXPIRE = "expire"  # the expiry sweep (Expiry.sweep_expired): time passing
    DEBOUNCE = "debounce"  # a duplicate dispatch (unique_mode="debounce") moves it on


S = JobState
_WAITING = (S.PENDING, S.SCHEDULED)
_DEAD = (S.FAILED, S.CANCELLED, S.EXPIRED)


@dataclass(frozen=True, slots=True)
class Transition:
    event: JobEvent
    source: JobState | None  # None: the job does not exist yet
    target: JobState | None  # None: the job is deleted
    when: str  # the guard, in words (the model test and the docs read it)


def _rows(
    event: JobEvent,
    sources: tuple[JobState | None, ...],
    target: JobState | None,
    when: str,
) -> list[Transition]:
    return [Transition(event, source, target, when) for source in sources]


# -- dependencies (workflows, issue 15): a job with unfinished parents is blocked -----
_DEPENDENCY_ROWS: tuple[Transition, ...] = (
    *_rows(JobEvent.ENQUEUE, (None,), S.BLOCKED, "a parent in depends_on has not completed"),
    *_rows(
        JobEvent.ENQUEUE,
        (None,),
        S.FAILED,
        "a parent already ended failed/cancelled/expired; on_parent_failure='fail'",
    ),
    *_rows(
        JobEvent.ENQUEUE,
        (None,),
        S.CANCELLED,
        "a parent already ended failed/cancelled/expired; on_parent_failure='cancel'",
    ),
    *_rows(
        JobEvent.UNBLOCK,
        (S.BLOCKED,),
        S.PENDING,
        "its last unfinished parent completes (atomically with that parent's settle)",
    ),
    *_rows(
        JobEvent.UNBLOCK, (S.BLOCKED,), S.SCHEDULED, "as pending, and its run_at is in the future"
    ),
    *_rows(
        JobEvent.PARENT_FAILED,
        (S.BLOCKED,),
        S.FAILED,
        "on_parent_failure='fail' (the default); the error names the parent; cascades",
    ),
    *_rows(
        JobEvent.PARENT_FAILED,
        (S.BLOCKED,),
        S.CANCELLED,
        "on_parent_failure='cancel'; cascades",
    ),
    *_rows(
        JobEvent.PARENT_FAILED,
        (S.BLOCKED,),
        S.PENDING,
        "on_parent_failure='run' and no other parent is unfinished",
    ),
    *_rows(JobEvent.CANCEL, (S.BLOCKED,), S.CANCELLED, "its dependants follow their policy"),
    *_rows(JobEvent.PURGE, (S.BLOCKED,), None, "its dependants end as if it failed"),
)

TRANSITIONS: tuple[Transition, ...] = (
    *_rows(JobEvent.ENQUEUE, (None,), S.PENDING, "run_at is now or past"),
    *_rows(JobEvent.ENQUEUE, (None,), S.SCHEDULED, "run_at is in the future"),
    *_rows(JobEvent.DUE, (S.SCHEDULED,), S.PENDING, "its run_at arrives"),
    *_rows(
        JobEvent.CLAIM,
        (S.PENDING,),
        S.ACTIVE,
        "its queue is not paused; lowest priority value, then oldest run_at, then id; "
        "attempts + 1; leased to the worker",
    ),
    # -- flow control (issue 16, docs/flow-control.md) --
    *_rows(
        JobEvent.CLAIM,
        (S.PENDING,),
        S.EXPIRED,
        "its expires_at (run_at + ttl) has passed: never handed out; attempts unchanged",
    ),
    *_rows(
        JobEvent.EXPIRE,
        _WAITING,
        S.EXPIRED,
        "the expiry sweep finds its expires_at passed (sweep_expired, on the worker's "
        "maintenance tick); attempts unchanged",
    ),
    *_rows(
        JobEvent.CANCEL,
        (S.ACTIVE,),
        S.CANCELLED,
        "cancel_running (RunningCancellation): lease withdrawn; the worker's outcome is refused",
    ),
    *_rows(
        JobEvent.DEBOUNCE,
        _WAITING,
        S.SCHEDULED,
        "a duplicate dispatch (Deduplication, unique_mode='debounce') replaces its payload; "
        "run_at = the duplicate's (now + unique_for)",
    ),
    *_rows(
        JobEvent.DEBOUNCE,
        _WAITING,
        S.PENDING,
        "as scheduled, when the duplicate's run_at is now or past",
    ),
    # --
    *_rows(JobEvent.COMPLETE, (S.ACTIVE,), S.COMPLETED, "fenced (worker, attempt); kept"),
    *_rows(
        JobEvent.COMPLETE,
        (S.ACTIVE,),
        None,
        "fenced (worker, attempt); completed jobs are not kept",
    ),
    *_rows(JobEvent.RETRY, (S.ACTIVE,), S.SCHEDULED, "fenced; run_at in the future"),
    *_rows(JobEvent.RETRY, (S.ACTIVE,), S.PENDING, "fenced; run_at now or past"),
    *_rows(JobEvent.FAIL, (S.ACTIVE,), S.FAILED, "fenced"),
    *_rows(JobEvent.RELEASE, (S.ACTIVE,), S.PENDING, "fenced; attempts - 1"),
    *_rows(
        JobEvent.RELEASE,
        (S.ACTIVE,),
        S.SCHEDULED,
        "fenced; attempts - 1; back later (run_at given: a rate limit's next token, "
        "a full concurrency key)",
    ),
    *_rows(JobEvent.LAPSE, (S.ACTIVE,), S.PENDING, "lease_until passed; attempts < max_attempts"),
    *_rows(
        JobEvent.LAPSE,
        (S.ACTIVE,),
        S.FAILED,
        "lease_until passed; attempts >= max_attempts (error: LeaseExpired)",
    ),
    *_rows(JobEvent.CANCEL, _WAITING, S.CANCELLED, "it has not started"),
    *_DEPENDENCY_ROWS,
    *_rows(JobEvent.REQUEUE, _DEAD, S.PENDING, "attempts reset to 0; its unique key free"),
    *_rows(
        JobEvent.PURGE,
        (S.PENDING, S.SCHEDULED, S.COMPLETED, *_DEAD),
        None,
        "in the state purged (and finished before older_than)",
    ),
)


def _index() -> dict[tuple[JobEvent, JobState | None], frozenset[JobState | None]]:
    found: dict[tuple[JobEvent, JobState | None], set[JobState | None]] = defaultdict(set)
    for row in TRANSITIONS:
        found[row.event, row.source].add(row.target)
    return {key: frozenset(value) for key, value in found.items()}


_TARGETS = _index()


class IllegalTransition(AssertionError):
    """A broker moved a job in a way the lifecycle table does not allow (a bug)."""


def targets(event: JobEvent, source: JobState | None) -> frozenset[JobState | None]:
    """Where ``event`` may take a job in ``source`` (empty: the event does not apply)."""
    return _TARGETS.get((event, source), frozenset())


def check(event: JobEvent, source: JobState | None, target: JobState | None) -> None:
    """Raise :class:`IllegalTransition` unless the table allows this move."""
    if target not in _TARGETS.get((event, source), ()):
        raise IllegalTransition(
            f"{event.value}: {source and source.value} -> {target and target.value} "
            "is not in the lifecycle table (asynctasq/lifecycle.py)"
        )


def mermaid() -> str:
    """The table as a Mermaid state diagram (docs/concepts.md embeds this text)."""
    lines = ["stateDiagram-v2"]
    seen: set[tuple[str, str, str]] = set()
    for row in TRANSITIONS:
        source = "[*]" if row.source is None else row.source.value
        target = "[*]" if row.target is None else row.target.value
        if (source, target, row.event) in seen:
            continue
        seen.add((source, target, row.event))
        lines.append(f"    {source} --> {target}: {row.event.value}")
    return "\n".join(lines) + "\n"


def table_markdown() -> str:
    """The table as Markdown rows (docs/concepts.md embeds this text)."""
    lines = ["| event | from | to | when |", "|---|---|---|---|"]
    for row in TRANSITIONS:
        source = "(new)" if row.source is None else f"`{row.source.value}`"
        target = "(deleted)" if row.target is None else f"`{row.target.value}`"
        lines.append(f"| {row.event.value} | {source} | {target} | {row.when} |")
    return "\n".join(lines) + "\n"


def document() -> str:
    """The diagram and the rows, as docs/concepts.md shows them."""
    return f"```mermaid\n{mermaid()}```\n\n{table_markdown()}"


if __name__ == "__main__":  # pragma: no cover - a docs helper
    print(document(), end="")
