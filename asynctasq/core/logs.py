"""Log set-up for the worker CLI, and the job context every record carries.

While a job runs, each log record (asynctasq's and the task's own loggers alike)
gets ``task_id``, ``task_name``, ``queue``, ``attempt`` and ``worker_id``: the job
runner sets them in a context variable, which follows the job into its asyncio task
and into the thread pool. Records outside a job carry the ``worker_id``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

from asynctasq.core.logs_redaction import RedactingFilter
from asynctasq.jobs import Job

__all__ = [
    "JobContextFilter",
    "TextFormatter",
    "configure_logging",
    "enter_job_context",
    "job_logging_context",
    "leave_job_context",
    "log_context",
    "worker_logging_context",
]

# replaced, never mutated: a copied context must not see later changes
_NONE: Mapping[str, Any] = MappingProxyType({})
_context: ContextVar[Mapping[str, Any]] = ContextVar("asynctasq_log_context", default=_NONE)


def log_context() -> Mapping[str, Any]:
    """The fields added to records logged here and now."""
    return _context.get()


# the workers running in this process, latest last: names the worker on records
# from threads that carry no context (run_in_executor copies none)
_workers: list[str] = []


@contextlib.contextmanager
def worker_logging_context(worker_id: str) -> Iterator[None]:
    """Records logged inside (and from tasks started inside) name this worker."""
    _workers.append(worker_id)
    token = _context.set({"worker_id": worker_id})
    try:
        yield
    finally:
        _reset(token)
        _workers.remove(worker_id)


def _reset(token: Token[Mapping[str, Any]]) -> None:
    try:  # not contextlib.suppress: this runs for every job, and try costs nothing
        _context.reset(token)
    except ValueError:  # a token of another context: nothing to undo
        pass


@contextlib.contextmanager
def job_logging_context(job: Job, worker_id: str) -> Iterator[None]:
    token = enter_job_context(job, worker_id)
    try:
        yield
    finally:
        _reset(token)


def enter_job_context(job: Job, worker_id: str) -> Token[Mapping[str, Any]]:
    """``job_logging_context`` without the context manager (on every job's path, where
    a generator-based one costs a microsecond): undo with ``leave_job_context``."""
    return _context.set(
        {
            "worker_id": worker_id,
            "task_id": job.id,
            "task_name": job.task,
            "queue": job.queue,
            "attempt": job.attempts,
        }
    )


leave_job_context = _reset


class JobContextFilter(logging.Filter):
    """Adds the job context to each record (a field the caller set wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        if not context and _workers:
            context = {"worker_id": _workers[-1]}
        for key, value in context.items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


class TextFormatter(logging.Formatter):
    """``time level logger: message [task id attempt n]`` for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = record.__dict__
        if fields.get("task_id") is None:
            return text
        head, sep, tail = text.partition("\n")  # after the message, before a traceback
        job = f" [{fields.get('task_name')} {fields['task_id']} attempt {fields.get('attempt')}]"
        return head + job + sep + tail


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """One stderr handler on the root logger, so the tasks' own loggers come out in
    the same format and with the same job context as asynctasq's, and with no
    secret in them either (RedactingFilter)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        # lazy: loaded only for the JSON format
        from asynctasq.core.logs_json import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    handler.addFilter(JobContextFilter())
    handler.addFilter(RedactingFilter())
    handler._asynctasq = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    # replace only our own handler: calling this twice must not print records twice
    root.handlers[:] = [h for h in root.handlers if not getattr(h, "_asynctasq", False)]
    root.addHandler(handler)
    root.setLevel(level)
    ours = logging.getLogger("asynctasq")
    ours.setLevel(level)
    ours.propagate = True
