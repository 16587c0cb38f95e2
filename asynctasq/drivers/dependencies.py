"""What every driver with the Dependencies capability shares: the checks a batch of
jobs passes before any of it is stored, the errors, and the reason a child ends with
when a parent fails.

A job's ``depends_on`` lists its parents. Until every parent has completed the job is
``blocked``; the broker moves it to pending in the same atomic step (script or
transaction) that settles its last parent. A parent that ends any other way (failed,
cancelled, expired, removed) applies the child's ``on_parent_failure``: ``"fail"``
(the default: the child ends ``failed`` with a reason naming the parent), ``"cancel"``
(it ends ``cancelled``) or ``"run"`` (that parent counts as done). A child that ends
is itself a failed parent for its own children: the policy cascades down the DAG.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from asynctasq.drivers.base import DriverError
from asynctasq.jobs import Job, JobState

__all__ = [
    "OUTCOME_RETENTION",
    "DependencyCycle",
    "UnknownParent",
    "check_batch",
    "parent_failed_reason",
]

#: how long a completed job's outcome is remembered for jobs that may still name it
#: as a parent, even when completed jobs are not kept (seconds: 24 h)
OUTCOME_RETENTION = 86_400.0

#: how the end of a parent reads in the child's error
REMOVED = "removed"


class UnknownParent(DriverError, ValueError):
    """A job names a parent the broker does not know (never stored, or forgotten)."""

    def __init__(self, job_id: str, parent_id: str, *, hint: str = "") -> None:
        super().__init__(
            f"job {job_id} depends on {parent_id}, which is not a known job (never "
            "stored, or finished longer ago than the outcome retention"
            + (f"; {hint}" if hint else "")
            + "): nothing was stored"
        )
        self.job_id, self.parent_id = job_id, parent_id


class DependencyCycle(DriverError, ValueError):
    """The jobs of one batch depend on each other in a circle (none could ever run)."""

    def __init__(self, cycle: Sequence[str]) -> None:
        super().__init__(f"these jobs depend on each other in a cycle: {' -> '.join(cycle)}")
        self.cycle = tuple(cycle)


def parent_failed_reason(parent_id: str, parent_end: str) -> str:
    """The error of a child ended by its parent's end (``failed``, ``cancelled``...)."""
    return f"ParentFailed: parent job {parent_id} ended {parent_end}; this job did not run"


def check_batch(jobs: Sequence[Job]) -> None:
    """Refuse, before anything is stored, a job that depends on itself and a cycle
    among the jobs of the batch (parents outside it are the broker's to find)."""
    edges = {job.id: job.depends_on for job in jobs if job.depends_on}
    for job_id, parents in edges.items():
        if job_id in parents:
            raise DependencyCycle([job_id, job_id])
    done: set[str] = set()
    for start in edges:
        _walk(start, edges, done)


def _walk(start: str, edges: dict[str, tuple[str, ...]], done: set[str]) -> None:
    # an iterative depth-first search (a chain of thousands of jobs must not recurse)
    path: list[str] = [start]
    on_path = {start}
    stack: list[Iterator[str]] = [iter(edges.get(start, ()))]
    while stack:
        parent = next(stack[-1], None)
        if parent is None:
            stack.pop()
            done.add(finished := path.pop())
            on_path.discard(finished)
            continue
        if parent in on_path:
            raise DependencyCycle([*path[path.index(parent) :], parent])
        if parent in done or parent not in edges:
            continue
        path.append(parent)
        on_path.add(parent)
        stack.append(iter(edges[parent]))


def ended_badly(state: JobState) -> bool:
    """A finished parent that did not complete."""
    return state.finished and state is not JobState.COMPLETED
