"""Every record logged while a job runs names it: task id and name, queue, attempt,
worker (``core/logs.py``). First in the chain, so the other middleware's records
carry the job too."""

from __future__ import annotations

from asynctasq.core.logs import enter_job_context, leave_job_context
from asynctasq.core.worker.middleware.base import Handler, JobContext, Middleware
from asynctasq.jobs import Outcome

__all__ = ["LoggingContext"]


class LoggingContext(Middleware):
    name = "logging"

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        # the default chain runs this fused with Retries (chain.py): keep in step
        token = enter_job_context(ctx.job, ctx.runtime.worker_id)
        try:
            return await call_next(ctx)
        finally:
            leave_job_context(token)
