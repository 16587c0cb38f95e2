"""Job dependencies on the SQL brokers, written once for the three dialects.

Storage (migration ``NNNN_dependencies`` of each dialect): a blocked job is stored in
state ``'waiting'`` (the state the schema reserved for it from the start; callers see
``blocked``) with ``blocked_by``, the number of its parents still unfinished; the
``dependencies`` table holds one (parent, child) row per parent a blocked child still
waits on; ``completed`` remembers the ids of completed jobs that were deleted
(``keep_completed`` off) for ``OUTCOME_RETENTION``, so a child dispatched later
finds its parent done.

The steps are *sans-IO* generators: they yield ``(statement name, parameters)`` and
receive the rows (tuples) each statement returned. A dialect runs them inside the
transaction that stores the jobs or settles the parents (``run_sync`` on SQLite's
thread, ``run_async`` on an asyncpg or aiomysql connection), so a child is released
in the same transaction that settles its last parent: no window in which a crash
leaves it blocked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from typing import Any

from asynctasq.drivers.dependencies import (
    OUTCOME_RETENTION,
    REMOVED,
    UnknownParent,
    check_batch,
    parent_failed_reason,
)
from asynctasq.expiry import expired_reason
from asynctasq.jobs import Job, JobState

__all__ = [
    "BLOCKED_STORED",
    "Steps",
    "after_settle",
    "cancel_job",
    "end_dependants",
    "expire_waiting",
    "link_jobs",
    "release_by_edges",
    "remove_job",
    "run_async",
    "run_sync",
    "stored_state",
    "sweep",
]

#: how the SQL brokers store a blocked job (the schema's reserved unfinished state)
BLOCKED_STORED = "waiting"
_UNFINISHED = frozenset({"pending", BLOCKED_STORED, "active"})

Rows = list[Sequence[Any]]
Step = tuple[str, dict[str, Any]]
Steps = Generator[Step, Rows, Any]


def stored_state(state: JobState) -> str:
    """The value a SQL broker stores for ``state``."""
    return BLOCKED_STORED if state is JobState.BLOCKED else state.value


# -- at enqueue, after the jobs are inserted as pending ----------------------------------


def link_jobs(
    jobs: Sequence[Job], stored: Sequence[str], now: float, *, stored_blocked: bool = False
) -> Steps:
    """Block the stored jobs (ids in ``stored``: a job whose unique key was taken was
    not) whose parents are unfinished; end at once those with a parent that already
    failed (by their policy). Raises UnknownParent (the caller's transaction rolls
    back: nothing is stored). ``stored_blocked``: the dialect stored each job with
    parents blocked on all of them (PostgreSQL), so only a job some of whose parents
    have finished is written again (``dep_block`` with fewer, or ``dep_ready``)."""
    check_batch(jobs)
    kept = set(stored)
    batch = {job.id for job in jobs}
    ended: list[tuple[str, str]] = []
    for job in jobs:
        if not job.depends_on or job.id not in kept:
            continue
        waiting, bad = 0, None
        if job.on_parent_failure != "fail":  # the column's default
            yield ("dep_policy", {"id": job.id, "policy": job.on_parent_failure})
        for parent in job.depends_on:
            # mark: a parent stored by another transaction may be settling right now
            # (PostgreSQL marks it, see its queries.sql; the other dialects lock it)
            state_of = {"id": parent, "mark": parent not in batch}
            rows = yield ("dep_parent_state", state_of)
            if not rows or rows[0][0] is None:
                # PostgreSQL: the parent's row lock made this wait for its settle, whose
                # completion only a new statement (a new snapshot) sees
                rows = yield ("dep_parent_state", state_of)
            if not rows or rows[0][0] is None:
                raise UnknownParent(job.id, parent)
            state = rows[0][0]
            if state == JobState.COMPLETED.value:
                continue
            if state in _UNFINISHED:
                link = {"parent_id": parent, "child_id": job.id, "policy": job.on_parent_failure}
                yield ("dep_link", link)
                waiting += 1
            elif bad is None and job.on_parent_failure != "run":
                bad = (parent, state)
        if bad is not None:
            yield ("dep_unlink_child", {"child_id": job.id})
            ended.append((job.id, (yield from _end(job.id, job.on_parent_failure, *bad, now))))
        elif stored_blocked and not waiting:
            yield ("dep_ready", {"id": job.id})
        elif waiting and not (stored_blocked and waiting == len(job.depends_on)):
            yield ("dep_block", {"id": job.id, "blocked_by": waiting})
    yield from end_dependants(ended, now)
    for position, job in enumerate(jobs):  # a flow's record (FlowProducer), in order
        if job.flow_id and job.id in kept:
            row = {"flow_id": job.flow_id, "position": position, "job_id": job.id}
            yield ("flow_add", {**row, "name": job.flow_name, "now": now})


# -- when jobs end ----------------------------------------------------------------------


def after_settle(
    completed: Iterable[str],
    ended: Iterable[tuple[str, str]],
    now: float,
    remember: bool,
    *,
    counted: bool = True,
    results: Mapping[str, bytes | None] | None = None,
) -> Steps:
    """After a settle, in its transaction: the children of ``completed`` parents move
    on (released when it was their last unfinished parent); ``remember``: the parents
    were deleted, so their completion is recorded. ``ended``: (id, how) of parents
    that failed, down the DAG. ``counted``: the dialect keeps ``blocked_by`` (else a
    child is released when no edge names it: MySQL, see release_by_edges).
    ``results``: the completed jobs' results, remembered with them (Results)."""
    completed = list(completed)
    kept = results or {}
    if not counted:
        if completed:
            yield from release_by_edges(completed)
            if remember:
                rows = [(job_id, now, kept.get(job_id)) for job_id in completed]
                yield ("dep_remember_many", {"rows": rows})
    else:
        for parent in completed:
            yield ("dep_release_children", {"parent_id": parent})
            yield ("dep_unlink_parent", {"parent_id": parent})
            if remember:
                yield ("dep_remember", {"id": parent, "now": now, "result": kept.get(parent)})
    yield from end_dependants(list(ended), now)


