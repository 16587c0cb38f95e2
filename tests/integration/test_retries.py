"""Retries beyond the basics of tests/unit/test_worker.py: the shape of the backoff,
the delay actually waited between attempts, and should_retry / failed called the
right number of times in every execution mode."""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import ClassVar

import pytest

from asynctasq import AsyncTask, Backoff, Config, JobState, SyncTask
from asynctasq.tasks.retry import retry_delay_for
from asynctasq.testing import run_job
from tests.chaos.tasks import ProcessFails
from tests.sample_tasks import recorded

pytestmark = pytest.mark.timeout(60)

FAST = Config(default_retry_delay=0.01, default_retry_backoff="fixed", process_pool_size=1)


def test_backoff_grows_exponentially_up_to_its_cap() -> None:
    policy = Backoff(base=1, factor=2, max_delay=10, jitter=False)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert policy.delay(0) == 1  # a first attempt however it is counted
    assert retry_delay_for(2.5, 7) == 2.5  # a number is a fixed delay


def test_jitter_spreads_delays_between_the_previous_step_and_this_one() -> None:
    policy = Backoff(base=1, factor=2, max_delay=6)
    assert {policy.delay(1) for _ in range(100)} == {1}  # the first retry: the delay set
    draws = [policy.delay(3) for _ in range(4000)]  # between 2 and 4
    assert all(2 <= d <= 4 for d in draws)
    assert 2.85 < statistics.mean(draws) < 3.15  # uniform over [2, 4]
    assert min(draws) < 2.1 and max(draws) > 3.9
    assert len({round(d, 6) for d in draws}) > 3900  # not in lock-step
    capped = [policy.delay(4) for _ in range(1000)]  # between 4 and min(8, 6)
    assert all(4 <= d <= 6 for d in capped)


class Stamped(AsyncTask[None]):
    """Fails until its third attempt, noting when each attempt started."""

    config = {"max_attempts": 3, "retry_delay": 0.3}
    starts: ClassVar[list[float]] = []

    async def execute(self) -> None:
        Stamped.starts.append(time.monotonic())
        if self._attempts < 3:
            raise ConnectionError("not yet")


class StampedBackoff(Stamped):
    config = {"retry_delay": Backoff(base=0.2, factor=2, jitter=False)}


def gaps() -> list[float]:
    starts = Stamped.starts
    return [b - a for a, b in itertools.pairwise(starts)]


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (lambda: Stamped(), [0.3, 0.3]),  # the task's retry_delay
        (lambda: Stamped().retry_after(0.6), [0.6, 0.6]),  # this job's, over the task's
        (lambda: StampedBackoff(), [0.2, 0.4]),  # exponential
    ],
    ids=["per-task", "per-job", "backoff"],
)
async def test_each_retry_waits_its_delay(task: object, expected: list[float]) -> None:
    Stamped.starts.clear()
    outcome = await run_job(task(), config=FAST)  # type: ignore[operator]
    assert (outcome.state, outcome.attempts) == (JobState.COMPLETED, 3)
    for waited, delay in zip(gaps(), expected, strict=True):
        assert delay - 0.05 <= waited < delay + 1.5  # never early; late only under load


class Judged(AsyncTask[None]):
    config = {"max_attempts": 5, "retry_delay": 0.01}
    verdicts: ClassVar[list[str]] = []
    failed_with: ClassVar[list[str]] = []
    error: str

    async def execute(self) -> None:
        raise {"io": OSError, "value": ValueError, "key": KeyError}[self.error](self.error)

    def should_retry(self, exception: BaseException) -> bool:
        Judged.verdicts.append(type(exception).__name__)
        if isinstance(exception, KeyError):
            raise RuntimeError("should_retry itself is broken")
        return isinstance(exception, OSError)

    async def failed(self, exception: BaseException) -> None:
        Judged.failed_with.append(type(exception).__name__)


@pytest.mark.parametrize(
    ("error", "attempts", "verdicts"),
    [("io", 5, ["OSError"] * 4), ("value", 1, ["ValueError"]), ("key", 1, ["KeyError"])],
    ids=["retried-until-the-last", "refused", "should_retry-raises"],
)
async def test_should_retry_decides_and_failed_runs_once(
    error: str, attempts: int, verdicts: list[str]
) -> None:
    Judged.verdicts.clear()
    Judged.failed_with.clear()
    outcome = await run_job(Judged(error=error), config=FAST)
    assert (outcome.state, outcome.attempts) == (JobState.FAILED, attempts)
    # asked after each failed attempt but the last (no attempt left to give)
    assert Judged.verdicts == verdicts
    assert Judged.failed_with == verdicts[:1]  # once, with the exception that ended it


class SyncFailsTwice(SyncTask[None]):
    config = {"max_attempts": 3, "retry_delay": 0.01}
    failed_calls: ClassVar[list[str]] = []

    def execute(self) -> None:
        raise TimeoutError("upstream too slow")

    def failed(self, exception: BaseException) -> None:
        SyncFailsTwice.failed_calls.append(type(exception).__name__)
        raise RuntimeError("and the hook fails too")


async def test_failed_runs_once_after_the_last_attempt_in_a_thread_even_if_it_raises() -> None:
    SyncFailsTwice.failed_calls.clear()
    outcome = await run_job(SyncFailsTwice(), config=FAST)
    assert (outcome.state, outcome.attempts) == (JobState.FAILED, 3)
    assert (outcome.error or "").startswith("TimeoutError: upstream too slow")
    assert SyncFailsTwice.failed_calls == ["TimeoutError"]


async def test_a_process_task_is_retried_and_its_failed_hook_runs_once_in_the_worker(
    tmp_path: Path,
) -> None:
    log = str(tmp_path / "effects.log")
    outcome = await run_job(ProcessFails(key="p", log=log), config=FAST)
    assert (outcome.state, outcome.attempts) == (JobState.FAILED, 3)
    assert (outcome.error or "").startswith("LookupError: no p here")
    assert Counter(recorded(log)) == {
        "p": 3,  # in the pool process
        "retry?p:LookupError": 2,  # in the worker, after attempts 1 and 2
        "failedp:LookupError": 1,
    }


class Quits(SyncTask[None]):
    """A command-line entry point reused as a task: it ends with sys.exit()."""

    config = {"max_attempts": 2, "retry_delay": 0.01}
    failed_calls: ClassVar[int] = 0

    def execute(self) -> None:
        sys.exit(3)

    def failed(self, exception: BaseException) -> None:
        Quits.failed_calls += 1
        sys.exit(4)


async def test_sys_exit_in_a_task_or_its_hook_fails_the_attempt_never_the_worker() -> None:
    Quits.failed_calls = 0
    outcome = await run_job(Quits(), config=FAST)
    assert (outcome.state, outcome.attempts) == (JobState.FAILED, 2)
    assert (outcome.error or "").startswith("RuntimeError: the task called sys.exit(3)")
    assert Quits.failed_calls == 1
