"""Worker middleware: what runs around each attempt of a job (docs/middleware.md).

from asynctasq.core.worker import Middleware, JobContext, Worker

class Audit(Middleware):
    before = "retries"  # sees what a failure became (retried or dead)

    async def __call__(self, ctx, call_next):
        outcome = await call_next(ctx)
        print(ctx.job.id, type(outcome).__name__)
        return outcome

Worker(middleware=[Audit()])   # or ASYNCTASQ_MIDDLEWARE=myapp.audit:Audit
"""

from asynctasq.core.worker.middleware.base import (
    Handler,
    JobContext,
    Middleware,
    WorkerRuntime,
    error_text,
)
from asynctasq.core.worker.middleware.chain import (
    BUILTIN_ORDER,
    Chain,
    arrange,
    builtin_middleware,
    compose,
    escaped,
)
from asynctasq.core.worker.middleware.events import Events
from asynctasq.core.worker.middleware.loading import load_middleware
from asynctasq.core.worker.middleware.logging_context import LoggingContext
from asynctasq.core.worker.middleware.retries import Retries, attempt_failed, default_retry_delay

__all__ = [
    "BUILTIN_ORDER",
    "Chain",
    "Events",
    "Handler",
    "JobContext",
    "LoggingContext",
    "Middleware",
    "Retries",
    "WorkerRuntime",
    "arrange",
    "attempt_failed",
    "builtin_middleware",
    "compose",
    "default_retry_delay",
    "error_text",
    "escaped",
    "load_middleware",
]
