"""The middleware interface: what wraps one attempt of a job, and what it is given.

A middleware is called once per attempt with the job's context and the rest of the
chain (``call_next``), and returns the attempt's outcome::

    class Timing(Middleware):
        async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
            started = ctx.clock.monotonic()
            try:
                return await call_next(ctx)
            finally:
                print(ctx.job.task, ctx.clock.monotonic() - started)

It may act before and after the rest, return an outcome of its own instead of
calling ``call_next`` (``ctx.completed()``, ``ctx.retried()``, ``ctx.failed()``,
``ctx.released()``), and catch what the rest raises. ``chain.py`` says where each
middleware sits.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from asynctasq.clock import Clock
from asynctasq.config import Config
from asynctasq.core.events.emitters import EventEmitter
from asynctasq.core.worker.executors import Executors
from asynctasq.core.worker.runner import format_error
from asynctasq.drivers.base import Driver
from asynctasq.jobs import Completed, Failed, Job, Outcome, Released, Retried, new_completed
from asynctasq.redaction import redact
from asynctasq.serialization.msgpack import Serializer
from asynctasq.tasks.base import BaseTask
from asynctasq.tasks.registry import TaskRegistry
from asynctasq.tasks.retry import RetryDelay

__all__ = ["Handler", "JobContext", "Middleware", "WorkerRuntime", "error_text"]

log = logging.getLogger("asynctasq.worker")

#: the rest of the chain, as a middleware sees it
Handler = Callable[["JobContext"], Awaitable[Outcome]]

_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})  # shared until a job's are known


@dataclass(eq=False, slots=True)
class WorkerRuntime:
    """What every job of one worker shares (``ctx.runtime``), built when it starts."""

    worker_id: str
    queues: tuple[str, ...]
    driver: Driver
    config: Config
    clock: Clock
    emitter: EventEmitter
    serializer: Serializer
    registry: TaskRegistry
    executors: Executors
    #: whether a completed job keeps its result (the driver's keep_completed)
    keep_result: bool
    #: the retry delay of tasks that set none (the default_retry_* settings)
    default_retry: RetryDelay


class JobContext:
    """One attempt of a job on its way through the chain. Built per attempt: it
    holds only what differs between attempts; the rest is in ``runtime``."""

    __slots__ = ("_state", "error", "job", "options", "runtime", "task", "timeout")

    def __init__(self, job: Job, runtime: WorkerRuntime) -> None:
        self.job = job
        self.runtime = runtime
        #: the task instance, once the innermost step built it from the payload (None
        #: before that, and when the payload cannot be built into one: a poison job)
        self.task: BaseTask[Any] | None = None
        #: the options that travelled with the payload (``retry_delay``), once built
        self.options: Mapping[str, Any] = _NO_OPTIONS
        #: seconds the body may run (None: no limit), counted from the moment it
        #: starts; a middleware may lower it before calling call_next
        self.timeout: float | None = job.timeout
        #: the exception that failed this attempt, once the retries middleware (or the
        #: worker) turned it into an outcome
        self.error: BaseException | None = None
        self._state: dict[str, Any] | None = None

    @property
    def state(self) -> dict[str, Any]:
        """Scratch space that middleware share for this attempt (key it by your name)."""
        if self._state is None:
            self._state = {}
        return self._state

    @property
    def worker_id(self) -> str:
        return self.runtime.worker_id

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def emitter(self) -> EventEmitter:
        return self.runtime.emitter

    # -- outcomes: what a middleware returns instead of calling the rest --------------

    def completed(self, result: Any = None) -> Completed:
        """Done. ``result`` is kept (msgpack) when the driver keeps completed jobs."""
        runtime, job = self.runtime, self.job
        encoded = None
        if runtime.keep_result and result is not None:
            try:
                encoded = runtime.serializer.dumps(result)
            except TypeError as exc:
                log.warning("job %s: result not kept, it has no msgpack form: %s", job.id, exc)
        return new_completed(job.id, runtime.worker_id, job.attempts, job.queue, encoded)

    def retried(self, delay: float, error: BaseException | str) -> Retried:
        """Run again ``delay`` seconds from now (the attempt counts)."""
        job = self.job
        return Retried(
            job.id,
            self.runtime.worker_id,
            job.attempts,
            queue=job.queue,
            run_at=self.runtime.clock.time() + delay,
            error=error_text(error),
        )

    def failed(self, error: BaseException | str) -> Failed:
        """To the dead-letter state with ``error`` as the reason."""
        job = self.job
        return Failed(
            job.id, self.runtime.worker_id, job.attempts, queue=job.queue, error=error_text(error)
        )

    def released(self) -> Released:
        """Back to pending at once, the attempt not counted."""
        job = self.job
        return Released(job.id, self.runtime.worker_id, job.attempts, queue=job.queue)


def error_text(error: BaseException | str) -> str:
    """The stored reason of a failed attempt, free of secrets; an exception whose
    message cannot be read still gives one."""
    if isinstance(error, str):
        return redact(error)
    try:
        return format_error(error)
    except Exception:  # its __str__ raised: the job must still end with a reason
        return f"{type(error).__qualname__}: (its message could not be read)"


class Middleware:
    """Base of middleware: override ``__call__``; ``start``/``stop`` when it needs set-up.

    Placement: ``before`` or ``after`` names another middleware (a built-in:
    ``"logging"``, ``"events"``, ``"retries"``, or one of yours by its ``name``). A
    middleware *before* another is called first and returns last: it wraps it.
    With neither, it goes after every built-in, just around the task.
    """

    #: how others place themselves around this one: the class's name, unless a class
    #: sets one (inherited then: a subclass of a built-in replaces it)
    name: str = ""
    before: str | None = None
    after: str | None = None
    #: False leaves it out of the chain (decided in ``start``): zero cost per job
    enabled: bool = True
    _named: ClassVar[bool] = False  # whether ``name`` was set by a class, not derived

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "name" in cls.__dict__:
            cls._named = True
        elif not cls._named:
            cls.name = cls.__name__

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        return await call_next(ctx)

    async def start(self, runtime: WorkerRuntime) -> None:
        """Once, when the worker starts (before its first job). Raise to refuse to start."""

    async def stop(self) -> None:
        """Once, when the worker stops (after its last job)."""

    def __repr__(self) -> str:
        return f"<middleware {self.name}>"
