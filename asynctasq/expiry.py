"""Job expiry (``ttl=``, docs/flow-control.md): the rule every broker applies.

A job given a ``ttl`` gets ``expires_at = run_at + ttl``: the clock starts when the
job comes due, so a delayed job is not dead before it could ever run. A job claimed
at or after its ``expires_at`` is moved to ``expired`` (beside failed and cancelled
jobs in the dead-letter view, requeueable) with :func:`expired_reason`, and never
handed to a task. The brokers do this inside their claim; the worker's TTL
middleware is the backstop for a job that reaches it all the same.
"""

from __future__ import annotations

from asynctasq.jobs import Job

__all__ = ["EXPIRED_PREFIX", "expired_reason", "expiry", "is_expired"]

#: the start of the error an expired job carries (Redis' Lua writes the same text)
EXPIRED_PREFIX = "expired: not started before its ttl ran out at "


def expiry(run_at: float, ttl: float | None) -> float | None:
    """The ``expires_at`` of a job due at ``run_at`` with ``ttl`` (None: never)."""
    return None if ttl is None else run_at + ttl


def is_expired(job: Job, now: float) -> bool:
    return job.expires_at is not None and job.expires_at <= now


def expired_reason(expires_at: float) -> str:
    """The error stored on an expired job: when its ttl ran out (epoch seconds)."""
    return f"{EXPIRED_PREFIX}{expires_at:.6f}"
