"""Names, keys and ids with odd characters: refused at dispatch with a clear error when
no SQL broker could store them faithfully (they name something: changing them behind
the caller's back would change what they name), stored exactly as given otherwise.
A worker id is the exception: it is the worker's own, so it is stored sanitised, the
same way at every call, and fencing still matches."""

from __future__ import annotations

import math
from typing import Any

import pytest

from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.base import Driver
from asynctasq.jobs import Completed, Job, JobState, WorkerInfo
from tests.backends import Backend
from tests.conftest import only_backends
from tests.sample_tasks import Record

SQL = ("sqlite", "postgres", "mysql")
ODD = "t\u00e2che \U0001f600 '; DROP TABLE x; -- \\ % %s :name \" `"


def _job(**fields: Any) -> Job:
    return Job(task=fields.pop("task", "t"), payload=fields.pop("payload", b"p"), **fields)


def _forged(**fields: Any) -> Job:
    """A job with numbers the constructor refuses (a caller that built it without
    the constructor's checks): the broker refuses it too."""
    good = _job()
    values = {name: getattr(good, name) for name in Job.__slots__}
    return Job.unchecked(**{**values, **fields})


def _key_limit(backend: Backend) -> int | None:
    return {"mysql": 255, "postgres": 512}.get(backend.name)


async def _nothing_stored(driver: Driver) -> None:
    assert (await driver.stats("default")).depth == 0
    assert await driver.list_jobs("default") == []


@only_backends(*SQL)
async def test_values_no_broker_could_store_are_refused_with_the_job_named(
    backend: Backend,
) -> None:
    driver = await backend.new_driver()
    limit = _key_limit(backend)
    refused = [
        (_job(queue="bad queue!"), "invalid queue name"),
        (_job(task="t\x00nul"), "task contains a NUL character"),
        (_job(task="t\udce9"), "task contains lone surrogates"),
        (_job(unique_key="a\x00b"), "unique_key contains a NUL character"),
        (_job(unique_key="caf\udce9"), "unique_key contains lone surrogates"),
        (_job(unique_key=""), "unique_key must be non-empty text"),
        (_job(payload="text"), "payload must be bytes"),  # type: ignore[arg-type]
        (_forged(run_at=math.nan), "must be finite"),
        (_forged(timeout=math.inf), "must be finite"),
        (_forged(priority=2**40), "priority must be an integer within 32 bits"),
        (_forged(max_attempts=0), "max_attempts must be an integer from 1 up"),
        (_job(depends_on=(1,)), "depends_on must hold job ids"),  # type: ignore[arg-type]
    ]
    if limit is not None:
        refused.append((_job(unique_key="k" * (limit + 1)), f"keeps at most {limit}"))
    for bad, reason in refused:
        with pytest.raises(ValueError) as error:
            await driver.enqueue([_job(), bad, _job()])
        assert bad.id in str(error.value) and reason in str(error.value)
        assert "Nothing of this batch was stored" in str(error.value)
        await _nothing_stored(driver)


@only_backends(*SQL)
async def test_refused_at_dispatch_through_the_public_api(backend: Backend) -> None:
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, Config(driver="memory"))
    task = Record(key="k", log="/dev/null").with_options(unique_key="order:\x00:1")
    with pytest.raises(ValueError, match="unique_key contains a NUL character"):
        await dispatcher.dispatch_many([Record(key="ok", log="/dev/null"), task])
    await _nothing_stored(driver)


@only_backends(*SQL)
async def test_odd_but_storable_names_and_keys_are_stored_as_given(backend: Backend) -> None:
    driver = await backend.new_driver()
    limit = _key_limit(backend) or 10_000
    key = (ODD * 100)[:limit]
    job = _job(task=ODD, unique_key=key, payload=b"\x00\xff'\\")
    assert await driver.enqueue([job]) == [job.id]
    assert await driver.enqueue([_job(unique_key=key)]) == [job.id]  # the key still dedupes
    got = await driver.get(job.id)
    assert got is not None and (got.task, got.unique_key, got.payload) == (
        ODD,
        key,
        b"\x00\xff'\\",
    )


@only_backends(*SQL)
async def test_an_odd_worker_id_claims_renews_reports_and_settles(backend: Backend) -> None:
    driver = await backend.new_driver(keep_completed=True)
    worker = "w\x00rker \udce9 " + "x" * 400  # NUL, a lone surrogate, over any column size
    await driver.enqueue([_job(), _job()])
    first, second = await driver.reserve(["default"], limit=2, worker_id=worker, lease_seconds=30)
    assert first.worker_id is not None and first.worker_id.startswith("w\ufffdrker \ufffd")
    assert await driver.renew(worker, [first.id, second.id], 30) == [first.id, second.id]
    assert await driver.set_progress(first.id, worker, 0.5)
    assert await driver.complete(first)  # the id the claim stored
    assert await driver.settle([Completed(second.id, worker, second.attempts)])  # the raw one
    for job in (first, second):
        stored = await driver.get(job.id)
        assert stored is not None and stored.state is JobState.COMPLETED
    info = WorkerInfo(worker, "host", 1, ("default",), 1)
    await driver.heartbeat(info, ttl=30)
    (listed,) = await driver.list_workers()
    assert listed.worker_id == first.worker_id
    await driver.remove_worker(worker)
    assert await driver.list_workers() == []


@only_backends(*SQL)
async def test_a_heartbeat_too_big_for_its_column_still_beats(backend: Backend) -> None:
    driver = await backend.new_driver()
    queues = tuple(f"queue-{i:04d}-" + "q" * 180 for i in range(1000))  # ~200 KB of names
    await driver.heartbeat(WorkerInfo("busy", "host", 1, queues, 1), ttl=30)
    (listed,) = await driver.list_workers()
    assert listed.worker_id == "busy" and 0 < len(listed.queues) < len(queues)
    assert listed.queues == queues[: len(listed.queues)]


@only_backends("mysql")
async def test_mysql_a_depends_on_too_big_for_its_column_is_refused(backend: Backend) -> None:
    driver = await backend.new_driver()
    big = _job(depends_on=tuple(f"{i:036d}" for i in range(2000)))  # ~80 KB of JSON
    with pytest.raises(ValueError, match=r"depends_on list is \d+ bytes of JSON"):
        await driver.enqueue([_job(), big])
    await _nothing_stored(driver)
