"""``asynctasq.queues.Queue``: every method, the reference documentation's shapes,
on the memory, SQLite and Redis brokers; ``run()`` started and cancelled in a test."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from asynctasq import Config
from asynctasq.core.backends import close_backends
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.jobs import JobState
from asynctasq.queues import Queue
from asynctasq.ratelimit import RateLimit
from asynctasq.serialization.msgpack import default_serializer
from tests.asyncmq import tasks
from tests.backend_base import Backend
from tests.conftest import only_backends
from tests.workers import ROOT

BROKERS = ("memory", "sqlite", "redis", "mongodb")
FAST = Config(lease_seconds=5, shutdown_timeout=10)


async def wait_for_state(queue: Queue, job_id: str, state: JobState) -> None:
    driver = await queue.driver()
    for _ in range(500):
        job = await driver.get(job_id)  # type: ignore[attr-defined]
        if job is not None and job.state is state:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} never reached {state}")


@only_backends(*BROKERS)
async def test_add_inspect_and_clean(backend: Backend) -> None:
    queue = Queue("emails", backend=await backend.new_driver(keep_completed=True))
    first = await queue.add("amq.send_email", args=["a@b.c"], kwargs={"subject": "x"})
    later = await queue.add("amq.send_email", kwargs={"to": "c@d.e"}, delay=3600, priority=1)
    # a task this process does not know travels by keyword arguments
    remote = await queue.add("elsewhere.task", kwargs={"n": 1}, retries=0, priority=-1)
    bulk = await queue.add_bulk(
        [
            {"task_id": "amq.add", "args": [1, 2]},
            {"task_id": "amq.add", "kwargs": {"a": 3, "b": 4}, "priority": 9},
        ]
    )
    assert len(bulk) == 2 and len({first, later, remote, *bulk}) == 5
    assert await queue.queue_stats() == {
        "waiting": 4,
        "delayed": 1,
        "active": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
    }
    waiting = await queue.list_jobs("waiting")  # AsyncMQ's name for pending
    assert waiting[0].id == remote  # lower priority runs first
    assert waiting[-1].id == bulk[1]
    assert {j.queue for j in waiting} == {"emails"}  # the queue wins over the task's
    remote_job = next(j for j in waiting if j.id == remote)
    assert remote_job.max_attempts == 1 and remote_job.task == "elsewhere.task"
    assert [j.id for j in await queue.list_delayed()] == [later]
    assert [j.id for j in await queue.list_jobs(JobState.SCHEDULED)] == [later]

    assert await queue.remove_delayed(later)
    assert not await queue.remove_delayed(first)  # not delayed
    assert await queue.is_job_cancelled(later)
    assert await queue.cancel_job(first)
    assert await queue.is_job_cancelled(first)
    assert not await queue.is_job_cancelled(remote)
    assert (await queue.queue_stats())["cancelled"] == 2

    assert await queue.clean("cancelled", older_than=time.time() - 3600) == 0
    assert await queue.clean("cancelled", older_than=time.time() + 1) == 2
    assert (await queue.queue_stats())["cancelled"] == 0
    with pytest.raises(ValueError, match="waiting"):
        await queue.list_jobs("sleeping")


async def test_add_refuses_what_it_cannot_honour() -> None:
    queue = Queue("q", backend="memory://")
    with pytest.raises(TypeError, match="repeat_every"):
        await queue.add_bulk([{"task_id": "amq.add", "repeat_every": 5}])
    with pytest.raises(ValueError, match="not a known job"):  # depends_on is honoured
        await queue.add_bulk(
            [{"task_id": "amq.add", "kwargs": {"a": 1, "b": 2}, "depends_on": ["x"]}]
        )
    with pytest.raises(TypeError, match="positional arguments"):
        await queue.add("not.here", args=[1])
    with pytest.raises(TypeError):
        await queue.add("amq.add", kwargs={"a": 1, "b": 2, "c": 3})  # undeclared argument
    with pytest.raises(ValueError, match="retries"):
        await queue.add("amq.add", kwargs={"a": 1, "b": 2}, retries=-1)
    await close_backends()


async def test_a_queue_rate_limit_is_stored_in_the_broker() -> None:
    driver = MemoryDriver()
    limited = Queue("api", backend=driver, rate_limit=20, rate_interval=2, scan_interval=0.5)
    assert await Queue("api", backend=driver).get_rate_limit() is None  # not used yet
    assert await limited.get_rate_limit() == RateLimit(20, 2.0)  # stored on first use
    await Queue("api", backend=driver).add("amq.add", kwargs={"a": 1, "b": 2})
    assert await limited.get_rate_limit() == RateLimit(20, 2.0)  # left as it was
    await limited.set_rate_limit(0)
    assert await Queue("api", backend=driver).get_rate_limit() == RateLimit(0)
    await limited.set_rate_limit(5, 60, burst=1)
    assert await limited.get_rate_limit() == RateLimit(5, 60.0, 1)
    await limited.set_rate_limit(None)
    assert await limited.get_rate_limit() is None
    with pytest.raises(ValueError, match="rate_limit=-1"):
        Queue("api", rate_limit=-1)
    with pytest.raises(ValueError, match="rate_interval=0"):
        Queue("api", rate_limit=1, rate_interval=0)
    with pytest.raises(ValueError, match="scan_interval"):
        Queue("api", scan_interval=-1)


@only_backends(*BROKERS)
async def test_run_serves_the_queue_until_cancelled(backend: Backend) -> None:
    queue = Queue("emails", backend=await backend.new_driver(keep_completed=True), config=FAST)
    job_id = await queue.add("amq.send_email", kwargs={"to": "run@x.y"})
    worker = asyncio.create_task(queue.run())
    await wait_for_state(queue, job_id, JobState.COMPLETED)
    job = await (await queue.driver()).get(job_id)  # type: ignore[attr-defined]
    assert default_serializer.loads(job.result) == "sent hi to run@x.y"

    await queue.pause()  # no new claims while paused
    paused = await queue.add("amq.send_email", kwargs={"to": "later@x.y"})
    await asyncio.sleep(0.3)
    assert (await queue.queue_stats())["waiting"] == 1
    await queue.resume()
    await wait_for_state(queue, paused, JobState.COMPLETED)

    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    assert (await queue.queue_stats())["active"] == 0


@only_backends(*BROKERS)
async def test_a_cancelled_run_lets_the_job_in_flight_finish(backend: Backend) -> None:
    queue = Queue("slow", backend=await backend.new_driver(keep_completed=True), config=FAST)
    job_id = await queue.add("amq.slow", kwargs={"seconds": 0.5})
    started = len([s for s in tasks.seen if s[0] == "slow started"])
    worker = asyncio.create_task(queue.run())
    await wait_for_state(queue, job_id, JobState.ACTIVE)
    # running, not only claimed: a slow broker's claim returns well after the job is active
    for _ in range(500):
        if len([s for s in tasks.seen if s[0] == "slow started"]) > started:
            break
        await asyncio.sleep(0.01)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    job = await (await queue.driver()).get(job_id)  # type: ignore[attr-defined]
    assert job is not None and job.state is JobState.COMPLETED  # not lost, not cut short
    assert ("slow", pytest.approx(time.time(), abs=30)) in tasks.seen


@only_backends("memory", "sqlite", "redis")
async def test_run_runs_delayed_jobs_and_fires_repeatables(backend: Backend) -> None:
    """``queue.run()`` is a full worker: a delayed job runs when due, and the
    repeatables of the queue fire (no beat process)."""
    queue = Queue("repeat", backend=await backend.new_driver(keep_completed=True), config=FAST)
    delayed = await queue.add("amq.add", kwargs={"a": 1, "b": 2}, delay=0.5)
    assert [job.id for job in await queue.list_delayed()] == [delayed]
    await queue.add_repeatable("amq.add", every=1, kwargs={"a": 20, "b": 22})
    worker = asyncio.create_task(queue.run())
    try:
        await wait_for_state(queue, delayed, JobState.COMPLETED)
        for _ in range(1000):  # its first slot within a second, read within another
            done = await queue.list_jobs("completed")
            if any(default_serializer.loads(job.result) == 42 for job in done):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the repeatable never ran")
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker


@only_backends("memory", "sqlite", "redis")
async def test_cancel_job_stops_a_running_job(backend: Backend) -> None:
    """``cancel_job`` reaches a job a worker runs (RunningCancellation): its coroutine
    is cancelled (and may clean up), it ends ``cancelled``, ``is_job_cancelled`` says
    so."""
    config = Config(lease_seconds=1.5, heartbeat_interval=0.2, shutdown_timeout=10)
    queue = Queue("slow", backend=await backend.new_driver(keep_completed=True), config=config)
    key = f"{backend.name}-{time.monotonic_ns()}"
    job_id = await queue.add("amq.endless", kwargs={"key": key})
    worker = asyncio.create_task(queue.run())
    try:
        for _ in range(1000):
            if ("endless started", key) in tasks.seen:
                break
            await asyncio.sleep(0.01)
        assert not await queue.is_job_cancelled(job_id)
        assert await queue.cancel_job(job_id)
        assert await queue.is_job_cancelled(job_id)
        for _ in range(1000):
            if ("endless cancelled", key) in tasks.seen:
                break
            await asyncio.sleep(0.01)
        assert ("endless cancelled", key) in tasks.seen  # CancelledError reached the body
        assert not await queue.cancel_job(job_id)  # finished: nothing to cancel
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
    job = await (await queue.driver()).get(job_id)  # type: ignore[attr-defined]
    assert job is not None and job.state is JobState.CANCELLED


async def test_the_asgi_lifespan_of_the_asyncmq_page_runs_and_stops_cleanly() -> None:
    page = (ROOT / "docs" / "asyncmq-users.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs/asyncmq-users.md", "exec"), namespace)
    emails: Queue = namespace["emails"]
    async with namespace["lifespan"](None):
        job_id = await emails.add("amq.send_email", kwargs={"to": "asgi@x.y"})
        driver = await emails.driver()
        for _ in range(500):
            if await driver.get(job_id) is None:  # type: ignore[attr-defined]
                break  # completed (and, by default, deleted)
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the lifespan's worker did not run the job")
    assert ("send_email", "asgi@x.y", "hi") in tasks.seen


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
async def test_start_blocks_until_a_signal_then_returns(
    tmp_path: Path, signal_number: signal.Signals
) -> None:
    script = tmp_path / "serve.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio
            from asynctasq.queues import Queue
            import tests.asyncmq.tasks  # registers amq.send_email

            queue = Queue("emails")
            asyncio.run(queue.add("amq.send_email", kwargs={"to": "start@x.y"}))
            print("added", flush=True)
            queue.start()
            print("stopped", flush=True)
            """
        )
    )
    db = tmp_path / "q.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    env.update(PYTHONPATH=str(ROOT), ASYNCTASQ_SQLITE_PATH=str(db))
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        assert await process.stdout.readline() == b"added\n"
        queue = Queue("emails", backend=f"sqlite:///{db}")
        for _ in range(500):  # the job runs (and, completed, is deleted)
            stats = await queue.queue_stats()
            if not stats["waiting"] and not stats["active"]:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("start() did not run the job")
        process.send_signal(signal_number)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await close_backends()
    assert process.returncode == 0, err.decode()
    assert out == b"stopped\n"
