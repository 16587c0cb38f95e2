"""The in-memory broker's dependency bookkeeping: the reference the other brokers'
scripts and transactions follow (see drivers/dependencies.py for the rules).

Everything here runs inside one broker call with no await in between, so a parent's
settle and its children's release are one atomic step, as a Lua script or a SQL
transaction makes them on the other brokers.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable

from asynctasq.drivers.dependencies import (
    OUTCOME_RETENTION,
    UnknownParent,
    parent_failed_reason,
)
from asynctasq.jobs import Job, JobState

__all__ = ["DependencyGraph"]


class DependencyGraph:
    """Which blocked job waits on which parents, and the outcomes of completed jobs
    that were not kept."""

    def __init__(self, jobs: dict[str, Job]) -> None:
        self.jobs = jobs
        self.children: dict[str, list[str]] = {}  # parent id -> blocked children
        self.waiting_on: dict[str, set[str]] = {}  # blocked child -> unfinished parents
        #: completed jobs that were deleted (keep_completed off): id -> finished_at
        self.completed: OrderedDict[str, float] = OrderedDict()
        self.retention = OUTCOME_RETENTION
        #: the results of those (the Results capability), while they are remembered
        self.results: dict[str, bytes] = {}

    # -- at enqueue ----------------------------------------------------------------------

    def check_known(self, job: Job, batch: set[str]) -> None:
        for parent in job.depends_on:
            if parent not in batch and parent not in self.jobs and parent not in self.completed:
                raise UnknownParent(job.id, parent)

    def link(self, job: Job) -> tuple[str, str] | None:
        """Register a stored job's unfinished parents (it becomes blocked when any is
        left); the first parent that already ended badly, with how, if any."""
        waiting: set[str] = set()
        ended: tuple[str, str] | None = None
        for parent in job.depends_on:
            state = self._finished_state(parent)
            if state is JobState.COMPLETED:
                continue
            if state is None:
                waiting.add(parent)
            elif ended is None and job.on_parent_failure != "run":
                ended = (parent, state.value)
        if ended is not None:
            return ended
        if waiting:
            job.state = JobState.BLOCKED
            self.waiting_on[job.id] = waiting
            for parent in waiting:
                self.children.setdefault(parent, []).append(job.id)
        return None

    def _finished_state(self, job_id: str) -> JobState | None:
        job = self.jobs.get(job_id)
        if job is None:
            return JobState.COMPLETED  # remembered in self.completed (checked at enqueue)
        return job.state if job.state.finished else None

    # -- when a job ends -----------------------------------------------------------------

    def remember_completed(self, job_id: str, now: float, result: bytes | None = None) -> None:
        """A completed job that is deleted: remembered (with its result) while a
        child or a result waiter may name it (until :meth:`forget_completed`)."""
        completed = self.completed
        if job_id in completed:  # (a new key goes last by itself)
            completed.move_to_end(job_id)
        completed[job_id] = now
        if result is not None:
            self.results[job_id] = result

    def forget_completed(self, now: float) -> None:
        """Forget the completions older than the retention: once per settle, after
        its :meth:`remember_completed` calls (oldest first, so it stops at the first
        one to keep)."""
        completed = self.completed
        horizon = now - self.retention
        while completed and next(iter(completed.values())) < horizon:
            forgotten, _ = completed.popitem(last=False)
            self.results.pop(forgotten, None)

    def ended(
        self,
        job_id: str,
        how: str,
        release: Callable[[Job], None],
        unfinish: Callable[[Job], None],
        now: float,
    ) -> None:
        """``job_id`` ended (``how``: a finished state's value, or "removed"): release
        the children it was the last unfinished parent of, and end the others by their
        policy, down the DAG. ``release`` makes a job pending; ``unfinish`` frees its
        unique key."""
        todo = deque([(job_id, how)])
        while todo:
            parent, parent_end = todo.popleft()
            for child_id in self.children.pop(parent, ()):
                child = self.jobs.get(child_id)
                waiting = self.waiting_on.get(child_id)
                if child is None or child.state is not JobState.BLOCKED or waiting is None:
                    continue
                if parent_end == JobState.COMPLETED.value or child.on_parent_failure == "run":
                    waiting.discard(parent)
                    if not waiting:
                        del self.waiting_on[child_id]
                        release(child)
                    continue
                self.forget(child_id)
                end_child(child, parent, parent_end, now, unfinish)
                todo.append((child_id, child.state.value))

    def ended_at_enqueue(
        self, job: Job, parent: str, parent_end: str, unfinish: Callable[[Job], None], now: float
    ) -> None:
        """A job dispatched after a parent already ended badly: its policy, at once."""
        end_child(job, parent, parent_end, now, unfinish)

    def forget(self, job_id: str) -> None:
        """A blocked job leaves the graph as a child (cancelled, ended, removed)."""
        for parent in self.waiting_on.pop(job_id, ()):
            siblings = self.children.get(parent)
            if siblings is not None and job_id in siblings:
                siblings.remove(job_id)


def end_child(
    child: Job, parent: str, parent_end: str, now: float, unfinish: Callable[[Job], None]
) -> None:
    """End a child by its policy ("fail" or "cancel") after ``parent`` ended badly."""
    unfinish(child)
    child.state = JobState.CANCELLED if child.on_parent_failure == "cancel" else JobState.FAILED
    child.error = parent_failed_reason(parent, parent_end)
    child.finished_at = now
