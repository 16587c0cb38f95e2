"""Three middleware, a few lines each. The worker loads them from the command line
(``--middleware audit:Audit,audit:KillSwitch,audit:ReportErrors``) or from
``ASYNCTASQ_MIDDLEWARE``; in code, ``Worker(middleware=[Audit(), ...])``."""

from __future__ import annotations

import os

from asynctasq.core.worker import Handler, JobContext, Middleware, WorkerRuntime
from asynctasq.jobs import Outcome


class Audit(Middleware):
    """One line per attempt: what it ended as, and why. Placed before the built-in
    retries middleware, it sees what a failure became: retried, or dead."""

    before = "retries"

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        outcome = await call_next(ctx)
        error = getattr(outcome, "error", "")
        why = f": {error.splitlines()[0]}" if error else ""
        kind = type(outcome).__name__.lower()
        print(f"[audit] {ctx.job.task} attempt {ctx.job.attempts}: {kind}{why}", flush=True)
        return outcome


class KillSwitch(Middleware):
    """Jobs of the tasks named in DISABLED_TASKS go to the dead-letter state without
    running: an outcome of its own instead of calling the rest of the chain. Requeue
    them once the task is fixed (``asynctasq`` keeps them)."""

    before = "retries"

    async def start(self, runtime: WorkerRuntime) -> None:
        self.disabled = set(filter(None, os.environ.get("DISABLED_TASKS", "").split(",")))

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        if ctx.job.task in self.disabled:
            return ctx.failed("disabled by the kill switch (DISABLED_TASKS)")
        return await call_next(ctx)


class ReportErrors(Middleware):
    """Around the task itself (no placement): what its body raises goes to an error
    tracker (printed here), then on to retries, which decides what happens next."""

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        try:
            return await call_next(ctx)
        except Exception as exc:
            print(f"[error tracker] {ctx.job.task} attempt {ctx.job.attempts}: {exc!r}", flush=True)
            raise
