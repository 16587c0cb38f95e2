"""Hostile error text through a real failure: one bad outcome never holds up the others.

A task raises an exception whose message the broker cannot store as is (a NUL byte,
lone surrogates, a megabyte, undecodable bytes). A real worker runs it among good jobs
that finish at the same moment, so their outcomes travel in the same settle batch. The
failing job must end dead-lettered with a readable error, every good job complete
exactly once, and the worker carry on. Defect 3 of the hostile-input issue: on
PostgreSQL a NUL byte made the whole batch fail to settle, forever, and its jobs ran
again each time their leases lapsed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from asynctasq import AsyncTask
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker import Worker
from asynctasq.drivers.base import ClaimRequest, Driver
from asynctasq.drivers.sanitize import ERROR_TEXT_MAX_CHARS
from asynctasq.jobs import Job, JobState, Outcome
from tests.backends import Backend
from tests.conftest import only_backends
from tests.sample_tasks import record, recorded

# a real worker with 3 s leases, each job checked to run once: timed, so serial
pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

BROKERS = ("memory", "sqlite", "postgres", "mysql")

#: the messages a task raises, by name (built in the worker: the hostile text never
#: travels as an argument, which the serializer would refuse)
MESSAGES = {
    "nul": "before\x00after",
    "lone surrogates": "high \ud800 low \udfff end",
    "one megabyte": "start " + "x" * 1_000_000 + " finish",
    "undecodable bytes": b"caf\xe9 \xff\xfe".decode("utf-8", "surrogateescape"),
}


class Tally(AsyncTask[str], name="hostile.sql.Tally"):
    key: str
    log: str

    async def execute(self) -> str:
        await asyncio.sleep(0.05)  # finish together with the failing job
        record(self.log, self.key)
        return self.key


class RaiseWith(AsyncTask[None], name="hostile.sql.RaiseWith"):
    config = {"max_attempts": 1}

    key: str
    log: str
    message: str

    async def execute(self) -> None:
        await asyncio.sleep(0.05)
        record(self.log, self.key)
        raise ValueError(MESSAGES[self.message])


class RaiseBytes(AsyncTask[None], name="hostile.sql.RaiseBytes"):
    """An exception carrying raw bytes that are not UTF-8."""

    config = {"max_attempts": 1}

    key: str
    log: str

    async def execute(self) -> None:
        await asyncio.sleep(0.05)
        record(self.log, self.key)
        raise ValueError(b"\xff\xfe\x00 not utf-8", "caf\udce9")


class SettleSpy:
    """Keeps the batches a driver was asked to settle. The first call is held until
    ``everything_buffered()`` (at most 5 s), then fails as a lost connection would: the
    worker keeps its outcomes and sends them again, all of them in one batch, which
    so mixes the bad outcomes with good ones however the jobs' ends are spread (the
    jobs are claimed in id order, random within a millisecond: a bad job that ended
    first was once a batch of its own). The other calls go through."""

    def __init__(self, driver: Driver, everything_buffered: Callable[[], bool]) -> None:
        self.batches: list[list[str]] = []
        settle, settle_and_claim = driver.settle, driver.settle_and_claim
        settle_bounded = driver.settle_bounded

        async def hold(outcomes: Sequence[Outcome]) -> None:
            self.batches.append([o.job_id for o in outcomes])
            if len(self.batches) > 1:
                return
            deadline = time.monotonic() + 5
            while not everything_buffered() and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            raise ConnectionError("held until every outcome was buffered: sent again, together")

        async def spy(outcomes: Sequence[Outcome]) -> list[bool]:
            await hold(outcomes)
            return await settle(outcomes)

        async def spy_bounded(outcomes: Sequence[Outcome]) -> tuple[list[bool], list[int]]:
            await hold(outcomes)
            return await settle_bounded(outcomes)

        async def spy_claiming(
            outcomes: Sequence[Outcome], request: ClaimRequest
        ) -> tuple[list[bool], list[Job], list[int]]:
            await hold(outcomes)
            return await settle_and_claim(outcomes, request)

        driver.settle = spy  # type: ignore[method-assign]
        driver.settle_bounded = spy_bounded  # type: ignore[method-assign]
        driver.settle_and_claim = spy_claiming  # type: ignore[method-assign]

    def shared(self, bad: set[str], good: set[str]) -> bool:
        """Some batch that went through held a bad outcome and a good one together."""
        return any(bad & set(b) and good & set(b) for b in self.batches[1:])


async def _run(
    backend: Backend, tmp_path: Path, bad_tasks: list[AsyncTask[None]], goods: int = 60
) -> tuple[Driver, list[str], list[str], Path]:
    """A real worker runs ``bad_tasks`` among ``goods`` good jobs; returns the driver,
    the ids of the bad and the good jobs, and the log of what ran."""
    log = tmp_path / "ran.log"
    driver = await backend.new_driver(keep_completed=True)
    dispatcher = Dispatcher(driver, backend.config())
    good = [Tally(key=f"g{i}", log=str(log)) for i in range(goods)]
    # one claim batch: bad jobs spread among the good ones
    tasks: list[AsyncTask[object]] = list(good)
    for n, bad in enumerate(bad_tasks):
        tasks.insert(1 + n * 3, bad)  # type: ignore[arg-type]
    ids = await dispatcher.dispatch_many(tasks)
    bad_ids = [ids[tasks.index(b)] for b in bad_tasks]  # type: ignore[arg-type]
    good_ids = [i for i in ids if i not in set(bad_ids)]

    worker_driver = await backend.new_driver(keep_completed=True)
    # held until every outcome is buffered: in flight (the first batch) or pending
    spy = SettleSpy(worker_driver, lambda: len(worker._outcomes) >= len(tasks))
    worker = Worker(
        worker_driver,
        ["default"],
        worker_id="hostile-sql",
        concurrency=len(tasks),
        handle_signals=False,
        config=backend.config(keep_completed_tasks=True, lease_seconds=3),
    )
    running = asyncio.create_task(worker.start())
    try:
        deadline = time.monotonic() + 30
        while True:
            assert not running.done(), "the worker stopped"
            stats = await driver.stats("default")
            if stats.completed == len(good_ids) and stats.failed == len(bad_ids):
                break
            assert time.monotonic() < deadline, (
                f"not settled after 30s: {stats} ({len(spy.batches)} settle calls)"
            )
            await asyncio.sleep(0.05)
        # the worker carries on: a job dispatched afterwards completes too
        after = await dispatcher.dispatch(Tally(key="after", log=str(log)))
        while (job := await driver.get(after)) is None or job.state is not JobState.COMPLETED:
            assert not running.done(), "the worker stopped"
            assert time.monotonic() < deadline + 10, f"the job after is {job and job.state}"
            await asyncio.sleep(0.05)
        # leases of jobs that never settled would lapse within 3 s: wait one out, so a
        # job run again shows up in the log
        await asyncio.sleep(3.5)
    finally:
        worker.stop()
        # a worker stuck on outcomes it cannot deliver is cut short: the test has failed
        if not (await asyncio.wait([running], timeout=15))[0]:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    assert spy.shared(set(bad_ids), set(good_ids)), (
        f"no settle batch mixed a bad outcome with good ones: {[len(b) for b in spy.batches]}"
    )
    return driver, bad_ids, good_ids, log


def _ran_once(log: Path, keys: list[str]) -> None:
    runs = recorded(str(log))
    assert sorted(runs) == sorted([*keys, "after"]), "a job ran more than once, or never"


async def _failed(driver: Driver, job_id: str) -> Job:
    job = await driver.get(job_id)
    assert job is not None and job.state is JobState.FAILED, job
    assert job.error is not None and job.error.startswith("ValueError: ")
    return job


@only_backends(*BROKERS)
async def test_a_nul_byte_in_an_error_never_blocks_settlement(
    backend: Backend, tmp_path: Path
) -> None:
    bad = RaiseWith(key="bad", log=str(tmp_path / "ran.log"), message="nul")
    driver, (bad_id,), good_ids, log = await _run(backend, tmp_path, [bad])
    _ran_once(log, ["bad", *(f"g{i}" for i in range(len(good_ids)))])
    job = await _failed(driver, bad_id)
    assert "before" in job.error and "after" in job.error  # type: ignore[operator]
    for job_id in good_ids:
        good = await driver.get(job_id)
        assert good is not None and good.state is JobState.COMPLETED


@only_backends(*BROKERS)
async def test_hostile_error_strings_end_failed_and_readable(
    backend: Backend, tmp_path: Path
) -> None:
    log = str(tmp_path / "ran.log")
    bad: list[AsyncTask[None]] = [
        RaiseWith(key=f"bad-{name.replace(' ', '-')}", log=log, message=name) for name in MESSAGES
    ]
    bad.append(RaiseBytes(key="bad-raw-bytes", log=log))
    driver, bad_ids, good_ids, ran = await _run(backend, tmp_path, bad)
    keys = [t.key for t in bad] + [f"g{i}" for i in range(len(good_ids))]  # type: ignore[attr-defined]
    _ran_once(ran, keys)
    errors = {
        name: (await _failed(driver, i)).error or ""
        for name, i in zip(MESSAGES, bad_ids[:-1], strict=True)
    }
    assert "before" in errors["nul"] and "after" in errors["nul"]
    assert "high" in errors["lone surrogates"] and "end" in errors["lone surrogates"]
    assert "caf" in errors["undecodable bytes"]
    big = errors["one megabyte"]
    assert big.startswith("ValueError: start xxx")
    if backend.name != "memory":  # a broker caps what it stores, keeping head and tail
        assert len(big) <= ERROR_TEXT_MAX_CHARS
        assert "characters cut" in big
    assert big.rstrip().endswith("finish")  # the traceback's last line: the message's end
    raw = (await _failed(driver, bad_ids[-1])).error or ""
    assert "not utf-8" in raw
    if backend.name != "memory":  # the in-memory broker keeps Python strings as they are
        for error in [*errors.values(), raw]:
            error.encode("utf-8")  # valid text: no lone surrogates came back
