"""The innermost step of a job's attempt: rebuild the task from the payload and run
it on its executor. What happens around it (logging context, events, retries and
the failed() hook, your own middleware) is the middleware chain's (middleware/).

Also here: the error text every outcome, log and event carries, and the
``failed()`` hook of a job that crash recovery dead-lettered.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from asynctasq.core.events.progress import ProgressSink
from asynctasq.core.events.types import Event
from asynctasq.core.logs import job_logging_context
from asynctasq.core.results import decode_parents, read_parents
from asynctasq.core.worker.executors import exit_refused
from asynctasq.core.worker.parent_reads import SharedParentReads
from asynctasq.drivers.capabilities import Results
from asynctasq.errors import LeaseExpiredError, PoisonJobError, UnknownTaskError
from asynctasq.jobs import Job, Outcome
from asynctasq.redaction import redact
from asynctasq.serialization.limits import NOT_EXT_OPENERS, may_hold_extensions
from asynctasq.serialization.payload import decode_payload
from asynctasq.serialization.resolve import raise_for_unresolved, resolve_references
from asynctasq.tasks.base import BaseTask
from asynctasq.tasks.parent_use import reads_parent_results
from asynctasq.tasks.parents import NOT_READ

if TYPE_CHECKING:  # the middleware build on this module, not the other way round
    from asynctasq.core.worker.middleware.base import JobContext, WorkerRuntime

__all__ = ["JobRunner", "call_failed_hook", "format_error"]

log = logging.getLogger("asynctasq.worker")

ProgressReporter = Callable[[BaseTask[Any], float, dict[str, Any]], Awaitable[None]]


def format_error(exc: BaseException, *, with_traceback: bool = True) -> str:
    """The error text stored, logged and sent in events: never with a secret in it."""
    head = f"{type(exc).__qualname__}: {exc}"
    if not with_traceback:
        return redact(head)
    remote = getattr(exc, "remote_traceback", None)
    tb = remote or "".join(traceback.format_exception(exc))
    return redact(f"{head}\n\n{tb}")


def _short_traceback(exc: BaseException, frames: int = 3) -> str:
    remote = getattr(exc, "remote_traceback", None)
    if remote:
        return "\n".join(remote.strip().splitlines()[-2 * frames - 1 :])
    return "".join(traceback.format_exception(exc, limit=-frames)).strip()


class JobRunner:
    def __init__(self, runtime: WorkerRuntime, *, progress: ProgressReporter | None = None) -> None:
        self.runtime = runtime
        self.allow = list(runtime.config.task_allow_list)
        self.progress = progress
        self._sink: ProgressSink | None = None  # one per runner, built on its loop
        self._allowed: set[str] = set()  # task names the allow list was checked for
        self._shared_reads: SharedParentReads | None = None  # built on first use, on its loop

    async def build(self, job: Job) -> tuple[BaseTask[Any], dict[str, Any]]:
        """The task instance for a job; PoisonJobError when it cannot be built."""
        args, options = self._arguments(job)  # bytes of a payload, else poison
        if may_hold_extensions(job.payload):  # a model is an extension value
            args = await resolve_references(args, self.runtime.config)  # ORM rows, fresh
        return self._instance(job, args), options

    def _arguments(self, job: Job) -> tuple[dict[str, Any], dict[str, Any]]:
        """The job's arguments and options, once its task is known to be allowed here."""
        runtime, name = self.runtime, job.task
        if name not in runtime.registry._tasks or (self.allow and name not in self._allowed):
            try:
                runtime.registry.get(name, self.allow)  # UnknownTaskError, or allowed
            except UnknownTaskError:
                # its module may be one the allow list lets a job's name load
                if not runtime.registry.import_allowed(name, self.allow):
                    raise
            self._allowed.add(name)
        return decode_payload(job.payload, runtime.serializer)

    def _instance(self, job: Job, args: dict[str, Any]) -> BaseTask[Any]:
        cls = self.runtime.registry._tasks[job.task]
        try:
            task = cls._for_job(args, job)
        except Exception as exc:
            raise PoisonJobError(
                f"arguments no longer match {job.task}: {type(exc).__name__}: {exc}"
            ) from exc
        if self.progress is not None:
            if self._sink is None:
                self._sink = ProgressSink(self.progress, asyncio.get_running_loop())
            task._progress_sink = self._sink
        return task

    async def execute(self, ctx: JobContext) -> Outcome:
        """The innermost step of the chain: build, run within ``ctx.timeout``, and the
        Completed outcome. What the body raises goes up the chain (to retries)."""
        job = ctx.job
        payload = job.payload
        if type(payload) is bytes and not payload.translate(None, NOT_EXT_OPENERS):
            # no extension value, so no model to fetch: built without awaiting anything
            args, ctx.options = self._arguments(job)
            ctx.task = task = self._instance(job, args)
        else:  # (a payload that is not bytes at all is poison: build() says so)
            task, ctx.options = await self.build(job)
            ctx.task = task
            raise_for_unresolved(task._args)  # a row deleted since dispatch fails the attempt
        if "scheduled_for" in ctx.options:  # a schedule's job: the slot it covers
            task._options["scheduled_for"] = ctx.options["scheduled_for"]
        parents = None
        if job.depends_on and (reads := self._parent_reads()) is not None:  # parent_results
            if reads_parent_results(type(task)):
                parents = await read_parents(reads, job, ctx.options)
                if type(task).executor != "process":
                    task._parent_results = await decode_parents(parents, self.runtime.serializer)
                else:  # the pool process decodes its own copy; failed() would need ours
                    task._parent_record = parents
            else:  # no round trip for what the task never reads
                task._parent_results = NOT_READ
        if ctx.timeout is None and type(task).executor == "async":
            try:  # Executors.run's common case, inlined: one coroutine less per job
                result = await task.execute()
            except SystemExit as exc:
                raise exit_refused(exc) from exc
        else:
            executors = self.runtime.executors
            result = await executors.run(task, job, timeout=ctx.timeout, parents=parents)
        return ctx.completed(result)

    def _parent_reads(self) -> SharedParentReads | None:
        """Where a child reads its parents' outcomes: shared by this worker's jobs."""
        if self._shared_reads is None:
            driver = self.runtime.driver
            if not isinstance(driver, Results):
                return None
            self._shared_reads = SharedParentReads(driver)
        return self._shared_reads

    async def lease_expired(self, job: Job) -> None:
        """A job that crash recovery dead-lettered here (the worker running its last
        attempt stopped renewing its lease): announce it and run its ``failed`` hook
        with a LeaseExpiredError. UnknownTaskError when this worker lacks the task."""
        exc = LeaseExpiredError(job.attempts)
        runtime = self.runtime
        with job_logging_context(job, runtime.worker_id):
            log.error(
                "job %s (%s) dead-lettered by lease recovery: %s",
                job.id,
                job.task,
                format_error(exc, with_traceback=False),
            )
            if runtime.emitter.enabled:
                error = format_error(exc, with_traceback=False)
                runtime.emitter.emit(
                    Event.for_job("task_dead", job, worker_id=runtime.worker_id, error=error)
                )
            try:
                task, options = await self.build(job)
            except UnknownTaskError:
                raise
            except Exception as build_error:  # an undecodable payload never stops a worker
                log.error(
                    "job %s (%s): its failed() hook cannot run, the task cannot be rebuilt "
                    "from its payload: %s",
                    job.id,
                    job.task,
                    format_error(build_error, with_traceback=False),
                )
                return
            reads = self._parent_reads() if job.depends_on else None
            if reads is not None and reads_parent_results(type(task)):
                task._parent_record = await read_parents(reads, job, options)
            await call_failed_hook(task, job, exc, runtime)


async def call_failed_hook(
    task: BaseTask[Any], job: Job, exc: Exception, runtime: WorkerRuntime
) -> None:
    """``failed`` runs once; if it raises, that is logged, never looped. It reads
    ``self.parent_results`` as ``execute`` did (decoded here for a process task)."""
    try:
        if task._parent_record is not None:
            record, task._parent_record = task._parent_record, None
            task._parent_results = await decode_parents(record, runtime.serializer)
        if inspect.iscoroutinefunction(task.failed):
            await task.failed(exc)
        else:
            await runtime.executors.in_thread(task.failed, exc)
    except (Exception, SystemExit) as hook_error:  # a hook never stops the worker
        log.error(
            "job %s: %s.failed() raised: %s",
            job.id,
            type(task).__qualname__,
            format_error(hook_error),
        )
