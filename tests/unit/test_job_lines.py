"""Job lines: one per job while a person could read them, summed up past the budget."""

from __future__ import annotations

import logging

import pytest

from asynctasq import AsyncTask
from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker import Worker
from asynctasq.core.worker.job_lines import JobLines
from asynctasq.drivers.memory import MemoryDriver


class Quick(AsyncTask[None], name="tests.job_lines.Quick"):
    async def execute(self) -> None:
        pass


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "asynctasq.jobs"]


def test_each_job_has_its_lines_within_the_budget(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "asynctasq.jobs")
    job_lines = JobLines(per_second=4)
    job_lines.started(10.0, "a", "app.T", 1)
    job_lines.completed(10.2, "a", "app.T", 12.4)
    job_lines.started(11.5, "b", "app.T", 2)  # a new second: its own budget
    job_lines.flush()
    assert lines(caplog) == [
        "job a (app.T) started, attempt 1",
        "job a (app.T) completed in 12 ms",
        "job b (app.T) started, attempt 2",
    ]


def test_past_the_budget_jobs_are_counted_and_summed_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "asynctasq.jobs")
    job_lines = JobLines(per_second=2)
    for i in range(10):  # ten jobs in the same second
        job_lines.started(5.0 + i / 100, str(i), "app.T", 1)
        job_lines.completed(5.0 + i / 100, str(i), "app.T", 1.0)
    job_lines.started(6.5, "late", "app.T", 1)  # the next second sums up the last
    written = lines(caplog)
    assert written[:2] == ["job 0 (app.T) started, attempt 1", "job 0 (app.T) completed in 1 ms"]
    assert written[2].startswith("9 more job(s) started and 9 completed without a line")
    assert written[3] == "job late (app.T) started, attempt 1"
    job_lines.flush()  # nothing left out since: no line
    assert len(lines(caplog)) == 4


async def test_a_busy_worker_writes_a_bounded_number_of_job_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "asynctasq.jobs")
    driver = MemoryDriver()
    await driver.connect()
    dispatcher = Dispatcher(driver, Config(driver="memory"))
    await dispatcher.dispatch_many(Quick().on_queue("q") for _ in range(500))
    worker = Worker(driver, ["q"], burst=True, handle_signals=False, concurrency=50)
    await worker.start()
    assert worker.processed == 500
    written = lines(caplog)
    per_job = [line for line in written if line.startswith("job ")]
    summed = [line for line in written if "without a line" in line]
    assert summed, written  # the rest was summed up, at the latest as the worker stopped
    assert len(per_job) < 200  # not 1,000 lines for 500 jobs
    started = sum(int(line.split()[0]) for line in summed) + sum(
        "started" in line for line in per_job
    )
    assert started == 500  # every job accounted for, by a line or in a sum
