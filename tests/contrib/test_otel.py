"""OpenTelemetry: the dispatching code's trace goes on in the worker, across a real
broker (the SDK's in-memory exporter reads the spans)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from asynctasq import AsyncTask, Config
from asynctasq.contrib.otel import Tracing, instrument, uninstrument
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.queues import Queue
from asynctasq.testing import drain
from tests.backend_base import Backend
from tests.conftest import only_backends

EXPORTER = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(_provider)  # once per process: OpenTelemetry's rule


class FlakyOnce(AsyncTask[str]):
    config = {"max_attempts": 2, "retry_delay": 0.0}
    name: str

    async def execute(self) -> str:
        if self._attempts == 1:
            raise ConnectionError("smtp timed out")
        return f"hello {self.name}"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    EXPORTER.clear()
    instrument()
    yield EXPORTER
    uninstrument()


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


@only_backends("redis", "postgres")
async def test_the_execute_span_is_a_child_of_the_dispatch(
    backend: Backend, spans: InMemorySpanExporter
) -> None:
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, Config())
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("POST /signup") as request:
        job_id = await dispatcher.dispatch(FlakyOnce(name="ada"))
        unknown = await Queue("other", backend=driver).add("elsewhere.task", kwargs={"n": 1})
    await drain(driver, ["default"], middleware=[Tracing()])

    finished = spans.get_finished_spans()
    trace_id = request.get_span_context().trace_id
    (send,) = named(finished, "send default")
    assert send.kind is SpanKind.PRODUCER and send.parent is not None
    assert send.parent.span_id == request.get_span_context().span_id
    assert send.attributes is not None and send.attributes["messaging.system"] == "asynctasq"
    assert send.attributes["messaging.destination.name"] == "default"

    first, second = sorted(named(finished, "process default"), key=lambda s: s.start_time or 0)
    for attempt, span in enumerate((first, second), start=1):
        assert span.kind is SpanKind.CONSUMER
        assert span.context is not None and span.context.trace_id == trace_id
        assert span.parent is not None and span.parent.span_id == send.context.span_id  # type: ignore[union-attr]
        assert span.attributes is not None
        assert span.attributes["messaging.message.id"] == job_id
        assert span.attributes["asynctasq.attempt"] == attempt
    assert first.status.status_code is StatusCode.ERROR
    assert first.attributes is not None and first.attributes["asynctasq.outcome"] == "retried"
    assert second.attributes is not None and second.attributes["asynctasq.outcome"] == "completed"
    (retry,) = named(finished, "retry default")
    assert retry.parent is not None and retry.parent.span_id == first.context.span_id  # type: ignore[union-attr]
    # Queue.add of a task this process does not know carries the context too
    (other,) = named(finished, "send other")
    assert other.context is not None and other.context.trace_id == trace_id
    assert unknown


@only_backends("redis")
async def test_without_instrument_nothing_travels(backend: Backend) -> None:
    EXPORTER.clear()
    driver = await backend.new_driver()
    await Dispatcher(driver, Config()).dispatch(FlakyOnce(name="bo"))
    await drain(driver, ["default"], middleware=[Tracing()])
    finished = EXPORTER.get_finished_spans()
    assert not named(finished, "send default")
    # the worker's spans start traces of their own
    assert all(s.parent is None for s in named(finished, "process default"))
    assert len(named(finished, "process default")) == 2
