"""Defect 6 of the hostile-input review: NaN and infinity passed validation.

``delay=float("nan")``, ``retry_after(nan)``, ``inf`` or a negative Backoff base were
accepted; on Redis ``ZADD nan`` dropped the job, on PostgreSQL it never came due.
Every number that becomes a time is now checked by whatever carries it, with a
ValueError naming the argument; a retry policy that answers NaN is clamped.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from typing import Any

import pytest

from asynctasq import AsyncTask, Backoff, Config, ConfigError, Worker, task
from asynctasq.checks import MAX_EPOCH, MAX_SECONDS
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.capabilities import Inspection
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.jobs import Job, JobState, Retried
from asynctasq.tasks.retry import retry_delay_for
from asynctasq.testing import drain
from tests.backends import Backend
from tests.chaos.fleet import all_jobs
from tests.conftest import skip_without

pytestmark = pytest.mark.timeout(60)

NAN, INF = float("nan"), float("inf")


class Nap(AsyncTask[None]):
    async def execute(self) -> None:
        return None


# -- every carrier refuses, naming the argument -----------------------------------------

REFUSED: dict[str, tuple[Callable[[], Any], str]] = {
    "delay nan": (lambda: Nap().delay(NAN), "delay=nan"),
    "delay inf": (lambda: Nap().delay(INF), "delay=inf"),
    "delay negative": (lambda: Nap().delay(-1), "delay=-1"),
    "delay negative timedelta": (lambda: Nap().delay(dt.timedelta(seconds=-5)), "delay="),
    "delay beyond 100 years": (lambda: Nap().delay(1e12), "delay=1000000000000.0"),
    "delay a string": (lambda: Nap().delay("5"), "delay='5'"),  # type: ignore[arg-type]
    "retry_after nan": (lambda: Nap().retry_after(NAN), "retry_after=nan"),
    "retry_after -inf": (lambda: Nap().retry_after(-INF), "retry_after=-inf"),
    "timeout nan": (lambda: Nap().with_options(timeout=NAN), "timeout=nan"),
    "timeout zero": (lambda: Nap().with_options(timeout=0), "timeout=0"),
    "timeout inf": (lambda: Nap().with_options(timeout=INF), "timeout=inf"),
    "priority nan": (lambda: Nap().with_options(priority=NAN), "priority=nan"),  # type: ignore[arg-type]
    "priority 1.5": (lambda: Nap().with_options(priority=1.5), "priority=1.5"),  # type: ignore[arg-type]
    "priority beyond int32": (lambda: Nap().with_options(priority=2**40), "priority="),
    "max_attempts 0": (lambda: Nap().with_options(max_attempts=0), "max_attempts=0"),
    "Backoff base nan": (lambda: Backoff(base=NAN), "Backoff.base=nan"),
    "Backoff base negative": (lambda: Backoff(base=-1), "Backoff.base=-1"),
    "Backoff factor inf": (lambda: Backoff(factor=INF), "Backoff.factor=inf"),
    "Backoff factor below 1": (lambda: Backoff(factor=0.5), "Backoff.factor=0.5"),
    "Backoff max_delay nan": (lambda: Backoff(max_delay=NAN), "Backoff.max_delay=nan"),
    "Job run_at nan": (lambda: Job(task="t", payload=b"", run_at=NAN), "Job.run_at=nan"),
    "Job run_at inf": (lambda: Job(task="t", payload=b"", run_at=INF), "Job.run_at=inf"),
    "Job run_at negative": (lambda: Job(task="t", payload=b"", run_at=-1.0), "Job.run_at=-1.0"),
    "Job created_at nan": (lambda: Job(task="t", payload=b"", created_at=NAN), "created_at"),
    "Job timeout nan": (lambda: Job(task="t", payload=b"", timeout=NAN), "Job.timeout=nan"),
    "Job expires_at inf": (lambda: Job(task="t", payload=b"", expires_at=INF), "expires_at"),
    "Job priority nan": (lambda: Job(task="t", payload=b"", priority=NAN), "Job.priority"),  # type: ignore[arg-type]
    "Retried run_at nan": (lambda: Retried("j", "w", 1, run_at=NAN), "Retried.run_at=nan"),
    "Config lease_seconds nan": (lambda: Config(lease_seconds=NAN), "Config.lease_seconds"),
    "Config heartbeat_interval inf": (
        lambda: Config(heartbeat_interval=INF),
        "Config.heartbeat_interval",
    ),
    "Config shutdown_timeout negative": (
        lambda: Config(shutdown_timeout=-1),
        "Config.shutdown_timeout",
    ),
    "Config default_timeout inf": (lambda: Config(default_timeout=INF), "default_timeout"),
    "Config default_retry_delay nan": (
        lambda: Config(default_retry_delay=NAN),
        "default_retry_delay",
    ),
    "Worker lease_seconds nan": (
        lambda: Worker(MemoryDriver(), lease_seconds=NAN, handle_signals=False),
        "lease_seconds=nan",
    ),
    "Worker heartbeat_interval inf": (
        lambda: Worker(MemoryDriver(), heartbeat_interval=INF, handle_signals=False),
        "heartbeat_interval=inf",
    ),
    "Worker shutdown_timeout negative": (
        lambda: Worker(MemoryDriver(), shutdown_timeout=-1, handle_signals=False),
        "shutdown_timeout=-1",
    ),
    "env ASYNCTASQ_LEASE_SECONDS=nan": (
        lambda: Config.from_env({"ASYNCTASQ_LEASE_SECONDS": "nan"}, env_file=None),
        "ASYNCTASQ_LEASE_SECONDS",
    ),
    "env ASYNCTASQ_COMPLETED_TTL=inf": (
        lambda: Config.from_env({"ASYNCTASQ_COMPLETED_TTL": "inf"}, env_file=None),
        "ASYNCTASQ_COMPLETED_TTL",
    ),
}


@pytest.mark.parametrize(("build", "names"), REFUSED.values(), ids=REFUSED.keys())
def test_a_bad_time_is_refused_where_it_is_given(build: Callable[[], Any], names: str) -> None:
    with pytest.raises(ValueError, match="is not valid") as refused:
        build()
    assert names in str(refused.value)


def test_config_errors_say_what_is_accepted() -> None:
    with pytest.raises(ConfigError, match=r"expected a finite number >= 0.1 and <= 3155760000"):
        Config(lease_seconds=NAN)


BAD_TASK_CONFIGS = [
    {"timeout": NAN},
    {"timeout": INF},
    {"timeout": 0},
    {"retry_delay": NAN},
    {"retry_delay": -1},
    {"retry_delay": INF},
    {"priority": NAN},
    {"max_attempts": 0},
    {"max_attempts": NAN},
    {"visibility_timeout": INF},
]


@pytest.mark.parametrize("config", BAD_TASK_CONFIGS, ids=str)
def test_a_task_class_with_a_bad_number_is_refused_when_it_is_defined(
    config: dict[str, Any],
) -> None:
    key = next(iter(config))
    with pytest.raises(ValueError, match=rf"Bad\.config\['{key}'\]=.* is not valid"):
        type("Bad", (Nap,), {"config": config})  # class Bad(Nap): config = {...}


def test_the_task_decorator_is_checked_too() -> None:
    with pytest.raises(ValueError, match=r"config\['timeout'\]=nan"):

        @task(timeout=NAN)
        async def nap() -> None: ...


def test_good_values_are_normalised() -> None:
    cls = type("Fine", (Nap,), {"config": {"timeout": dt.timedelta(minutes=1), "priority": 2.0}})
    assert cls.task_config == {"timeout": 60.0, "priority": 2}
    job = Nap().delay(dt.timedelta(seconds=5)).retry_after(dt.timedelta(seconds=2))
    assert job._options == {"delay": 5.0, "retry_delay": 2.0}
    past = Nap().delay(dt.datetime(1900, 1, 1, tzinfo=dt.UTC))  # a moment past: at once
    assert past._options == {"run_at": 0.0}


# -- a retry policy that answers nonsense cannot lose the job ------------------------------


class Broken(Backoff):
    """A policy with a bug: what a user's Backoff subclass could answer."""

    answer: Any = NAN

    def delay(self, attempt: int) -> float:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [(NAN, 0.0), (-5.0, 0.0), (INF, MAX_SECONDS), (1e300, MAX_SECONDS), ("soon", 0.0)],
)
def test_a_policy_answer_is_clamped_to_a_usable_delay(answer: Any, expected: float) -> None:
    policy = Broken()
    object.__setattr__(policy, "answer", answer)
    assert retry_delay_for(policy, 3) == expected


