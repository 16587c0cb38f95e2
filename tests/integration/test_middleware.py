"""Worker middleware, end to end on the memory broker: the order of the chain, what
a middleware of yours sees and may do, and that a failing middleware never stops
the worker nor loses a job."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import pytest

from asynctasq import AsyncTask, Config, JobState, PermanentError, Worker
from asynctasq.config import ConfigError
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.logs import log_context
from asynctasq.core.worker import Handler, JobContext, Middleware, WorkerRuntime
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.jobs import Completed, Failed, Outcome, Retried
from asynctasq.testing import EventRecorder, drain, run_job

pytestmark = pytest.mark.timeout(60)

FAST = Config(default_retry_delay=0.01, default_retry_backoff="fixed")


class Echo(AsyncTask[str]):
    word: str
    runs: ClassVar[int] = 0

    async def execute(self) -> str:
        Echo.runs += 1
        return self.word


class Broken(AsyncTask[None]):
    config = {"max_attempts": 2, "retry_delay": 0.01}
    failed_calls: ClassVar[list[str]] = []

    async def execute(self) -> None:
        raise ValueError("broken")

    async def failed(self, exception: BaseException) -> None:
        Broken.failed_calls.append(type(exception).__name__)


class Probe(Middleware):
    """Notes each pass in and out: its name, whether records carry the job, and the
    events emitted so far."""

    def __init__(
        self,
        name: str,
        trail: list[tuple[Any, ...]],
        *,
        before: str | None = None,
        after: str | None = None,
        events: EventRecorder | None = None,
    ) -> None:
        self.name, self.before, self.after = name, before, after
        self.trail, self.events = trail, events

    def note(self, way: str, ctx: JobContext) -> None:
        kinds = tuple(self.events.kinds(ctx.job.id)) if self.events else ()
        self.trail.append((way, self.name, "task_id" in log_context(), kinds))

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        self.note("in", ctx)
        outcome = await call_next(ctx)
        self.note("out", ctx)
        return outcome


async def test_the_chain_runs_in_its_documented_order() -> None:
    trail: list[tuple[Any, ...]] = []
    events = EventRecorder()
    probes = [
        Probe("innermost", trail, events=events),
        Probe("outermost", trail, before="logging", events=events),
        Probe("inside-events", trail, after="events", events=events),
        Probe("outside-events", trail, before="events", events=events),
        Probe("around-retries", trail, before="retries", events=events),
    ]
    outcome = await run_job(Echo(word="hi"), config=FAST, event_emitter=events, middleware=probes)
    assert outcome.state is JobState.COMPLETED
    ins = [(name, logged, kinds) for way, name, logged, kinds in trail if way == "in"]
    assert ins == [
        ("outermost", False, ()),  # before logging: its records do not name the job
        ("outside-events", True, ()),
        ("inside-events", True, ("task_started",)),
        ("around-retries", True, ("task_started",)),
        ("innermost", True, ("task_started",)),
    ]
    outs = [name for way, name, *_ in trail if way == "out"]
    assert outs == ["innermost", "around-retries", "inside-events", "outside-events", "outermost"]
    assert trail[-2][3][-1] == "task_completed"  # outside events: it was announced


async def test_the_events_middleware_is_left_out_without_an_event_sink() -> None:
    driver = MemoryDriver()
    await driver.connect()
    mine = Probe("mine", [])
    worker = await drain(driver, config=FAST, middleware=[mine])
    # rate_limits: the memory broker holds buckets, so a queue limit may be stored;
    # concurrency_keys: the broker has slots (ConcurrencyKeys), so jobs may carry a key
    names = ["rate_limits", "logging", "concurrency_keys", "retries", "mine"]
    assert [m.name for m in worker._chain.active] == names
    worker = await drain(driver, config=FAST, middleware=[mine], event_emitter=EventRecorder())
    names = ["rate_limits", "logging", "concurrency_keys", "events", "retries", "mine"]
    assert [m.name for m in worker._chain.active] == names


class Audit(Middleware):
    """Before retries: sees what each attempt ended as, and why."""

    seen: ClassVar[list[tuple[str, str | None]]] = []
    before = "retries"

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        assert ctx.task is None  # built by the innermost step
        outcome = await call_next(ctx)
        error = None if ctx.error is None else type(ctx.error).__name__
        Audit.seen.append((type(outcome).__name__, error))
        return outcome


async def test_a_middleware_sees_every_outcome_and_its_cause() -> None:
    Audit.seen.clear()
    await run_job(Echo(word="ok"), config=FAST, middleware=[Audit()])
    Broken.failed_calls.clear()
    outcome = await run_job(Broken(), config=FAST, middleware=[Audit()])
    assert outcome.state is JobState.FAILED
    assert Audit.seen == [
        ("Completed", None),
        ("Retried", "ValueError"),
        ("Failed", "ValueError"),
    ]
    assert Broken.failed_calls == ["ValueError"]  # the retries middleware ran the hook


class KillSwitch(Middleware):
    """Jobs of disabled tasks end without running, with an outcome of its own."""

    before = "retries"
    disabled: ClassVar[dict[str, str]] = {}

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        reason = KillSwitch.disabled.get(ctx.job.task)
        if reason == "skip":
            return ctx.completed("skipped")
        if reason is not None:
            return ctx.failed(f"disabled by the kill switch: {reason}")
        return await call_next(ctx)


async def test_a_middleware_can_end_an_attempt_with_its_own_outcome() -> None:
    Echo.runs = 0
    events = EventRecorder()
    KillSwitch.disabled = {Echo.task_name: "postgresql://app:hunter2@db/app is down"}
    outcome = await run_job(
        Echo(word="x"), config=FAST, event_emitter=events, middleware=[KillSwitch()]
    )
    assert (outcome.state, outcome.attempts, Echo.runs) == (JobState.FAILED, 1, 0)
    assert outcome.error == "disabled by the kill switch: postgresql://app:***@db/app is down"
    assert events.kinds(outcome.job_id) == ["task_started", "task_failed", "task_dead"]
    dead = next(e for e in events.events if e.event_type == "task_dead")
    assert dead.error == outcome.error and dead.traceback is None

    KillSwitch.disabled = {Echo.task_name: "skip"}
    outcome = await run_job(Echo(word="x"), config=FAST, middleware=[KillSwitch()])
    assert (outcome.state, outcome.result, Echo.runs) == (JobState.COMPLETED, "skipped", 0)


class Translate(Middleware):
    """Around the task (no placement): what the body raises, before retries sees it."""

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        try:
            return await call_next(ctx)
        except ValueError as exc:
            raise PermanentError(f"no retry: {exc}") from exc


class Fallback(Middleware):
    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        try:
            return await call_next(ctx)
        except ValueError as exc:
            assert ctx.task is not None  # built before it ran
            return ctx.completed(f"fallback after {exc}")


async def test_a_middleware_around_the_task_catches_its_exceptions() -> None:
    Broken.failed_calls.clear()
    outcome = await run_job(Broken(), config=FAST, middleware=[Translate()])
    assert (outcome.state, outcome.attempts) == (JobState.FAILED, 1)  # permanent: no retry
    assert (outcome.error or "").startswith("PermanentError: no retry: broken")
    assert Broken.failed_calls == ["PermanentError"]

    outcome = await run_job(Broken(), config=FAST, middleware=[Fallback()])
    assert (outcome.state, outcome.result) == (JobState.COMPLETED, "fallback after broken")


class Victim(AsyncTask[None]):
    config = {"max_attempts": 2}
    failed_calls: ClassVar[list[str]] = []

    async def execute(self) -> None:
        pass

    async def failed(self, exception: BaseException) -> None:
        Victim.failed_calls.append(type(exception).__name__)


class Raises(Middleware):
    """A buggy middleware: raises on the way in or on the way out."""

    def __init__(self, *, before: str | None = None, on_the_way_out: bool = False) -> None:
        self.before, self.on_the_way_out = before, on_the_way_out

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        if not self.on_the_way_out:
            raise RuntimeError("middleware bug on the way in")
        await call_next(ctx)
        raise RuntimeError("middleware bug on the way out")


@pytest.mark.parametrize(
    "buggy",
    [Raises(), Raises(before="retries"), Raises(before="logging"), Raises(on_the_way_out=True)],
    ids=["inside-retries", "outside-retries", "outermost", "inside-retries-after-the-task"],
)
async def test_a_failing_middleware_fails_the_attempt_never_the_worker(
    buggy: Raises, caplog: pytest.LogCaptureFixture
) -> None:
    """The documented rule: what a middleware raises fails the attempt, with the
    error as the reason. Inside retries, retries handles it as it would the task's
    (with the task's should_retry and failed() once the task was built); outside,
    the worker retries the job after the default delay while attempts remain, then
    dead-letters it. Nothing is lost, nothing loops, the worker goes on."""
    driver = MemoryDriver(keep_completed=True)
    await driver.connect()
    Victim.failed_calls.clear()
    ids = await Dispatcher(driver, FAST).dispatch_many(Victim() for _ in range(4))
    worker = await drain(driver, config=FAST, middleware=[buggy])
    for job_id in ids:
        job = await driver.get(job_id)
        assert job is not None and (job.state, job.attempts) == (JobState.FAILED, 2)
        assert (job.error or "").startswith("RuntimeError: middleware bug on the way")
        assert "Traceback" in (job.error or "")
    assert worker.processed == 8  # 4 jobs, 2 attempts each
    assert Victim.failed_calls == (["RuntimeError"] * 4 if buggy.on_the_way_out else [])
    assert "middleware bug" in caplog.text


class ForgetsToReturn(Middleware):
    before = "retries"

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        await call_next(ctx)
        return None  # type: ignore[return-value]  # the bug under test


async def test_a_middleware_that_returns_no_outcome_fails_the_attempt() -> None:
    outcome = await run_job(Victim(), config=FAST, middleware=[ForgetsToReturn()])
    assert (outcome.state, outcome.attempts) == (JobState.FAILED, 2)
    assert (outcome.error or "").startswith("TypeError: the middleware chain returned None")


class Lifecycle(Middleware):
    calls: ClassVar[list[str]] = []

    def __init__(self, *, fail_start: bool = False, fail_stop: bool = False) -> None:
        self.fail_start, self.fail_stop = fail_start, fail_stop

    async def start(self, runtime: WorkerRuntime) -> None:
        Lifecycle.calls.append(f"start {runtime.worker_id}")
        if self.fail_start:
            raise RuntimeError("no connection to the tracing collector")

    async def stop(self) -> None:
        Lifecycle.calls.append("stop")
        if self.fail_stop:
            raise RuntimeError("flush failed")


async def test_middleware_start_and_stop_with_the_worker(caplog: pytest.LogCaptureFixture) -> None:
    Lifecycle.calls.clear()
    driver = MemoryDriver()
    await driver.connect()
    await drain(driver, config=FAST, worker_id="w-1", middleware=[Lifecycle(fail_stop=True)])
    assert Lifecycle.calls == ["start w-1", "stop"]
    assert "flush failed" in caplog.text  # logged; the worker stopped normally

    Lifecycle.calls.clear()
    job_id = await Dispatcher(driver, FAST).dispatch(Echo(word="kept"))
    with pytest.raises(ConfigError, match="two middleware are named 'Lifecycle'"):
        Worker(driver, config=FAST, middleware=[Lifecycle(), Lifecycle(fail_start=True)])
    first, second = Lifecycle(), Lifecycle(fail_start=True)
    second.name = "second"
    worker = Worker(driver, config=FAST, handle_signals=False, burst=True,
                    middleware=[first, second])  # fmt: skip
    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError, match="tracing collector"):
        await worker.start()
    assert Lifecycle.calls == ["start " + worker.worker_id] * 2 + ["stop"]  # the one started
    assert "middleware 'second' could not start" in caplog.text
    job = await driver.get(job_id)
    assert job is not None and job.state is JobState.PENDING  # never claimed


class Tag(Middleware):
    """Sets a ctx.state entry that an inner middleware reads."""

    before = "retries"

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        ctx.state["tag"] = f"seen by {ctx.worker_id}"
        return await call_next(ctx)


class ReadTag(Middleware):
    read: ClassVar[list[str]] = []

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        ReadTag.read.append(ctx.state["tag"])
        ctx.timeout = 0.05  # lowered before the body runs
        return await call_next(ctx)


class Slow(AsyncTask[None]):
    config = {"max_attempts": 1, "timeout": 10}

    async def execute(self) -> None:
        await asyncio.sleep(5)


async def test_middleware_share_state_and_may_lower_the_timeout() -> None:
    ReadTag.read.clear()
    outcome = await run_job(Slow(), config=FAST, worker_id="w-9", middleware=[Tag(), ReadTag()])
    assert ReadTag.read == ["seen by w-9"]
    assert outcome.state is JobState.FAILED
    assert (outcome.error or "").startswith("TaskTimeoutError: job exceeded its timeout of 0.05s")


def test_outcome_helpers_fence_the_attempt() -> None:
    from asynctasq.core.worker.middleware import WorkerRuntime as Runtime
    from asynctasq.jobs import Job

    clock_now = 1_000.0

    class Clock:
        def time(self) -> float:
            return clock_now

    job = Job(task="t", payload=b"", queue="q", attempts=3)
    runtime = Runtime(
        worker_id="w", queues=("q",), driver=None, config=FAST, clock=Clock(), emitter=None,
        serializer=None, registry=None, executors=None, keep_result=False, default_retry=1.0,
    )  # fmt: skip
    ctx = JobContext(job, runtime)
    assert ctx.completed("dropped") == Completed(job.id, "w", 3, queue="q", result=None)
    assert ctx.retried(5, "later") == Retried(
        job.id, "w", 3, queue="q", run_at=1005.0, error="later"
    )
    assert ctx.failed(ValueError("x")).error.startswith("ValueError: x")
    assert isinstance(ctx.failed("no"), Failed)
    assert ctx.failed(Unprintable()).error == "Unprintable: (its message could not be read)"


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


class RaisesUnprintable(AsyncTask[None]):
    config = {"max_attempts": 2}

    async def execute(self) -> None:
        raise Unprintable


async def test_an_exception_that_cannot_be_printed_still_ends_its_job() -> None:
    """Its text cannot be formatted, so even retries fails on it: the worker's rule
    for what gets out of the chain still ends the job, after its attempts."""
    outcome = await run_job(RaisesUnprintable(), config=FAST)
    assert (outcome.state, outcome.attempts) == (JobState.FAILED, 2)
    assert (outcome.error or "").startswith("RuntimeError: no str")


async def test_settings_name_middleware_by_import_path() -> None:
    Audit.seen.clear()
    config = FAST.replace(middleware=("tests.integration.test_middleware:Audit",))
    outcome = await run_job(Echo(word="a"), config=config)
    assert outcome.state is JobState.COMPLETED
    assert Audit.seen == [("Completed", None)]
    config = Config.from_env({"ASYNCTASQ_MIDDLEWARE": "tests.integration.test_middleware:Audit"})
    assert config.middleware == ("tests.integration.test_middleware:Audit",)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon_here", "is not module:attribute"),
        ("tests.nowhere:X", "cannot import 'tests.nowhere'"),
        ("tests.integration.test_middleware:Nope", "has no 'Nope'"),
        ("tests.integration.test_middleware:FAST", "neither a middleware nor a factory"),
        ("tests.integration.test_middleware:Echo", "raised TypeError"),
        ("tests.integration.test_middleware:not_a_middleware", "gave str, not a middleware"),
    ],
)
def test_a_bad_middleware_setting_says_what_to_fix(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        Worker(MemoryDriver(), config=FAST.replace(middleware=(spec,)))
    assert "ASYNCTASQ_MIDDLEWARE" in str(caught.value)


def not_a_middleware() -> str:
    return "oops"
