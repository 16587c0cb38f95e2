"""Corruptions the in-memory broker can hold: its records are Python objects, so
damage is a wrong value in a field.

Only the driver itself writes those objects (there is no other tool, file or server
that could), so the damage here is to what the worker reads to rebuild a task: the
payload and the task name. A field the driver's own bookkeeping reads (attempts,
state, run_at) damaged in place would be a bug in the driver, not bad input."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asynctasq.jobs import Job
from tests.backend_base import Backend
from tests.hostile.corruption import Corruption
from tests.hostile.damaged_payloads import DAMAGED_PAYLOADS, UNKNOWN_TASK, DamagedPayload


def _stored(backend: Backend, job: Job) -> Job:
    return backend.broker.jobs[job.id]  # type: ignore[attr-defined, no-any-return]


def _set(field: str, value: Any) -> Callable[[Backend, Job], Awaitable[None]]:
    async def apply(backend: Backend, job: Job) -> None:
        setattr(_stored(backend, job), field, value)

    return apply


def _payload(damaged: DamagedPayload) -> Corruption:
    async def apply(backend: Backend, job: Job) -> None:
        _stored(backend, job).payload = damaged.damage(job)

    return Corruption(damaged.name, apply, damaged.reason)


CORRUPTIONS = [
    *(_payload(damaged) for damaged in DAMAGED_PAYLOADS),
    Corruption("payload is a str, not bytes", _set("payload", "text, not bytes"), "undecodable"),
    Corruption("task name unknown", _set("task", UNKNOWN_TASK), "unknown task"),
    Corruption("task name not a str", _set("task", 42), "unknown task"),
]
