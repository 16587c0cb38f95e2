"""Waiting for jobs' results (the ``Results`` capability): ``asynctasq.results``.

``get(job_id)`` looks the job up, and until it finished waits for the broker's next
notice that jobs ended (Redis pub/sub, PostgreSQL NOTIFY, the memory broker's
event; SQLite and MySQL cannot push, so their waiters poll, from 10 ms up to every
0.5 s), then looks again. A completed job's result is decoded with the serializer
(msgpack and the type hooks, so the types a hook covers come back as themselves;
ORM models are fetched fresh); a job that ended otherwise raises
``JobFailedError`` with its error text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from asynctasq.config import get_global_config
from asynctasq.core.backends import Backend, connect_backend
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Results, require
from asynctasq.drivers.results import OutcomeSource, StoredOutcome
from asynctasq.errors import JobFailedError, ResultTimeoutError, ResultUnavailableError
from asynctasq.jobs import Job, JobState
from asynctasq.serialization.limits import may_hold_extensions
from asynctasq.serialization.msgpack import Serializer, serializer_for
from asynctasq.serialization.resolve import resolve_references
from asynctasq.tasks.parents import ParentFailure, ParentResults

__all__ = [
    "decode_outcome",
    "decode_parents",
    "decode_result",
    "get",
    "get_many",
    "outcomes",
    "parent_results",
    "read_parents",
    "wait_outcomes",
]

#: how long one wait without a deadline sleeps before it looks again anyway
_LOOK_AGAIN = 60.0


async def get(
    job_id: str,
    *,
    timeout: float | None = None,
    backend: Backend = None,
    serializer: Serializer | None = None,
) -> Any:
    """The result of job ``job_id``, waiting up to ``timeout`` seconds (None: no
    limit) for it to finish. Raises ``JobFailedError`` (it was dead-lettered,
    cancelled or expired), ``ResultTimeoutError``, ``ResultUnavailableError`` (no
    such job, or forgotten after the retention), ``CapabilityMissing`` (a broker
    without results)."""
    return (await get_many([job_id], timeout=timeout, backend=backend, serializer=serializer))[0]


async def get_many(
    job_ids: Sequence[str],
    *,
    timeout: float | None = None,
    backend: Backend = None,
    serializer: Serializer | None = None,
) -> list[Any]:
    """The results of ``job_ids``, in order (as ``get``, the first failure raised)."""
    driver = await connect_backend(backend)
    found = await wait_outcomes(driver, job_ids, timeout)
    return [await decode_outcome(found[job_id], serializer) for job_id in job_ids]


async def outcomes(driver: Driver, job_ids: Sequence[str]) -> dict[str, StoredOutcome]:
    """How each job stands now (unknown ids left out), without waiting."""
    return await require(driver, Results, "results").job_outcomes(list(dict.fromkeys(job_ids)))


async def wait_outcomes(
    driver: Driver, job_ids: Sequence[str], timeout: float | None
) -> dict[str, StoredOutcome]:
    """Wait until every job of ``job_ids`` finished; their outcomes."""
    results = require(driver, Results, "results.get")
    ids = list(dict.fromkeys(str(job_id) for job_id in job_ids))  # (handles: plain ids)
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    async with results.finish_notices() as notices:
        while True:
            notices.arm()  # before the look: a job that ends during it still wakes us
            found = await results.job_outcomes(ids)
            for job_id in ids:
                if job_id not in found:
                    raise ResultUnavailableError(job_id)
            waiting = [found[i] for i in ids if not found[i].state.finished]
            if not waiting:
                return found
            if deadline is None:
                await notices.wait(_LOOK_AGAIN)
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                assert timeout is not None
                raise ResultTimeoutError(waiting[0].job_id, timeout, waiting[0].state.value)
            await notices.wait(remaining)


async def decode_outcome(outcome: StoredOutcome, serializer: Serializer | None = None) -> Any:
    """The result of a finished job, decoded; JobFailedError when it did not complete."""
    if outcome.state is not JobState.COMPLETED:
        raise JobFailedError(outcome.job_id, outcome.state.value, outcome.error)
    return await decode_result(outcome.result, serializer)


async def decode_result(data: bytes | None, serializer: Serializer | None = None) -> Any:
    if data is None:
        return None
    config = get_global_config()
    value = (serializer or serializer_for(config)).loads(data)
    if may_hold_extensions(data):  # a model: fetched fresh, as a job's arguments are
        value = await resolve_references(value, config)
    return value


#: options a job carries in its payload for its parents' results (set by flows)
NAMES_OPTION, SHAPE_OPTION = "parent_names", "previous"


async def parent_results(
    driver: OutcomeSource, job: Job, options: Mapping[str, Any], serializer: Serializer
) -> ParentResults:
    """``self.parent_results`` of a job about to run: its parents' results, read in
    one look (they all finished: that is why it runs)."""
    return await decode_parents(await read_parents(driver, job, options), serializer)


async def read_parents(
    driver: OutcomeSource, job: Job, options: Mapping[str, Any]
) -> dict[str, Any]:
    """What ``self.parent_results`` is built from, as plain data (msgpack-able, the
    results still encoded): a process task gets it over the pool's pipe and decodes
    it there (``decode_parents``), so a model among the results is fetched by the
    process that uses it."""
    found = await driver.job_outcomes(job.depends_on)
    values: list[list[Any]] = []
    for parent in job.depends_on:
        outcome = found.get(parent)
        if outcome is None:
            values.append(
                [parent, "unknown", "the parent was removed, or its result was forgotten"]
            )
        elif outcome.state is JobState.COMPLETED:
            values.append([parent, None, outcome.result])
        else:
            values.append([parent, outcome.state.value, outcome.error or ""])
    names = options.get(NAMES_OPTION)
    shape = options.get(SHAPE_OPTION)
    return {
        "values": values,
        "names": dict(names) if isinstance(names, Mapping) else None,
        "order": list(job.depends_on),
        "shape": shape if isinstance(shape, str) else "",
    }


async def decode_parents(record: Mapping[str, Any], serializer: Serializer) -> ParentResults:
    """The ``ParentResults`` of a ``read_parents`` record: each completed parent's
    result decoded, each other one a ``ParentFailure``."""
    values: dict[str, Any] = {}
    for parent, state, data in record["values"]:
        if state is None:  # completed: data is its encoded result
            values[parent] = await decode_result(data, serializer)
        else:  # data is the error text
            values[parent] = ParentFailure(parent, state, data)
    return ParentResults(values, record["names"], tuple(record["order"]), record["shape"])
