"""One job, start to outcome: rebuild the task, run it, decide what happens next.

Nothing a task does can escape from here: every exception becomes an outcome
(completed, retried, failed) and the worker carries on.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from asynctasq.config import Config, redact_secrets
from asynctasq.core.events.emitters import EventEmitter
from asynctasq.core.events.progress import ProgressSink
from asynctasq.core.events.types import Event
from asynctasq.core.logs import job_logging_context
from asynctasq.core.worker.executors import Executors
from asynctasq.errors import PoisonJobError
from asynctasq.jobs import Completed, Failed, Job, Outcome, Released, Retried
from asynctasq.serialization.msgpack import Serializer
from asynctasq.serialization.payload import decode_payload
from asynctasq.serialization.resolve import raise_for_unresolved, resolve_references
from asynctasq.tasks.base import BaseTask
from asynctasq.tasks.registry import TaskRegistry
from asynctasq.tasks.retry import Backoff, RetryDelay, retry_delay_for

__all__ = ["JobRunner", "format_error"]

log = logging.getLogger("asynctasq.worker")

ProgressReporter = Callable[[BaseTask[Any], float, dict[str, Any]], Awaitable[None]]


def format_error(exc: BaseException, *, with_traceback: bool = True) -> str:
    head = f"{type(exc).__qualname__}: {exc}"
    if not with_traceback:
        return redact_secrets(head)
    remote = getattr(exc, "remote_traceback", None)
    tb = remote or "".join(traceback.format_exception(exc))
    return redact_secrets(f"{head}\n\n{tb}")


def _short_traceback(exc: BaseException, frames: int = 3) -> str:
    remote = getattr(exc, "remote_traceback", None)
    if remote:
        return "\n".join(remote.strip().splitlines()[-2 * frames - 1 :])
    return "".join(traceback.format_exception(exc, limit=-frames)).strip()


class JobRunner:
    def __init__(
        self,
        *,
        worker_id: str,
        config: Config,
        registry: TaskRegistry,
        executors: Executors,
        serializer: Serializer,
        emitter: EventEmitter,
        keep_result: bool,
        allow: Iterable[str] = (),
        progress: ProgressReporter | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.config = config
        self.registry = registry
        self.executors = executors
        self.serializer = serializer
        self.emitter = emitter
        self.keep_result = keep_result
        self.allow = list(allow)
        self.progress = progress
        self._sink: ProgressSink | None = None  # one per runner, built on its loop
        self.default_retry: RetryDelay = (
            Backoff(base=config.default_retry_delay, max_delay=config.default_retry_max_delay)
            if config.default_retry_backoff == "exponential"
            else config.default_retry_delay
        )

    async def build(self, job: Job) -> tuple[BaseTask[Any], dict[str, Any]]:
        """The task instance for a job; PoisonJobError when it cannot be built."""
        cls = self.registry.get(job.task, self.allow)
        args, options = decode_payload(job.payload, self.serializer)
        args = await resolve_references(args, self.config)  # ORM rows, fetched fresh
        try:
            task = cls(**args)
        except Exception as exc:
            raise PoisonJobError(
                f"arguments no longer match {job.task}: {type(exc).__name__}: {exc}"
            ) from exc
        task._task_id, task._attempts, task._job = job.id, job.attempts, job
        if self.progress is not None:
            if self._sink is None:
                self._sink = ProgressSink(self.progress, asyncio.get_running_loop())
            task._progress_sink = self._sink
        return task, options

    async def run(self, job: Job) -> Outcome:
        # every record logged while the job runs names it (task id, queue, attempt...)
        with job_logging_context(job, self.worker_id):
            return await self._run(job)

    async def _run(self, job: Job) -> Outcome:
        started = time.monotonic()
        emit = self.emitter.enabled
        if emit:
            self.emitter.emit(Event.for_job("task_started", job, worker_id=self.worker_id))
        try:
            task, options = await self.build(job)
        except PoisonJobError as exc:
            log.error("job %s (%s) is poison, dead-lettered: %s", job.id, job.task, exc)
            return self._dead(job, exc, started)
        try:
            raise_for_unresolved(task._args)  # a row deleted since dispatch fails the attempt
            result = await self.executors.run(task, job)
        except asyncio.CancelledError:
            # shutdown ran out of time: back to pending for another worker, now
            log.warning("job %s (%s) interrupted by shutdown; released", job.id, job.task)
            return Released(job.id, self.worker_id, job.attempts, queue=job.queue)
        except Exception as exc:
            return await self._failure(task, options, job, exc, started)
        return self._success(job, result, started)

    def _success(self, job: Job, result: Any, started: float) -> Outcome:
        encoded = None
        if self.keep_result and result is not None:
            try:
                encoded = self.serializer.dumps(result)
            except TypeError as exc:
                log.warning("job %s: result not kept, it has no msgpack form: %s", job.id, exc)
        if self.emitter.enabled:
            ms = (time.monotonic() - started) * 1000
            self.emitter.emit(
                Event.for_job("task_completed", job, worker_id=self.worker_id, duration_ms=ms)
            )
        return Completed(job.id, self.worker_id, job.attempts, queue=job.queue, result=encoded)

    async def _failure(
        self,
        task: BaseTask[Any],
        options: dict[str, Any],
        job: Job,
        exc: Exception,
        started: float,
    ) -> Outcome:
        if self.emitter.enabled:
            self.emitter.emit(self._failure_event("task_failed", job, exc, started))
        if job.attempts < job.max_attempts and self._should_retry(task, exc):
            policy = options.get("retry_delay", type(task).task_config.get("retry_delay"))
            delay = retry_delay_for(self.default_retry if policy is None else policy, job.attempts)
            log.info(
                "job %s (%s) attempt %d/%d failed, retry in %.2fs: %s",
                job.id,
                job.task,
                job.attempts,
                job.max_attempts,
                delay,
                format_error(exc, with_traceback=False),
            )
            run_at = time.time() + delay
            if self.emitter.enabled:
                self.emitter.emit(
                    self._failure_event("task_retrying", job, exc, started, run_at=run_at)
                )
            return Retried(
                job.id,
                self.worker_id,
                job.attempts,
                queue=job.queue,
                run_at=run_at,
                error=format_error(exc),
            )
        log.error(
            "job %s (%s) failed for good after %d attempt(s): %s",
            job.id,
            job.task,
            job.attempts,
            format_error(exc, with_traceback=False),
        )
        await self._call_failed_hook(task, job, exc)
        return self._dead(job, exc, started, failure_announced=True)

    def _dead(
        self, job: Job, exc: BaseException, started: float, *, failure_announced: bool = False
    ) -> Outcome:
        """To the dead-letter state: task_failed (the attempt) then task_dead."""
        if self.emitter.enabled:
            if not failure_announced:
                self.emitter.emit(self._failure_event("task_failed", job, exc, started))
            self.emitter.emit(self._failure_event("task_dead", job, exc, started))
        return Failed(
            job.id, self.worker_id, job.attempts, queue=job.queue, error=format_error(exc)
        )

    def _failure_event(
        self, kind: Any, job: Job, exc: BaseException, started: float, **extra: Any
    ) -> Event:
        return Event.for_job(
            kind,
            job,
            worker_id=self.worker_id,
            duration_ms=(time.monotonic() - started) * 1000,
            error=format_error(exc, with_traceback=False),
            traceback=_short_traceback(exc),
            **extra,
        )

    @staticmethod
    def _should_retry(task: BaseTask[Any], exc: Exception) -> bool:
        try:
            return bool(task.should_retry(exc))
        except (Exception, SystemExit):  # a hook never stops the worker
            log.exception("%s.should_retry raised; not retrying", type(task).__qualname__)
            return False

    async def _call_failed_hook(self, task: BaseTask[Any], job: Job, exc: Exception) -> None:
        """``failed`` runs once; if it raises, that is logged, never looped."""
        try:
            if inspect.iscoroutinefunction(task.failed):
                await task.failed(exc)
            else:
                await self.executors.in_thread(task.failed, exc)
        except (Exception, SystemExit):  # a hook never stops the worker
            log.exception("job %s: %s.failed() raised", job.id, type(task).__qualname__)
