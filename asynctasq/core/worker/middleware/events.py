"""The events of a job's attempt, read from its outcome: ``task_started``, then
``task_completed``, or ``task_failed`` followed by ``task_retrying`` or ``task_dead``.

Outside the retries middleware, so it sees what an attempt ended as (and the
exception behind it in ``ctx.error``). Left out of the chain when the worker's
emitter is disabled (no sink configured): no event is built for nobody.
Prometheus metrics are a consumer of these events (``core/metrics.py``).
"""

from __future__ import annotations

from typing import Any

from asynctasq.core.events.types import Event, EventType
from asynctasq.core.worker.middleware.base import Handler, JobContext, Middleware, WorkerRuntime
from asynctasq.core.worker.runner import _short_traceback, format_error
from asynctasq.jobs import Completed, Failed, Outcome, Retried
from asynctasq.redaction import redact

__all__ = ["Events"]


class Events(Middleware):
    name = "events"

    async def start(self, runtime: WorkerRuntime) -> None:
        self.enabled = runtime.emitter.enabled

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        job, runtime = ctx.job, ctx.runtime
        emit, clock = runtime.emitter.emit, runtime.clock
        started = clock.monotonic()
        emit(Event.for_job("task_started", job, worker_id=runtime.worker_id))
        try:
            outcome = await call_next(ctx)
        except Exception as exc:  # a middleware inside failed; the worker decides what now
            ctx.error = exc
            emit(_failure("task_failed", ctx, started, ""))
            raise
        if isinstance(outcome, Completed):
            ms = (clock.monotonic() - started) * 1000
            emit(Event.for_job("task_completed", job, worker_id=runtime.worker_id, duration_ms=ms))
        elif isinstance(outcome, Retried):
            emit(_failure("task_failed", ctx, started, outcome.error))
            emit(_failure("task_retrying", ctx, started, outcome.error, run_at=outcome.run_at))
        elif isinstance(outcome, Failed):
            emit(_failure("task_failed", ctx, started, outcome.error))
            emit(_failure("task_dead", ctx, started, outcome.error))
        return outcome


def _failure(kind: EventType, ctx: JobContext, started: float, stored: str, **extra: Any) -> Event:
    """A failure event: the error's first line and a short traceback, from the
    exception when one is known (else from the outcome's stored error text)."""
    exc = ctx.error
    if exc is not None:
        error, trace = (
            format_error(exc, with_traceback=False),
            redact(_short_traceback(exc)),
        )
    else:  # a middleware ended the attempt with an outcome of its own
        error, trace = stored.partition("\n")[0], None
    runtime = ctx.runtime
    return Event.for_job(
        kind,
        ctx.job,
        worker_id=runtime.worker_id,
        duration_ms=(runtime.clock.monotonic() - started) * 1000,
        error=error,
        traceback=trace,
        **extra,
    )
