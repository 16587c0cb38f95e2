"""Exceptions users see and may raise."""

from __future__ import annotations

__all__ = [
    "AsyncTasqError",
    "ModelNotFound",
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


class ModelNotFound(PermanentError):
    """A model instance passed to a task has no row any more (deleted after dispatch).

    Not retried by default; a task's ``should_retry`` can say otherwise."""

    def __init__(self, model: str, key: object, *more_keys: object) -> None:
        keys = (key, *more_keys)
        shown = ", ".join(repr(k) for k in keys[:10]) + (", ..." if len(keys) > 10 else "")
        plural = "s" if len(keys) > 1 else ""
        super().__init__(
            f"{model} with primary key{plural} {shown} no longer exists "
            "(deleted after the job was dispatched?)"
        )
        self.model = model
        self.key = key
        self.keys = keys

    def __reduce__(self) -> tuple[type[ModelNotFound], tuple[object, ...]]:
        return type(self), (self.model, *self.keys)  # crosses the process pool as itself


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
