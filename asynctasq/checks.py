"""Checks for the numbers a job carries to a broker: times above all (delays,
timeouts, moments), and priorities and attempt counts.

A NaN or an infinity that reaches a broker is a lost or stuck job (Redis drops a
``ZADD nan``; PostgreSQL sorts NaN after every time, so the job never comes due), so
each carrier of such a number checks it in its constructor, with these functions,
and names the argument in the ``ValueError``.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers

__all__ = [
    "INT32_MAX",
    "MAX_EPOCH",
    "MAX_SECONDS",
    "check_attempts",
    "check_epoch",
    "check_priority",
    "check_seconds",
]

#: the last second of year 9999: the latest moment Python's datetime (and every broker
#: tool that shows times) can express
MAX_EPOCH = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp()
#: 100 years: longer than any delay, timeout or lease a queue can mean, and within
#: what threads and event loops accept as a timeout
MAX_SECONDS = 100 * 365.25 * 86400
#: priorities and attempt counts live in 32-bit integer columns
INT32_MAX = 2**31 - 1
_INT32 = INT32_MAX


def check_seconds(
    name: str, value: object, *, positive: bool = False, maximum: float = MAX_SECONDS
) -> float:
    """``value`` as float seconds: finite, >= 0 (> 0 when ``positive``), <= ``maximum``."""
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"{name}={value!r} is not valid: expected a number of seconds (or a timedelta)"
        )
    seconds = float(value)
    low_ok = seconds > 0 if positive else seconds >= 0
    if not (low_ok and seconds <= maximum):  # also False for NaN
        low = "> 0" if positive else ">= 0"
        raise ValueError(
            f"{name}={value!r} is not valid: expected a finite number of seconds {low} "
            f"and at most {maximum:.0f}"
        )
    return seconds


def check_epoch(name: str, value: object) -> float:
    """``value`` as a moment in epoch seconds: finite, from 1970 to the year 9999."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}={value!r} is not valid: expected epoch seconds")
    moment = float(value)
    if not 0.0 <= moment <= MAX_EPOCH:
        raise ValueError(
            f"{name}={value!r} is not valid: expected finite epoch seconds from 0 "
            f"to {MAX_EPOCH:.0f} (the year 9999)"
        )
    return moment


def check_priority(name: str, value: object) -> int:
    """A priority: a whole number that fits the brokers' 32-bit integer columns."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not -_INT32 <= value <= _INT32:
        raise ValueError(
            f"{name}={value!r} is not valid: expected a whole number from {-_INT32} to {_INT32}"
        )
    return value


def check_attempts(name: str, value: object) -> int:
    """A number of attempts: a whole number from 1 that fits a 32-bit column."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _INT32:
        raise ValueError(
            f"{name}={value!r} is not valid: expected a whole number from 1 to {_INT32}"
        )
    return value


# -- payload limits (serialization/limits.py enforces them; config.py names them) --

DEFAULT_MAX_DEPTH = 64
#: nesting beyond this is refused even when configured: decoding an extension value
#: costs C stack, and this many levels stay well inside a thread's stack
MAX_DEPTH_CEILING = 128
DEFAULT_MAX_SIZE = 16 * 1024 * 1024
#: PostgreSQL's bytea holds at most 1 GiB; the other brokers refuse less by default
MAX_SIZE_CEILING = 1024 * 1024 * 1024
