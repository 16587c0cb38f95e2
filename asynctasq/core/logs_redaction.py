"""No asynctasq log record leaves the process with a secret in it.

``RedactingFilter`` rewrites a record in place with ``asynctasq.redaction.redact``:
its message, its traceback, its stack and its string ``extra`` fields. Add it to
any handler to cover your own loggers too (``asynctasq worker`` does, for every
record it prints).

``install_log_redaction`` (run when asynctasq is imported) covers every
``asynctasq.*`` logger, present and future, whatever handlers the application sets
up: a filter on the ``asynctasq`` logger would only see records logged on that very
logger, not on its children, so the redaction runs as the first handler of the
``asynctasq`` logger instead, which every record of a child logger passes before it
reaches the application's handlers (on the root logger, say). That handler emits
nothing itself; it lets Python's last-resort handler print warnings as before when
the application configured no logging at all.
"""

from __future__ import annotations

import logging
from typing import Any

from asynctasq.redaction import redact

__all__ = ["RedactingFilter", "install_log_redaction"]

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class RedactingFilter(logging.Filter):
    """Redacts a record in place; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_asynctasq_redacted", False):
            return True
        record.__dict__["_asynctasq_redacted"] = True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the handler reports it, as usual
            message = None
        if message is not None:
            clean = redact(message)
            if clean != message:
                record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            clean = redact(text)
            if clean != text:
                # a formatter would print the traceback again from exc_info: keep the
                # redacted text only (formatters print exc_text when exc_info is None)
                record.exc_info, record.exc_text = None, clean
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and not key.startswith("_"):
                record.__dict__[key] = _redact_field(value)
        return True


def _redact_field(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact(v) if isinstance(v, str) else v for k, v in value.items()}
    return value


class _RedactFirst(logging.Handler):
    """The first handler of the ``asynctasq`` logger: redacts, emits nothing."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.addFilter(RedactingFilter())

    def handle(self, record: logging.LogRecord) -> bool:
        self.filter(record)
        last_resort = logging.lastResort
        if (
            last_resort is not None
            and record.levelno >= last_resort.level
            and not _other_handlers(record.name, self)
        ):
            last_resort.handle(record)  # what Python does when nothing is configured
        return True

    def emit(self, record: logging.LogRecord) -> None:
        pass


def _other_handlers(name: str, mine: logging.Handler) -> bool:
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None:
        if any(handler is not mine for handler in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False


def install_log_redaction() -> None:
    """Redact every record of the ``asynctasq`` loggers (idempotent)."""
    logger = logging.getLogger("asynctasq")
    if not any(isinstance(h, _RedactFirst) for h in logger.handlers):
        logger.handlers.insert(0, _RedactFirst())
