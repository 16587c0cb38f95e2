"""What ``dispatch()`` returns: the job's id, which can also wait for its result.

A ``JobHandle`` *is* the id (a ``str``): code that stores, compares or prints job ids
keeps working. ``await handle.result(timeout=...)`` waits for the job to finish on
the broker it was sent to and returns its result, or raises ``JobFailedError``
(docs/workflows.md, "Results").
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

__all__ = ["JobHandle"]

T = TypeVar("T")


class JobHandle(str, Generic[T]):
    """A job id that can wait for the job's result."""

    _backend: Any

    def __new__(cls, job_id: str, backend: Any = None) -> JobHandle[T]:
        self = super().__new__(cls, job_id)
        self._backend = backend
        return self

    @property
    def id(self) -> str:
        return str(self)

    async def result(self, timeout: float | None = None) -> T:
        """The job's return value once it completed (``None`` waits without limit);
        ``JobFailedError`` when it was dead-lettered, cancelled or expired,
        ``ResultTimeoutError`` after ``timeout`` seconds."""
        # the front door: results sit above tasks (they read the broker)
        from asynctasq import _await_result

        value: T = await _await_result(str(self), self._backend, timeout)
        return value

    def __reduce__(self) -> Any:  # pickles (and copies) as the plain id
        return (str, (str(self),))