def release_by_edges(parents: list[str]) -> Steps:
    """Unlink completed ``parents`` and release the children no edge names any more,
    in a few statements per batch, each reaching rows by key (MySQL: an UPDATE with a
    subquery there would lock the whole jobs table)."""
    rows = yield ("dep_children_of", {"ids": parents})
    if not rows:
        return
    children = sorted({row[0] for row in rows})
    # Two settles that complete two parents of one child must not each see the other's
    # edge still there and both leave the child blocked (write skew): the child's row
    # is locked first (in id order: no deadlock between settles), and the edges left
    # are read by a locking read, which sees the latest committed rows.
    yield ("dep_lock_children", {"ids": children})
    yield ("dep_unlink_parents", {"ids": parents})
    still = {row[0] for row in (yield ("dep_still_blocked", {"ids": children}))}
    free = [child for child in children if child not in still]
    if free:
        yield ("dep_unblock", {"ids": free})


def end_dependants(ended: list[tuple[str, str]], now: float) -> Steps:
    """Apply each blocked child's policy to parents that ended badly (``(id, how)``:
    failed, cancelled, expired or removed), and so on down the DAG."""
    while ended:
        parent, how = ended.pop()
        children = yield ("dep_children", {"parent_id": parent})
        yield ("dep_unlink_parent", {"parent_id": parent})
        for child_id, policy in children:
            if policy == "run":
                yield ("dep_parent_done", {"id": child_id})
                continue
            yield ("dep_unlink_child", {"child_id": child_id})
            ended.append((child_id, (yield from _end(child_id, policy, parent, how, now))))