def test_a_policy_that_raises_retries_at_once() -> None:
    policy = Broken()
    object.__setattr__(policy, "answer", ZeroDivisionError("oops"))
    assert retry_delay_for(policy, 1) == 0.0
    assert retry_delay_for("garbage from a forged payload", 1) == 0.0  # type: ignore[arg-type]


def test_thousands_of_attempts_do_not_overflow_the_backoff() -> None:
    assert Backoff(jitter=False, max_delay=30).delay(5000) == 30  # 2.0 ** 4999 overflows


class FlakyNaN(AsyncTask[str]):
    """Fails twice; its retry policy answers NaN."""

    config = {"max_attempts": 3, "retry_delay": Broken()}

    async def execute(self) -> str:
        if self._attempts < 3:
            raise ConnectionError("not yet")
        return "done"


# -- on every broker: what used to be lost or stuck now raises, or is clamped ------------


async def test_a_nan_delay_never_reaches_the_broker(backend: Backend) -> None:
    skip_without(backend, Inspection)  # it reads the jobs back
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, backend.config())
    for bad in (NAN, INF, -1.0):
        with pytest.raises(ValueError, match="delay="):
            await dispatcher.dispatch(Nap().delay(bad))
    with pytest.raises(ValueError, match=r"Job\.run_at=nan"):
        await driver.enqueue([Job(task=Nap.task_name, payload=b"", run_at=NAN)])
    # the extremes that pass are stored and read back as they were
    far = await dispatcher.dispatch(Nap().delay(MAX_SECONDS - 3600))
    latest = await dispatcher.dispatch(Nap().delay(dt.datetime(9999, 12, 31, tzinfo=dt.UTC)))
    stored = {job.id: job for job in await all_jobs(driver, "default", JobState.SCHEDULED)}
    assert set(stored) == {far, latest}
    assert math.isclose(stored[far].run_at, time.time() + MAX_SECONDS - 3600, abs_tol=60)
    assert stored[latest].run_at <= MAX_EPOCH


async def test_a_retry_policy_answering_nan_does_not_lose_the_job(backend: Backend) -> None:
    skip_without(backend, Inspection)  # it reads the jobs back
    driver = await backend.new_driver(keep_completed=True)
    config = backend.config(keep_completed_tasks=True)
    job_id = await Dispatcher(driver, config).dispatch(FlakyNaN())
    await drain(driver, ["default"], config=config)
    job = await driver.get(job_id)
    assert job is not None
    assert (job.state, job.attempts) == (JobState.COMPLETED, 3)
