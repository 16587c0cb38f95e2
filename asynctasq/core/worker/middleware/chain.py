"""The order of the middleware, and the chain composed from them once per worker.

The built-ins, outermost first::

    logging  ->  events  ->  retries  ->  (yours)  ->  the task

A middleware with ``before="retries"`` goes just before retries (it wraps it: it
sees the outcome a failure became); with ``after="events"``, just after events;
with neither, after every built-in, around the task itself, in the order given.
One whose ``name`` is a built-in's replaces it where it stands.

The chain is composed when the worker starts: each middleware is bound to the rest
once, and middleware that left themselves out (``enabled`` false after ``start``)
are not in it at all, so per job the chain costs one call per middleware that acts.

Some built-ins join only when needed: the rate limiter (``rate_limits``, outermost)
when the broker holds rate limits (a queue's limit may be stored at any time) or a
task sets ``rate_limit``; a job under no limit passes it without a coroutine.
The concurrency keys (``concurrency_keys``, just inside ``logging``) join when the
broker has slots; the rate limiter stays outside them: a job without a token never
takes a slot of its concurrency key. A job whose payload names no key takes the
chain composed without them (one look at its bytes), so the default chain is
``logging`` around ``retries``, run as one step.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable, Sequence

from asynctasq.config import ConfigError
from asynctasq.core.logs import enter_job_context, leave_job_context
from asynctasq.core.worker.middleware.base import Handler, JobContext, Middleware, WorkerRuntime
from asynctasq.core.worker.middleware.concurrency import ConcurrencyLimiter
from asynctasq.core.worker.middleware.events import Events
from asynctasq.core.worker.middleware.logging_context import LoggingContext
from asynctasq.core.worker.middleware.rate_limits import RateLimiter
from asynctasq.core.worker.middleware.retries import Retries, attempt_failed
from asynctasq.jobs import Outcome

__all__ = ["BUILTIN_ORDER", "Chain", "arrange", "builtin_middleware", "compose", "escaped"]

log = logging.getLogger("asynctasq.worker")

BUILTIN_ORDER = ("logging", "events", "retries")


def builtin_middleware() -> list[Middleware]:
    """Fresh instances of the built-ins, outermost first."""
    return [LoggingContext(), Events(), Retries()]


def arrange(builtins: Sequence[Middleware], extra: Iterable[Middleware]) -> list[Middleware]:
    """The whole chain, outermost first: ``builtins`` with ``extra`` placed by their
    ``before``/``after`` (ConfigError for a placement that cannot be honoured)."""
    chain = list(builtins)
    replaceable = {m.name for m in builtins}
    placed_after: dict[str, int] = {}  # how many went after each name: they keep their order
    for middleware in extra:
        name, before, after = middleware.name, middleware.before, middleware.after
        if before and after:
            raise ConfigError(f"middleware {name!r} sets both before= and after=: choose one")
        names = [m.name for m in chain]
        if name in names:
            if name not in replaceable:
                raise ConfigError(
                    f"two middleware are named {name!r}: give one a name of its own (name = ...)"
                )
            replaceable.discard(name)  # a built-in, replaced: where it stands, or moved
            if not (before or after):
                chain[names.index(name)] = middleware
                continue
            del chain[names.index(name)]
            names.remove(name)
        anchor = before or after
        if anchor is None:
            chain.append(middleware)
            continue
        if anchor not in names:
            raise ConfigError(
                f"middleware {name!r} wants to go {'before' if before else 'after'} "
                f"{anchor!r}, which is not in the chain ({', '.join(names)})"
            )
        at = names.index(anchor)
        if after:
            at += 1 + placed_after.get(anchor, 0)
            placed_after[anchor] = placed_after.get(anchor, 0) + 1
        chain.insert(at, middleware)
    return chain


def compose(middleware: Sequence[Middleware], innermost: Handler) -> Handler:
    """One handler that runs ``middleware`` (outermost first) around ``innermost``."""
    if middleware and isinstance(middleware[0], RateLimiter):
        return middleware[0].bind(compose(middleware[1:], innermost))
    for layer in middleware:
        if isinstance(layer, ConcurrencyLimiter):  # only jobs with a key go through it
            others = [m for m in middleware if m is not layer]
            return layer.bind(_layered(middleware, innermost), compose(others, innermost))
    if [type(m) for m in middleware] == [LoggingContext, Retries]:
        return _logging_and_retries(middleware[1], innermost)  # type: ignore[arg-type]
    return _layered(middleware, innermost)


def _layered(middleware: Sequence[Middleware], innermost: Handler) -> Handler:
    """Each of ``middleware`` bound around the next, the last around ``innermost``."""
    handler = innermost
    for layer in reversed(middleware):
        handler = _bind(layer, handler)
    return handler


def _bind(layer: Middleware, call_next: Handler) -> Handler:
    call = layer.__call__

    def handler(ctx: JobContext) -> Awaitable[Outcome]:
        return call(ctx, call_next)

    return handler


def _logging_and_retries(retries: Retries, innermost: Handler) -> Handler:
    """The default chain (no events, none of yours), as one step instead of two:
    exactly ``LoggingContext`` around ``Retries`` around ``innermost``, with one
    coroutine less per job."""

    async def handler(ctx: JobContext) -> Outcome:
        token = enter_job_context(ctx.job, ctx.runtime.worker_id)
        try:
            try:
                return await innermost(ctx)
            except Exception as exc:
                ctx.error = exc
                return await retries.classify(ctx, exc)
        finally:
            leave_job_context(token)

    return handler


class Chain:
    """A worker's middleware, the built-ins and ``extra`` in their order: started with
    the worker, composed once, stopped with it."""

    def __init__(self, extra: Iterable[Middleware] = ()) -> None:
        self.middleware = arrange(builtin_middleware(), extra)
        self.active: list[Middleware] = []
        self._started: list[Middleware] = []
        #: the rate limiter, which also gates the worker's claims (open_queues)
        self.rate_limiter = RateLimiter()

    async def start(self, runtime: WorkerRuntime, innermost: Handler) -> Handler:
        for layer in self.middleware:
            try:
                await layer.start(runtime)
            except Exception:
                log.error("middleware %r could not start: the worker does not start", layer.name)
                await self.stop()
                raise
            self._started.append(layer)
        self.active = [m for m in self.middleware if m.enabled]
        await self._join_when_needed(ConcurrencyLimiter(), runtime, after="logging")
        await self._join_when_needed(self.rate_limiter, runtime, after=None)
        log.debug("middleware: %s", " -> ".join(m.name for m in self.active) or "none")
        return compose(self.active, innermost)

    async def _join_when_needed(
        self, layer: Middleware, runtime: WorkerRuntime, *, after: str | None
    ) -> None:
        """Start a conditional built-in; add it to the active chain (just after
        ``after``, or outermost) only when it enabled itself."""
        try:
            await layer.start(runtime)
        except Exception:
            log.error("middleware %r could not start: the worker does not start", layer.name)
            await self.stop()
            raise
        self._started.append(layer)
        if layer.enabled:
            names = [m.name for m in self.active]
            self.active.insert(names.index(after) + 1 if after in names else 0, layer)

    async def stop(self) -> None:
        """Stop what started, innermost first; a failure is logged, never raised."""
        started, self._started = self._started, []
        for layer in reversed(started):
            try:
                await layer.stop()
            except Exception as exc:
                log.warning(
                    "middleware %r failed to stop (%s: %s)", layer.name, type(exc).__name__, exc
                )


def escaped(ctx: JobContext, exc: BaseException) -> Outcome:
    """The outcome of an attempt whose exception got out of the chain. Cancelled (the
    worker is stopping): released, back to the queue at once. Any other exception is
    a middleware's (retries turns the task's into outcomes): the attempt fails,
    retried after the default delay while attempts remain, then dead-lettered."""
    if isinstance(exc, Exception):
        return attempt_failed(ctx, exc)
    log.warning("job %s (%s) interrupted by shutdown; released", ctx.job.id, ctx.job.task)
    return ctx.released()
