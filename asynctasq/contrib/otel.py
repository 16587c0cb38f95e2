"""OpenTelemetry tracing: the trace of the code that dispatches a job goes on in the
worker that runs it (``pip install 'asynctasq[otel]'``, docs/integrations.md).

Producer side, ``instrument()``: each dispatch records a ``send <queue>`` span (kind
PRODUCER) and the job carries its context (W3C ``traceparent``, through the job's
headers). Worker side, the ``Tracing`` middleware: each attempt runs in a
``process <queue>`` span (kind CONSUMER), child of that send span, so one trace shows
the request that dispatched the job and every attempt of it; an attempt that will be
retried adds a ``retry <queue>`` span. Attribute names follow OpenTelemetry's
messaging semantic conventions.

Nothing here is imported unless you import it: without OpenTelemetry installed, or
without this module, dispatch and worker pay nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from asynctasq.core.propagation import add_carrier, job_headers, remove_carrier
from asynctasq.core.worker.middleware import Handler, JobContext, Middleware, WorkerRuntime
from asynctasq.jobs import Failed, Outcome, Retried
from asynctasq.serialization.payload import decode_payload

__all__ = ["SYSTEM", "Tracing", "instrument", "uninstrument"]

#: ``messaging.system``: not one of the conventions' well-known values, so our name
SYSTEM = "asynctasq"
_TRACER = "asynctasq"


def _attributes(operation: str, task: str, queue: str) -> dict[str, str]:
    return {
        "messaging.system": SYSTEM,
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
        "messaging.destination.name": queue,
        "asynctasq.task": task,
    }


def _send(task: str, queue: str) -> Mapping[str, str]:
    """The carrier: a send span for this dispatch, and its context for the job."""
    tracer = trace.get_tracer(_TRACER)
    headers: dict[str, str] = {}
    with tracer.start_as_current_span(
        f"send {queue}", kind=SpanKind.PRODUCER, attributes=_attributes("send", task, queue)
    ):
        propagate.inject(headers)
    return headers


def instrument() -> None:
    """Trace every dispatch of this process from now on (call it once at start-up,
    after configuring the OpenTelemetry SDK)."""
    add_carrier(_send)


def uninstrument() -> None:
    remove_carrier(_send)


class Tracing(Middleware):
    """A worker middleware: each attempt of a job in a span, child of its dispatch.

    Outermost (before ``logging``), so the span covers the whole attempt; add it with
    ``Worker(middleware=[Tracing()])`` or
    ``ASYNCTASQ_MIDDLEWARE=asynctasq.contrib.otel:Tracing``."""

    name = "tracing"
    before = "logging"

    async def start(self, runtime: WorkerRuntime) -> None:
        self.serializer = runtime.serializer
        self.tracer = trace.get_tracer(_TRACER)

    def _parent(self, ctx: JobContext) -> Any:
        """The dispatching code's context, read from the job's headers. The payload
        is decoded once more here (the innermost step decodes it for the task): the
        cost of tracing, paid only with this middleware."""
        try:
            _, options = decode_payload(ctx.job.payload, self.serializer)
        except Exception:  # a poison payload: the chain dead-letters it, traced alone
            return None
        return propagate.extract(job_headers(options))

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        job = ctx.job
        attributes: dict[str, Any] = {
            **_attributes("process", job.task, job.queue),
            "messaging.message.id": job.id,
            "asynctasq.attempt": job.attempts,
            "asynctasq.worker_id": ctx.worker_id,
        }
        with self.tracer.start_as_current_span(
            f"process {job.queue}",
            context=self._parent(ctx),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        ) as span:
            outcome = await call_next(ctx)
            if isinstance(outcome, Retried):
                span.set_status(Status(StatusCode.ERROR, outcome.error))
                with self.tracer.start_as_current_span(
                    f"retry {job.queue}",
                    kind=SpanKind.INTERNAL,
                    attributes={
                        **_attributes("retry", job.task, job.queue),
                        "messaging.message.id": job.id,
                        "asynctasq.retry.run_at": outcome.run_at,
                    },
                ):
                    pass
            elif isinstance(outcome, Failed):
                span.set_status(Status(StatusCode.ERROR, outcome.error))
            span.set_attribute("asynctasq.outcome", type(outcome).__name__.lower())
            return outcome
