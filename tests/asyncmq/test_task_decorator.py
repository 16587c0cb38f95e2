"""``@task(...)`` the AsyncMQ way: options, ``enqueue``/``delay``, progress,
``TASK_REGISTRY`` and ``list_tasks()``, on the memory, SQLite and Redis brokers."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from asynctasq import Config, TaskDefinitionError
from asynctasq.core.backends import close_backends
from asynctasq.core.dispatcher import Dispatcher, set_dispatcher
from asynctasq.drivers.capabilities import Inspection, Management, ProgressStore
from asynctasq.errors import UnknownTaskError
from asynctasq.jobs import JobState
from asynctasq.serialization.msgpack import default_serializer
from asynctasq.tasks import TASK_REGISTRY, list_tasks, task
from asynctasq.testing import EventRecorder, drain
from tests.asyncmq.tasks import add, async_steps, process_steps, send_email, sync_steps
from tests.backend_base import Backend
from tests.conftest import only_backends

FAST = Config(lease_seconds=5)
BROKERS = ("memory", "sqlite", "redis", "mongodb")


def test_every_option_lands_in_the_task_config() -> None:
    cfg = send_email.task_config
    assert cfg == {
        "queue": "emails",
        "max_attempts": 3,  # retries=2: two retries after the first attempt
        "retry_delay": 0.0,
        "timeout": 30.0,
        "priority": 5,
    }

    @task(max_retries=0, visibility_timeout=90, name="amq.t.synonym")
    def synonym() -> None: ...

    assert synonym.task_config == {"max_attempts": 1, "visibility_timeout": 90.0}


def test_bare_task_keeps_working_and_calling_builds_a_task() -> None:
    built = add(1, b=2)
    assert built._args == {"a": 1, "b": 2}
    assert add.task_config == {}
    with pytest.raises(TypeError):
        add(1, 2, 3)


def test_contradicting_or_misspelt_options_fail_at_definition() -> None:
    with pytest.raises(TaskDefinitionError, match="not both"):
        task(retries=1, max_retries=2)
    with pytest.raises(ValueError, match="both max_retries and max_attempts"):

        @task(retries=1, max_attempts=3, name="amq.t.both")
        def both() -> None: ...

    with pytest.raises(ValueError, match="count >= 0"):

        @task(retries=-1, name="amq.t.negative")
        def negative() -> None: ...

    with pytest.raises(TaskDefinitionError, match="progress=True"):

        @task(name="amq.t.no_progress")
        def forgot(report_progress: Any) -> None: ...

    with pytest.raises(ValueError, match="ttl"):

        @task(name="amq.t.no_ttl", ttl=0)  # a ttl is positive (tests/unit/test_ttl_options.py)
        def instant() -> None: ...


def test_task_config_takes_max_retries_like_the_settings() -> None:
    from asynctasq import AsyncTask

    class Parent(AsyncTask[None], name="amq.t.parent"):
        config = {"max_attempts": 5}

        async def execute(self) -> None: ...

    class Child(Parent, name="amq.t.child"):
        config = {"max_retries": 1}

    assert Parent.task_config["max_attempts"] == 5
    assert Child.task_config["max_attempts"] == 2


def test_the_registry_is_a_read_only_view_listing_every_task() -> None:
    info = TASK_REGISTRY["amq.send_email"]
    assert info.func is send_email.function and info.task_class is send_email
    assert (info.queue, info.retries, info.progress, info.ttl) == ("emails", 2, False, None)
    assert info["queue"] == "emails"  # dictionary-style, as AsyncMQ code reads it
    assert TASK_REGISTRY["amq.async_steps"].progress is True
    assert TASK_REGISTRY["amq.add"].retries == Config().default_max_retries
    with pytest.raises(TypeError):
        TASK_REGISTRY["x"] = info  # type: ignore[index]
    listed = list_tasks()
    assert {"amq.send_email", "amq.add", "amq.sync_steps"} <= set(listed)

    @task(name="amq.t.late")
    def late() -> None: ...

    assert "amq.t.late" in TASK_REGISTRY  # live


@only_backends(*BROKERS)
async def test_enqueue_returns_the_job_id_with_delay_and_priority(backend: Backend) -> None:
    driver = await backend.new_driver(keep_completed=True)
    before = time.time()
    job_id = await send_email.enqueue(
        "alice@example.com", subject="Welcome", backend=driver, delay=60, priority=3
    )
    assert isinstance(driver, Inspection)
    job = await driver.get(job_id)
    assert job is not None
    assert (job.task, job.queue, job.priority, job.max_attempts) == (
        "amq.send_email",
        "emails",
        3,
        3,
    )
    assert job.run_at >= before + 60 and job.state is JobState.SCHEDULED

    assert isinstance(driver, Management)
    assert await driver.cancel(job_id)  # (a burst worker would wait the minute for it)
    now_id = await send_email.delay("bob@example.com", backend=driver)  # delay(): enqueue's alias
    await drain(driver, ["emails"], config=FAST)
    done = await driver.get(now_id)
    assert done is not None and done.state is JobState.COMPLETED
    assert default_serializer.loads(done.result) == "sent hi to bob@example.com"


def test_delay_on_a_built_task_keeps_its_builder_meaning() -> None:
    built = send_email(to="a@b.c").delay(5)
    assert built._options == {"delay": 5.0}


async def test_enqueue_without_backend_uses_the_default_dispatcher() -> None:
    from asynctasq.drivers.memory import MemoryDriver

    driver = MemoryDriver()
    await driver.connect()
    set_dispatcher(Dispatcher(driver, FAST))
    try:
        job_id = await add.enqueue(2, 3)
        job = await driver.get(job_id)
        assert job is not None and job.queue == "default"
    finally:
        set_dispatcher(None)
        await driver.disconnect()


async def test_undeclared_keyword_arguments_fail_at_enqueue() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'cc'"):
        await send_email.enqueue("a@b.c", cc="x@y.z", backend="memory://")
    await close_backends()


async def test_a_backend_url_is_one_broker_per_loop() -> None:
    from asynctasq.queues import Queue

    try:
        await add.enqueue(1, 2, backend="memory://")
        queue = Queue("default", backend="memory://")
        assert (await queue.queue_stats())["waiting"] == 1
    finally:
        await close_backends()
    with pytest.raises(TypeError, match="driver or a broker URL"):
        await add.enqueue(1, 2, backend=42)


@only_backends(*BROKERS)
async def test_report_progress_without_await_in_sync_and_async_functions(
    backend: Backend,
) -> None:
    driver = await backend.new_driver(keep_completed=True)
    recorder = EventRecorder()
    ids = [
        await async_steps.enqueue(4, backend=driver),
        await sync_steps.enqueue(2, backend=driver),
    ]
    await drain(driver, ["steps"], config=FAST, event_emitter=recorder)
    async_id, sync_id = ids
    for job_id, expected in ((async_id, [0.25, 0.5, 0.75, 1.0]), (sync_id, [0.5, 1.0])):
        progress = [
            e.progress
            for e in recorder.events
            if e.task_id == job_id and e.event_type == "task_progress"
        ]
        assert progress == expected
        kinds = recorder.kinds(job_id)
        assert kinds[-1] == "task_completed"  # settled after its progress
        job = await driver.get(job_id)  # type: ignore[attr-defined]
        assert job is not None and job.state is JobState.COMPLETED
        if isinstance(driver, ProgressStore):  # stored where the broker can
            assert job.progress == 1.0
    meta = [
        e.meta for e in recorder.events if e.task_id == async_id and e.event_type == "task_progress"
    ]
    assert meta[0] == {"step": 1}


async def test_report_progress_refuses_a_fraction_out_of_range() -> None:
    @task(progress=True, name="amq.t.bad_fraction")
    async def bad(report_progress: Any) -> None:
        report_progress(1.5)

    with pytest.raises(ValueError, match="fraction"):
        await bad().run()


def test_an_unknown_task_error_still_names_the_task() -> None:
    assert "amq.nope" in str(UnknownTaskError("amq.nope"))


async def test_report_progress_from_a_process_pool_function() -> None:
    from asynctasq.drivers.memory import MemoryDriver

    driver = MemoryDriver(keep_completed=True)
    await driver.connect()
    recorder = EventRecorder()
    job_id = await process_steps.enqueue(2, backend=driver)
    await drain(
        driver,
        ["steps"],
        config=Config(lease_seconds=5, process_pool_size=1),
        event_emitter=recorder,
    )
    progress = [e.progress for e in recorder.events if e.event_type == "task_progress"]
    assert progress == [0.5, 1.0]
    job = await driver.get(job_id)
    assert job is not None and job.state is JobState.COMPLETED and job.progress == 1.0


async def test_backend_takes_sqlite_and_redis_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``backend=`` URL strings as the reference documentation writes them, on enqueue
    and Queue alike: sqlite:///relative (from the working directory), sqlite:////absolute,
    redis:// (its other settings, here the key prefix, from the configuration)."""
    from asynctasq.config import set_global_config
    from asynctasq.queues import Queue
    from tests.backends_redis import local_redis_url

    monkeypatch.chdir(tmp_path)
    absolute = tmp_path / "abs.db"
    prefix = f"asynctasq-test-urls-{os.getpid()}-{time.monotonic_ns()}"
    set_global_config(Config(redis_prefix=prefix))
    urls = ["sqlite:///relative.db", f"sqlite:///{absolute}", local_redis_url()]
    try:
        for url in urls:
            job_id = await add.enqueue(1, 2, backend=url)
            queue = Queue("default", backend=url)
            assert (await queue.queue_stats())["waiting"] == 1, url
            assert [job.id for job in await queue.list_jobs("waiting")] == [job_id], url
            assert await queue.clean("waiting") == 1
        assert (tmp_path / "relative.db").exists() and absolute.exists()
    finally:
        await close_backends()
        set_global_config(None)
        import redis.asyncio as aioredis

        client = aioredis.from_url(local_redis_url())
        keys = [key async for key in client.scan_iter(f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@only_backends("memory", "sqlite", "redis")
async def test_enqueue_with_depends_on_waits_for_its_parent(backend: Backend) -> None:
    driver = await backend.new_driver(keep_completed=True)
    assert isinstance(driver, Inspection)
    parent = await add.enqueue(1, 2, backend=driver, delay=3600)
    child = await add.enqueue(3, 4, backend=driver, depends_on=[parent])
    blocked = await driver.get(child)
    assert blocked is not None and blocked.state is JobState.BLOCKED
    assert blocked.depends_on == (parent,)
    assert isinstance(driver, Management)
    await driver.cancel(parent)  # the parent ends badly: the child follows its policy
    failed = await driver.get(child)
    assert failed is not None and failed.state is JobState.FAILED
    # and when the parent completes, the child runs
    first = await add.enqueue(5, 6, backend=driver)
    second = await add.enqueue(7, 8, backend=driver, depends_on=[first])
    await drain(driver, ["default"], config=FAST)
    for job_id, total in ((first, 11), (second, 15)):
        done = await driver.get(job_id)
        assert done is not None and done.state is JobState.COMPLETED
        assert default_serializer.loads(done.result) == total
