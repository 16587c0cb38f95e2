"""Exceptions users see and may raise."""

from __future__ import annotations

__all__ = [
    "AsyncTasqError",
    "PermanentError",
    "PoisonJobError",
    "ProcessCrashedError",
    "RemoteTaskError",
    "TaskDefinitionError",
    "TaskTimeoutError",
    "UnknownTaskError",
]


class AsyncTasqError(Exception):
    """Base of asynctasq's own errors."""


class TaskDefinitionError(AsyncTasqError, TypeError):
    """A task class is declared in a way asynctasq cannot run."""


class PermanentError(AsyncTasqError):
    """Raise it (or a subclass) from a task to fail the job without retrying."""


class PoisonJobError(PermanentError):
    """The job cannot even be started: undecodable payload, unknown task, or
    arguments that no longer match the task class. It goes to the dead-letter state."""


class UnknownTaskError(PoisonJobError):
    def __init__(self, task: str) -> None:
        super().__init__(
            f"unknown task {task!r}: this worker has not registered it. Import the module "
            "that defines it (--import / ASYNCTASQ_TASK_MODULES), or allow it in "
            "ASYNCTASQ_TASK_ALLOW_LIST"
        )
        self.task = task


class TaskTimeoutError(AsyncTasqError, TimeoutError):
    """The job ran longer than its ``timeout``; counts as a failed attempt."""


class ProcessCrashedError(AsyncTasqError):
    """The pool process running the job died (os._exit, a signal, out of memory)."""


class RemoteTaskError(AsyncTasqError):
    """An exception raised in a pool process that could not be sent back as itself."""

    def __init__(self, type_name: str, message: str, traceback: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.remote_traceback = traceback