def _end(job_id: str, policy: str, parent: str, how: str, now: float) -> Generator[Step, Rows, str]:
    state = JobState.CANCELLED if policy == "cancel" else JobState.FAILED
    error = parent_failed_reason(parent, how)
    yield ("dep_end", {"id": job_id, "state": state.value, "error": error, "now": now})
    return state.value


# -- running the steps --------------------------------------------------------------------


def run_sync(steps: Steps, execute: Callable[[str, dict[str, Any]], Rows]) -> Any:
    """Drive ``steps`` with a blocking ``execute(name, params) -> rows``; what they
    return."""
    try:
        step = next(steps)
        while True:
            step = steps.send(execute(*step))
    except StopIteration as done:
        return done.value


async def run_async(steps: Steps, execute: Callable[[str, dict[str, Any]], Awaitable[Rows]]) -> Any:
    """Drive ``steps`` with an awaitable ``execute(name, params) -> rows``; what they
    return."""
    try:
        step = next(steps)
        while True:
            step = steps.send(await execute(*step))
    except StopIteration as done:
        return done.value


# -- the expiry sweep (capability Expiry) ----------------------------------------------


def expire_waiting(now: float, limit: int) -> Generator[Step, Rows, int]:
    """Move up to ``limit`` waiting jobs whose ttl ran out to expired (the error says
    when: ``expired_reason``); their dependants follow their policy. How many moved."""
    rows = yield ("expire_candidates", {"now": now, "limit": limit})
    ended: list[tuple[str, str]] = []
    for job_id, expires_at in rows:
        error = expired_reason(float(expires_at))
        yield ("expire_waiting", {"id": job_id, "now": now, "error": error})
        ended.append((job_id, JobState.EXPIRED.value))
    moved = len(ended)
    yield from end_dependants(ended, now)  # (consumes the list)
    return moved


# -- operator actions -------------------------------------------------------------------


def cancel_job(job_id: str, now: float) -> Generator[Step, Rows, bool]:
    """Cancel a job that has not started (pending, scheduled or blocked); its
    dependants follow their policy. False when it is active, finished or unknown."""
    rows = yield ("dep_lock_state", {"id": job_id})
    if not rows or rows[0][0] not in ("pending", BLOCKED_STORED):
        return False
    yield ("dep_unlink_child", {"child_id": job_id})
    yield ("cancel", {"id": job_id, "now": now})
    yield from end_dependants([(job_id, JobState.CANCELLED.value)], now)
    return True


def remove_job(job_id: str, now: float) -> Generator[Step, Rows, bool]:
    """Delete a job that is not active; if it had not finished, its dependants end as
    if it had failed (reason "removed"). False when it is active or unknown."""
    rows = yield ("dep_lock_state", {"id": job_id})
    if not rows or rows[0][0] == JobState.ACTIVE.value:
        return False
    yield ("dep_unlink_child", {"child_id": job_id})
    yield ("remove", {"id": job_id})  # the row is locked and not active: it goes
    if rows[0][0] in _UNFINISHED:
        yield from end_dependants([(job_id, REMOVED)], now)
    return True


def sweep(now: float, *, counted: bool = True, retention: float = OUTCOME_RETENTION) -> Steps:
    """Repair what no settle did: children still linked to parents that completed
    (PostgreSQL: linked while the parent's settle waited), ended badly, or were deleted
    before they finished (purged: the children follow their policy as if it failed);
    and forget completions (and flows whose jobs are all gone) older than the
    retention (``result_retention``)."""
    leftover = [row[0] for row in (yield ("dep_leftover_completed", {}))]
    yield from after_settle(leftover, (), now, False, counted=counted)
    ended = [(row[0], row[1]) for row in (yield ("dep_leftover_ended", {}))]
    ended += [(row[0], REMOVED) for row in (yield ("dep_orphans", {}))]
    yield from end_dependants(ended, now)
    yield ("dep_forget_completed", {"horizon": now - retention})
    yield ("flow_forget", {"horizon": now - retention})
