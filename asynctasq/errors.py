"""Exceptions users see and may raise."""

from __future__ import annotations

import shlex

__all__ = [
    "AsyncTasqError",
    "DecodeError",
    "JobFailedError",
    "LeaseExpiredError",
    "ModelNotFound",
    "PayloadLimitError",
    "PermanentError",
    "PoisonJobError",
    "ProcessCrashedError",
    "RemoteTaskError",
    "ResultTimeoutError",
    "ResultUnavailableError",
    "SerializationError",
    "TaskDefinitionError",
    "TaskTimeoutError",
    "UndecodablePayloadError",
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


class SerializationError(AsyncTasqError, TypeError):
    """A value cannot travel as a job's payload, or bytes cannot be read back as one.

    The base of every serialization failure: catch it to handle them all. Encoding
    raises it (or ``PayloadLimitError``); decoding raises ``DecodeError``. It stays a
    TypeError, as it was before the hierarchy existed."""


class DecodeError(SerializationError, ValueError):
    """Bytes that are not a payload this process can decode: garbage, a truncated
    record, an unknown extension type, or data over the depth or size limit."""


class PayloadLimitError(SerializationError, ValueError):
    """A value nested too deeply, or a payload too large, to be sent (refused at
    dispatch). ``limit`` is the limit crossed, ``setting`` the Config field that
    raises it."""

    def __init__(self, message: str, *, limit: int, setting: str) -> None:
        super().__init__(message)
        self.limit = limit
        self.setting = setting


class UndecodablePayloadError(PoisonJobError, DecodeError):
    """A job whose payload cannot be decoded: dead-lettered with this reason. Both a
    PoisonJobError (for the worker) and a DecodeError (for callers of decode_payload)."""


class UnknownTaskError(PoisonJobError):
    def __init__(self, task: str, *, waited: float | None = None, queue: str | None = None) -> None:
        """``waited``: seconds its job waited for a worker that knows the task before
        it was dead-lettered (ASYNCTASQ_UNKNOWN_TASK_GRACE); ``queue``: its queue, for
        the command that requeues them."""
        after = ""
        if waited is not None:  # (never for a damaged name: it is dead-lettered at once)
            where = "" if queue is None else f" --queue {shlex.quote(str(queue))}"
            after = (
                f" The job waited {waited:.0f}s for a worker that knows it; once the "
                "workers import it, requeue the dead-lettered jobs: asynctasq job retry "
                f"--all --state failed{where} --task {shlex.quote(str(task))}"
            )
        super().__init__(
            f"unknown task {task!r}: this worker has not registered it. Import the module "
            "that defines it (--import / ASYNCTASQ_TASK_MODULES), or allow it in "
            f"ASYNCTASQ_TASK_ALLOW_LIST.{after}"
        )
        self.task = task


class TaskTimeoutError(AsyncTasqError, TimeoutError):
    """The job ran longer than its ``timeout``; counts as a failed attempt."""


class LeaseExpiredError(AsyncTasqError):
    """Given to a task's ``failed`` hook when crash recovery dead-letters its job: the
    worker running its last attempt stopped renewing its lease."""

    def __init__(self, attempts: int) -> None:
        super().__init__(
            f"the worker running its last attempt (attempt {attempts}) stopped renewing "
            "its lease (killed, crashed or hung); no attempts are left. Raise max_attempts "
            "if the job may run again after a crash, and give a job that can hang a timeout"
        )
        self.attempts = attempts


class ProcessCrashedError(AsyncTasqError):
    """The pool process running the job died (os._exit, a signal, out of memory)."""


class RemoteTaskError(AsyncTasqError):
    """An exception raised in a pool process that could not be sent back as itself."""

    def __init__(self, type_name: str, message: str, traceback: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.remote_traceback = traceback


# -- results (docs/workflows.md) -------------------------------------------------------


class JobFailedError(AsyncTasqError):
    """What ``results.get`` / ``handle.result()`` raise for a job that did not complete:
    it was dead-lettered (``state`` "failed"), cancelled or expired. ``error`` is the
    stored error text (first line ``Type: message``, then the traceback);
    ``error_type`` the exception's type name read from it."""

    def __init__(self, job_id: str, state: str, error: str | None) -> None:
        self.job_id, self.state, self.error = job_id, state, error or ""
        head = self.error.split("\n", 1)[0]
        name = head.split(":", 1)[0] if ":" in head else ""
        self.error_type = name if name.replace(".", "").replace("_", "").isalnum() else ""
        super().__init__(f"job {job_id} ended {state}" + (f": {head}" if head else ""))


class ResultTimeoutError(AsyncTasqError, TimeoutError):
    """The job did not finish within the ``timeout`` given to ``results.get``."""

    def __init__(self, job_id: str, timeout: float, state: str) -> None:
        super().__init__(f"job {job_id} did not finish within {timeout:g} s (it is {state})")
        self.job_id, self.timeout, self.state = job_id, timeout, state


class ResultUnavailableError(AsyncTasqError, LookupError):
    """The broker knows no such job: never stored (an enqueue rolled back), or it
    finished longer ago than the result retention (Config.result_retention)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"job {job_id} is not known to the broker: never stored, or it finished longer "
            "ago than the result retention (ASYNCTASQ_RESULT_RETENTION)"
        )
        self.job_id = job_id
