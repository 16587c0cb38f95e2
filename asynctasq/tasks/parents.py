"""What a child job reads of its parents: ``self.parent_results``.

A mapping of each parent's result, keyed by the parent's job id and also by the
name the parent was given in a flow (``Job(name=...)``). A parent that did not
complete (possible only with ``on_parent_failure="run"``) shows as a
``ParentFailure`` entry instead of a result. ``self.previous_result`` is the
canvas spelling: the result of the previous step of a ``chain``, or the list of
the results of a ``chord``'s group, in order (docs/workflows.md, "Canvas").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from asynctasq.errors import JobFailedError

__all__ = ["EMPTY", "NOT_READ", "ParentFailure", "ParentResults"]


@dataclass(frozen=True, slots=True)
class ParentFailure:
    """A parent that ended without completing (failed, cancelled, expired, removed)."""

    job_id: str
    state: str
    error: str

    def exception(self) -> JobFailedError:
        return JobFailedError(self.job_id, self.state, self.error)

    def __bool__(self) -> bool:  # `if results[x]:` reads a failure as nothing
        return False


class ParentResults(Mapping[str, Any]):
    """Parent results by job id, and by flow name where the flow gave one."""

    __slots__ = ("_by_key", "_order", "_shape")

    def __init__(
        self,
        values: Mapping[str, Any],
        names: Mapping[str, str] | None = None,
        order: tuple[str, ...] = (),
        shape: str = "",
    ) -> None:
        self._by_key = dict(values)
        for job_id, name in (names or {}).items():
            if job_id in values:
                self._by_key[name] = values[job_id]
        self._order = order or tuple(values)
        self._shape = shape

    def __getitem__(self, key: str) -> Any:
        return self._by_key[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    @property
    def in_order(self) -> list[Any]:
        """The results in the order of ``depends_on``."""
        return [self._by_key[job_id] for job_id in self._order if job_id in self._by_key]

    @property
    def previous(self) -> Any:
        """A chord's callback: the list in order; else the single parent's result
        (None without parents; the list when there are several)."""
        values = self.in_order
        if self._shape == "list" or len(values) > 1:
            return values
        return values[0] if values else None

    def readable(self, task: type) -> ParentResults:
        """These results, for a task of class ``task`` to read."""
        return self

    def __repr__(self) -> str:
        return f"ParentResults({self._by_key!r})"


class _NotRead(ParentResults):
    """A child whose parents' results the worker did not read (tasks/parent_use.py)."""

    __slots__ = ()

    def readable(self, task: type) -> ParentResults:
        raise RuntimeError(
            f"{task.__qualname__}: its parents' results were not read before it ran: the "
            "worker reads them for a task whose own methods name parent_results or "
            "previous_result; set reads_parent_results = True on the class when it reads "
            "them another way (docs/workflows.md)"
        )


EMPTY = ParentResults({})
#: ``parent_results`` of a child that never reads them (no round trip for them)
NOT_READ = _NotRead({})
