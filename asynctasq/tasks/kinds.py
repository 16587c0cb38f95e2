"""The four kinds of task: where ``execute()`` runs.

=================  ==============  =========================================
kind               ``execute``     runs on
=================  ==============  =========================================
AsyncTask          ``async def``   the worker's event loop (I/O-bound)
SyncTask           ``def``         a thread pool (blocking I/O)
AsyncProcessTask   ``async def``   a process pool, an event loop per process
SyncProcessTask    ``def``         a process pool (CPU-bound)
=================  ==============  =========================================
"""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

from asynctasq.errors import TaskDefinitionError
from asynctasq.tasks.base import BaseTask

__all__ = ["AsyncProcessTask", "AsyncTask", "SyncProcessTask", "SyncTask"]

T = TypeVar("T")


class _Kind(BaseTask[T], abstract=True):
    coroutine: bool

    def __init_subclass__(cls, **kw: Any) -> None:
        execute = cls.__dict__.get("execute")
        if execute is not None and inspect.iscoroutinefunction(execute) != cls.coroutine:
            kind = next(k.__name__ for k in cls.__mro__ if k.__module__ == __name__)
            want = "async def execute(self)" if cls.coroutine else "def execute(self)"
            other = "AsyncTask" if not cls.coroutine else "SyncTask"
            raise TaskDefinitionError(
                f"{cls.__qualname__} is a {kind}: its body must be `{want}` (or subclass {other})"
            )
        owner = next(k for k in cls.__mro__ if "execute" in k.__dict__)
        if not kw.get("abstract") and owner.__module__.startswith("asynctasq.tasks."):
            raise TaskDefinitionError(f"{cls.__qualname__} must define execute()")
        super().__init_subclass__(**kw)


class AsyncTask(_Kind[T], abstract=True):
    """I/O-bound work as a coroutine on the worker's event loop."""

    executor = "async"
    coroutine = True

    async def execute(self) -> T:
        raise NotImplementedError

    async def failed(self, exception: BaseException) -> None:
        """Runs once when the job is given up."""


class SyncTask(_Kind[T], abstract=True):
    """Blocking work in the worker's thread pool."""

    executor = "thread"
    coroutine = False

    def execute(self) -> T:
        raise NotImplementedError

    def failed(self, exception: BaseException) -> None:
        """Runs once when the job is given up (in the thread pool)."""


class AsyncProcessTask(_Kind[T], abstract=True):
    """A coroutine run in a separate process (CPU work mixed with awaits)."""

    executor = "process"
    coroutine = True

    async def execute(self) -> T:
        raise NotImplementedError

    async def failed(self, exception: BaseException) -> None:
        """Runs once when the job is given up (in the worker, not the pool)."""


class SyncProcessTask(_Kind[T], abstract=True):
    """CPU-bound work in the process pool, away from the event loop and the GIL."""

    executor = "process"
    coroutine = False

    def execute(self) -> T:
        raise NotImplementedError

    def failed(self, exception: BaseException) -> None:
        """Runs once when the job is given up (in the worker's thread pool)."""
