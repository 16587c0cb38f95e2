"""Concurrency keys across every worker: at most ``max_concurrency`` jobs with one
``concurrency_key`` run at once (capability ``ConcurrencyKeys``,
docs/flow-control.md).

The dispatcher works a job's key out (a function of the task instance, or text)
and carries it, with its limit, in the job's options. Before such a job starts, this
middleware asks the broker for a slot of its key (``acquire_slot``: one atomic step
there); with none free, the job is not run: it goes back to its queue a moment later
(``Released(run_at=...)``), its attempt not counted, and the worker goes on with
other jobs, so a full key never holds up another. When the attempt ends the slot is
given back; a slot whose job is no longer active (its worker crashed and the lease
lapsed) frees itself in the broker.

A job without a key pays one look for the option's name in its payload bytes: the
middleware decodes the payload only when it is there, and the chain hands such a job
straight to the rest (``bind``: the chain composed without this middleware).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable

from asynctasq.core.worker.middleware.base import Handler, JobContext, Middleware, WorkerRuntime
from asynctasq.drivers.capabilities import ConcurrencyKeys
from asynctasq.errors import UndecodablePayloadError
from asynctasq.jobs import Outcome, Released
from asynctasq.serialization.msgpack import Serializer
from asynctasq.serialization.payload import decode_payload

__all__ = ["KEY_OPTION", "LIMIT_OPTION", "RETRY_AFTER", "ConcurrencyLimiter"]

log = logging.getLogger("asynctasq.worker")

#: the job options that carry a key and its limit (core/dispatcher.py sets them)
KEY_OPTION, LIMIT_OPTION = "concurrency_key", "max_concurrency"
#: the option's name as MessagePack writes it (a fixstr): a payload without these
#: bytes has no key, and is not decoded here
_MARK = bytes([0xA0 | len(KEY_OPTION)]) + KEY_OPTION.encode()
#: seconds (from, to) after which a job whose key was full is looked at again
RETRY_AFTER = (0.25, 0.75)


def needs_slot(payload: object) -> bool:
    """Whether a job's payload may carry a concurrency key (decoded to know)."""
    # (a record damaged at rest may hold anything: the innermost step dead-letters it)
    return isinstance(payload, bytes) and _MARK in payload


class ConcurrencyLimiter(Middleware):
    name = "concurrency_keys"

    def __init__(self) -> None:
        super().__init__()
        self._slots: ConcurrencyKeys | None = None
        self._serializer: Serializer | None = None

    async def start(self, runtime: WorkerRuntime) -> None:
        # a broker without slots never receives a job with a key: the dispatch refuses it
        driver = runtime.driver
        self.enabled = isinstance(driver, ConcurrencyKeys)
        self._slots = driver if isinstance(driver, ConcurrencyKeys) else None
        self._serializer = runtime.serializer

    def bind(self, chain: Handler, without: Handler) -> Handler:
        """The chain's entry: ``chain`` (the whole chain, this middleware in its place)
        for a job whose payload may name a key, else ``without`` (the chain composed
        without it): most jobs pay one look at their bytes, no coroutine of this one."""

        def handler(ctx: JobContext) -> Awaitable[Outcome]:
            payload = ctx.job.payload  # needs_slot(), inlined: once per job
            if isinstance(payload, bytes) and _MARK in payload:
                return chain(ctx)
            return without(ctx)

        return handler

    async def __call__(self, ctx: JobContext, call_next: Handler) -> Outcome:
        job = ctx.job
        payload = job.payload
        if not needs_slot(payload):
            return await call_next(ctx)
        try:
            _, options = decode_payload(payload, self._serializer)
        except UndecodablePayloadError:
            return await call_next(ctx)  # the innermost step dead-letters it
        key, limit = options.get(KEY_OPTION), options.get(LIMIT_OPTION, 1)
        if not isinstance(key, str) or type(limit) is not int or limit < 1:
            return await call_next(ctx)
        slots = self._slots
        assert slots is not None  # enabled only with slots
        if not await slots.acquire_slot(job, key, limit):
            run_at = ctx.clock.time() + random.uniform(*RETRY_AFTER)
            log.debug("job %s: concurrency key %r is full (%d): back soon", job.id, key, limit)
            return Released(job.id, ctx.worker_id, job.attempts, queue=job.queue, run_at=run_at)
        try:
            return await call_next(ctx)
        finally:
            try:
                await slots.release_slot(job, key)
            except Exception as exc:  # harmless: a slot counts only while its job is active
                log.warning(
                    "job %s: its slot of %r was not given back (%s: %s); it frees itself "
                    "once the job is settled",
                    job.id,
                    key,
                    type(exc).__name__,
                    exc,
                )
