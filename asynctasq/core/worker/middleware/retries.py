"""What a failed attempt becomes: a retry after its backoff, or the dead-letter state.

An exception from the rest of the chain (the task's body, or a middleware after
this one) is classified here: while attempts remain and ``task.should_retry(exc)``
agrees, the job runs again after its retry delay (the job's own ``retry_after``,
else its task's ``retry_delay``, else the settings' default); otherwise the task's
``failed()`` hook runs once and the job goes to the dead-letter state. A job whose
task cannot even be built (``PoisonJobError``: undecodable payload, unknown task,
arguments that no longer match) is dead-lettered at once.
"""

from __future__ import annotations

import logging
from typing import Any

from asynctasq.config import Config
from asynctasq.core.worker.middleware.base import Handler, JobContext, Middleware, error_text
from asynctasq.core.worker.runner import call_failed_hook, format_error
from asynctasq.errors import PoisonJobError, UnknownTaskError
from asynctasq.jobs import Outcome, validate_name
from asynctasq.tasks.base import BaseTask
from asynctasq.tasks.retry import Backoff, RetryDelay, retry_delay_for

__all__ = ["Retries", "attempt_failed", "default_retry_delay"]

log = logging.getLogger("asynctasq.worker")


def default_retry_delay(config: Config) -> RetryDelay:
    """The retry delay of tasks that set none, from the ``default_retry_*`` settings."""
    if config.default_retry_backoff == "exponential":
        return Backoff(base=config.default_retry_delay, max_delay=config.default_retry_max_delay)
    return config.default_retry_delay


#: seconds between two looks at a job of an unknown task (within its grace)
UNKNOWN_TASK_RECHECK = 10.0


class Retries(Middleware):
    name = "retries"

    def __init__(self) -> None:
        super().__init__()
        #: tasks an unknown-task warning was logged for
        self._warned: set[str] = set()

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        # the default chain runs this fused with LoggingContext (chain.py): keep in step
        try:
            return await call_next(ctx)
        except Exception as exc:
            ctx.error = exc
            return await self.classify(ctx, exc)

    async def classify(self, ctx: JobContext, exc: Exception) -> Outcome:
        """The outcome of an attempt that raised ``exc``."""
        job, task = ctx.job, ctx.task
        if task is None:  # it never got as far as the task
            if isinstance(exc, UnknownTaskError):
                return self.unknown_task(ctx, exc)
            if isinstance(exc, PoisonJobError):
                log.error("job %s (%s) is poison, dead-lettered: %s", job.id, job.task, exc)
                return ctx.failed(exc)
            return attempt_failed(ctx, exc)
        if job.attempts < job.max_attempts and _should_retry(task, exc):
            delay = self.delay(ctx, task)
            log.info(
                "job %s (%s) attempt %d/%d failed, retry in %.2fs: %s",
                job.id,
                job.task,
                job.attempts,
                job.max_attempts,
                delay,
                format_error(exc, with_traceback=False),
            )
            return ctx.retried(delay, exc)
        log.error(
            "job %s (%s) failed for good after %d attempt(s): %s",
            job.id,
            job.task,
            job.attempts,
            format_error(exc, with_traceback=False),
        )
        await call_failed_hook(task, job, exc, ctx.runtime)
        return ctx.failed(exc)

    def unknown_task(self, ctx: JobContext, exc: UnknownTaskError) -> Outcome:
        """A job whose task this worker does not know: back to the queue for a worker
        that does (or this one, redeployed), until ``unknown_task_grace`` seconds from
        its dispatch; then dead-lettered, the reason saying how to fix it. Each look
        counts as an attempt (brokers release a job without counting only at once, which
        would spin): a job that waited long may have fewer retries left when it runs.
        A name no task can have (a damaged record) is dead-lettered at once."""
        job, runtime = ctx.job, ctx.runtime
        grace = runtime.config.unknown_task_grace
        waited = runtime.clock.time() - job.created_at
        if waited < grace and _could_be_a_task(job.task):
            if job.task not in self._warned:  # once per task: a backlog is one mistake
                self._warned.add(job.task)
                log.warning(
                    "job %s: %s Its jobs go back to the queue for up to %.0fs after their "
                    "dispatch (ASYNCTASQ_UNKNOWN_TASK_GRACE), then to the dead-letter state",
                    job.id,
                    exc,
                    grace,
                )
            return ctx.retried(min(UNKNOWN_TASK_RECHECK, grace - waited), exc)
        dead = UnknownTaskError(job.task, waited=max(waited, 0.0), queue=job.queue)
        log.error("job %s (%s) dead-lettered: %s", job.id, job.task, dead)
        return ctx.failed(dead)

    def delay(self, ctx: JobContext, task: BaseTask[Any]) -> float:
        """Seconds until the next attempt: the job's own ``retry_after``, else its
        task's ``retry_delay``, else the default."""
        policy = ctx.options.get("retry_delay", type(task).task_config.get("retry_delay"))
        default = ctx.runtime.default_retry
        return retry_delay_for(default if policy is None else policy, ctx.job.attempts)


def attempt_failed(ctx: JobContext, exc: BaseException) -> Outcome:
    """An attempt that failed outside the task (a middleware raised): retried after
    the default delay while attempts remain, then dead-lettered with the error. The
    task's ``should_retry`` and ``failed()`` are not asked: the task may not exist."""
    job = ctx.job
    ctx.error = exc
    log.error(
        "job %s (%s): a middleware raised, the attempt fails: %s",
        job.id,
        job.task,
        error_text(exc),
    )
    if job.attempts < job.max_attempts:
        return ctx.retried(retry_delay_for(ctx.runtime.default_retry, job.attempts), exc)
    return ctx.failed(exc)


def _should_retry(task: BaseTask[Any], exc: Exception) -> bool:
    try:
        return bool(task.should_retry(exc))
    except (Exception, SystemExit):  # a hook never stops the worker
        log.exception("%s.should_retry raised; not retrying", type(task).__qualname__)
        return False


def _could_be_a_task(name: object) -> bool:
    """Whether some worker could know this name (a damaged record's cannot)."""
    try:
        validate_name("task", name)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True
