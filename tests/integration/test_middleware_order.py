"""Where each middleware goes: the documented order, before/after placement, a
built-in replaced by name, and the errors of a placement that cannot be honoured."""

from __future__ import annotations

import pytest

from asynctasq import Config, JobState
from asynctasq.config import ConfigError
from asynctasq.core.worker import Handler, JobContext, Middleware
from asynctasq.core.worker.middleware import BUILTIN_ORDER, Chain, Events, arrange
from asynctasq.jobs import Outcome
from asynctasq.testing import EventRecorder, run_job
from tests.integration.test_middleware import Echo


def named(name: str, before: str | None = None, after: str | None = None) -> Middleware:
    middleware = Middleware()
    middleware.name, middleware.before, middleware.after = name, before, after
    return middleware


def order(*extra: Middleware) -> list[str]:
    return [m.name for m in Chain(extra).middleware]


def test_the_built_ins_come_first_yours_after_them_in_the_order_given() -> None:
    assert order() == list(BUILTIN_ORDER) == ["logging", "events", "retries"]
    assert order(named("a"), named("b")) == ["logging", "events", "retries", "a", "b"]


def test_before_and_after_place_a_middleware_next_to_another() -> None:
    assert order(named("a", before="retries"), named("b", before="retries")) == [
        "logging", "events", "a", "b", "retries",
    ]  # fmt: skip
    assert order(named("a", after="logging"), named("b", after="logging")) == [
        "logging", "a", "b", "events", "retries",
    ]  # fmt: skip
    assert order(named("a"), named("b", before="a"), named("c", after="a")) == [
        "logging", "events", "retries", "b", "a", "c",
    ]  # fmt: skip
    assert order(named("tracing", before="logging"))[0] == "tracing"


def test_a_middleware_named_like_a_built_in_replaces_it() -> None:
    replacement = named("events")
    chain = Chain([replacement]).middleware
    assert [m.name for m in chain] == ["logging", "events", "retries"]
    assert chain[1] is replacement
    moved = named("retries", before="logging")
    assert order(moved) == ["retries", "logging", "events"]


async def test_a_replaced_built_in_is_the_one_that_runs() -> None:
    class Silent(Events):
        async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
            return await call_next(ctx)  # announces nothing

    recorder = EventRecorder()
    outcome = await run_job(
        Echo(word="x"), config=Config(), event_emitter=recorder, middleware=[Silent()]
    )
    assert outcome.state is JobState.COMPLETED
    assert recorder.kinds(outcome.job_id) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            [named("a", before="nowhere")],
            r"wants to go before 'nowhere', which is not in the chain",
        ),
        ([named("a", before="events", after="logging")], "sets both before= and after="),
        ([named("a"), named("a")], "two middleware are named 'a'"),
    ],
)
def test_a_placement_that_cannot_be_honoured_is_refused(
    extra: list[Middleware], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        arrange([named(n) for n in BUILTIN_ORDER], extra)


def test_a_subclass_is_named_after_its_class_unless_it_says_otherwise() -> None:
    class Audit(Middleware):
        pass

    class Tracing(Middleware):
        name = "otel"

    class Quiet(Tracing):
        pass

    class Strict(Audit):
        pass

    assert [m().name for m in (Audit, Tracing, Quiet, Strict)] == [
        "Audit",
        "otel",
        "otel",
        "Strict",
    ]
    assert Events().name == "events"
