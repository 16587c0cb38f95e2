"""Payloads too deep or too big, on every broker: refused at dispatch, and when one
arrives anyway (forged, or from another producer), dead-lettered with the reason by
a worker that goes on with the next job."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from asynctasq import AsyncTask
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.capabilities import Inspection
from asynctasq.jobs import Job, JobState
from asynctasq.serialization import PayloadLimitError
from asynctasq.testing import drain
from tests.backends import Backend
from tests.chaos.fleet import all_jobs
from tests.conftest import only_backends, skip_without
from tests.sample_tasks import Record, recorded
from tests.unit.wire_reference import reference_pack
from tests.workers import spawn_worker

pytestmark = pytest.mark.timeout(90)


class Take(AsyncTask[str]):
    value: Any

    async def execute(self) -> str:
        return "ran"


def lists(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def tuples(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = (value,)
    return value


def forged(task: str, **args: Any) -> Job:
    """A record as a producer without our limits (or a hostile one) would store it."""
    return Job(task=task, payload=reference_pack({"args": args}), max_attempts=3)


async def test_too_deep_or_too_big_is_refused_at_dispatch(backend: Backend) -> None:
    skip_without(backend, Inspection)  # it reads the jobs back
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, backend.config(max_payload_size=4096))
    for value, limit in (
        (lists(65), "64 levels"),
        (tuples(65), "64 levels"),
        (b"x" * 5000, "4096"),
    ):
        with pytest.raises(PayloadLimitError, match=limit):
            await dispatcher.dispatch(Take(value=value))
    await dispatcher.dispatch(Take(value=lists(64)))  # the limit itself is fine
    pending = await all_jobs(driver, "default", JobState.PENDING)
    assert len(pending) == 1


async def test_a_forged_record_over_the_limits_is_dead_lettered_and_the_worker_goes_on(
    backend: Backend,
) -> None:
    skip_without(backend, Inspection)  # it reads the jobs back
    driver = await backend.new_driver(keep_completed=True)
    config = backend.config(max_payload_size=4096, keep_completed_tasks=True)
    bad = {
        "nested lists": (forged(Take.task_name, value=lists(80)), "more than 64 levels deep"),
        "nested tuples": (forged(Take.task_name, value=tuples(70)), "more than 64 levels deep"),
        "too big": (forged(Take.task_name, value=b"x" * 5000), "over the limit of 4096"),
    }
    await driver.enqueue([job for job, _ in bad.values()])
    good = await Dispatcher(driver, config).dispatch(Take(value=lists(64)))

    await drain(driver, ["default"], config=config)

    for what, (job, reason) in bad.items():
        stored = await driver.get(job.id)
        assert stored is not None and stored.state is JobState.FAILED, what
        assert stored.attempts == 1, f"{what}: a poison job is not retried"
        assert reason in (stored.error or ""), f"{what}: {stored.error!r}"
    done = await driver.get(good)
    assert done is not None and done.state is JobState.COMPLETED


@only_backends("sqlite", "redis", "postgres", "mysql")
async def test_a_worker_process_survives_the_payload_that_used_to_crash_it(
    backend: Backend, tmp_path: Path
) -> None:
    # 0.1.0: SIGSEGV while decoding; every restart reclaimed the job and died again
    log = str(tmp_path / "ran.log")
    driver = await backend.new_driver(keep_completed=True)
    crasher = forged(Record.task_name, key=tuples(300), log=log)
    await driver.enqueue([crasher])
    await Dispatcher(driver, backend.config()).dispatch(Record(key="after", log=log))

    worker = spawn_worker(
        {**backend.env(), "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true"},
        "--burst",
        log_path=tmp_path / "worker.log",
    )
    try:
        code = worker.wait(60)
    except subprocess.TimeoutExpired:
        worker.kill()
        raise
    assert code == 0, f"the worker exited with {code}:\n{(tmp_path / 'worker.log').read_text()}"
    stored = await driver.get(crasher.id)
    assert stored is not None and stored.state is JobState.FAILED
    assert "more than 64 levels deep" in (stored.error or "")
    assert recorded(log) == ["after"]
