from __future__ import annotations

import datetime as dt
import time

import pytest

from asynctasq import (
    AsyncTask,
    Backoff,
    Config,
    SyncProcessTask,
    SyncTask,
    TaskDefinitionError,
    task,
)
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.jobs import Job
from asynctasq.serialization.payload import decode_payload
from asynctasq.tasks.registry import registry
from asynctasq.tasks.retry import retry_delay_for


class SendEmail(AsyncTask[bool]):
    config = {"queue": "emails", "max_attempts": 5, "timeout": 30}

    to: str
    subject: str = "hello"

    async def execute(self) -> bool:
        return "@" in self.to


class Resize(SyncTask[int], name="media.resize"):
    def __init__(self, path: str, width: int = 100) -> None:
        self.path, self.width = path, width

    def execute(self) -> int:
        return self.width


@task(queue="reports", max_attempts=2)
async def build_report(day: str, *, draft: bool = False) -> str:
    return f"{day}:{draft}"


@task
def add(a: int, b: int) -> int:
    return a + b


def test_names_default_to_module_and_qualname_or_are_given() -> None:
    assert SendEmail.task_name == f"{__name__}.SendEmail"
    assert Resize.task_name == "media.resize"
    assert build_report.task_name == f"{__name__}.build_report"
    assert registry.get("media.resize") is Resize


def test_arguments_become_attributes_and_are_captured() -> None:
    email = SendEmail(to="a@b.c")
    assert (email.to, email.subject) == ("a@b.c", "hello")
    assert email._args == {"to": "a@b.c"}
    resize = Resize("cat.png", width=5)
    assert resize._args == {"path": "cat.png", "width": 5}
    with pytest.raises(TypeError, match="missing argument"):
        SendEmail(subject="x")
    with pytest.raises(TypeError, match="keyword arguments only"):
        SendEmail("a@b.c")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "name", ["dispatch", "config", "delay", "_secret", "retry_after", "execute"]
)
def test_reserved_argument_names_are_refused_at_class_creation(name: str) -> None:
    with pytest.raises(TaskDefinitionError, match="reserved"):
        type("Bad", (AsyncTask,), {"__annotations__": {name: "int"}, "execute": SendEmail.execute})
    with pytest.raises(TaskDefinitionError, match="reserved"):
        exec(f"def f({name}=1): pass\ntask(f)", {"task": task})


def test_the_body_must_match_the_kind() -> None:
    with pytest.raises(TaskDefinitionError, match="async def execute"):

        class Blocking(AsyncTask[None]):
            def execute(self) -> None:  # type: ignore[override]
                pass

    with pytest.raises(TaskDefinitionError, match="def execute"):

        class Awaiting(SyncTask[None]):
            async def execute(self) -> None:  # type: ignore[override]
                pass

    with pytest.raises(TaskDefinitionError, match="must define execute"):

        class Empty(SyncProcessTask[None]):
            pass


def test_config_merges_down_the_hierarchy_and_rejects_typos() -> None:
    class Base(AsyncTask[None], abstract=True):
        config = {"queue": "base", "priority": 3}

    class Child(Base):
        config = {"priority": 1}

        async def execute(self) -> None: ...

    assert Child.task_config == {"queue": "base", "priority": 1}
    with pytest.raises(TaskDefinitionError, match="unknown key"):

        class Typo(AsyncTask[None]):
            config = {"max_attempt": 3}  # type: ignore[typeddict-unknown-key]

            async def execute(self) -> None: ...


def test_a_task_name_cannot_be_taken_twice() -> None:
    with pytest.raises(TaskDefinitionError, match="taken"):

        class Other(SyncTask[int], name="media.resize"):
            def execute(self) -> int:
                return 0


def test_decorated_functions_bind_their_arguments() -> None:
    report = build_report("2026-11-24", draft=True)
    assert report._args == {"day": "2026-11-24", "draft": True}
    assert build_report.task_config == {"queue": "reports", "max_attempts": 2}
    with pytest.raises(TypeError):
        build_report()
    assert add(1, 2)._args == {"a": 1, "b": 2}


async def test_run_executes_the_body_in_process() -> None:
    assert await SendEmail(to="a@b.c").run() is True
    assert await Resize("x", width=7).run() == 7
    assert await build_report("d").run() == "d:False"
    assert await add(2, 3).run() == 5


def test_jobs_take_task_config_then_overrides_then_global_defaults() -> None:
    config = Config(default_max_retries=2, default_timeout=9.0, default_priority=4)
    dispatcher = Dispatcher(MemoryDriver(), config)
    now = time.time()
    job = dispatcher.build_job(SendEmail(to="a@b.c"), now)
    assert (job.queue, job.max_attempts, job.timeout, job.priority) == ("emails", 5, 30, 4)
    assert job.task == SendEmail.task_name
    assert job.run_at == now
    plain = dispatcher.build_job(add(1, 2), now)
    assert (plain.queue, plain.max_attempts, plain.timeout) == ("default", 3, 9.0)
    custom = (
        SendEmail(to="x")
        .on_queue("urgent")
        .delay(dt.timedelta(seconds=30))
        .retry_after(5)
        .with_options(priority=-1, timeout=1.5, max_attempts=9, unique_key="k1")
    )
    job = dispatcher.build_job(custom, now)
    assert (job.queue, job.priority, job.timeout, job.max_attempts) == ("urgent", -1, 1.5, 9)
    assert job.run_at == pytest.approx(now + 30)
    assert job.unique_key == "k1"
    assert decode_payload(job.payload) == ({"to": "x"}, {"retry_delay": 5.0})
    at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert dispatcher.build_job(add(1, 2).delay(at), now).run_at == pytest.approx(at.timestamp())
    with pytest.raises(ValueError, match="invalid queue"):
        SendEmail(to="x").on_queue("{bad}")


async def test_dispatch_returns_the_job_id() -> None:
    driver = MemoryDriver()
    await driver.connect()
    dispatcher = Dispatcher(driver, Config())
    job_id = await dispatcher.dispatch(SendEmail(to="a@b.c"))
    stored = await driver.get(job_id)
    assert stored is not None and stored.queue == "emails"
    ids = await dispatcher.dispatch_many(add(i, i) for i in range(3))
    assert len(set(ids)) == 3


async def test_dispatch_uses_the_global_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCTASQ_DRIVER", "memory")
    from asynctasq.config import set_global_config
    from asynctasq.core.dispatcher import get_dispatcher

    set_global_config(None)
    job_id = await SendEmail(to="a@b.c").on_queue("emails").delay(5).retry_after(30).dispatch()
    dispatcher = await get_dispatcher()
    job = await dispatcher.driver.get(job_id)
    assert job is not None and job.run_at > time.time() + 4


def test_backoff_grows_caps_and_jitters() -> None:
    fixed = Backoff(base=1, factor=2, max_delay=10, jitter=False)
    assert [fixed.delay(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
    jittered = Backoff(base=1, max_delay=10)
    assert all(4 <= jittered.delay(4) <= 8 for _ in range(100))
    assert jittered.delay(1) == 1  # never sooner than the delay set
    assert retry_delay_for(2.5, 7) == 2.5


def _job_for(name: str, attempts: int = 2) -> Job:
    return Job(id="job-1", task=name, payload=b"", queue="q", attempts=attempts)


def test_a_task_rebuilt_for_its_job_is_what_the_constructor_builds() -> None:
    job = _job_for(SendEmail.task_name)
    built = SendEmail._for_job({"to": "a@b.c"}, job)
    called = SendEmail(to="a@b.c")
    called._task_id, called._attempts, called._job = job.id, job.attempts, job
    assert vars(built) == vars(called)
    # a constructor of its own is called as it is
    resized = Resize._for_job({"path": "p", "width": 3}, _job_for(Resize.task_name))
    assert (resized.path, resized.width, resized._task_id, resized._attempts) == (
        "p",
        3,
        "job-1",
        2,
    )


def test_a_task_rebuilt_for_its_job_refuses_what_the_constructor_refuses() -> None:
    job = _job_for(SendEmail.task_name)
    with pytest.raises(TypeError, match="missing argument"):
        SendEmail._for_job({}, job)
    with pytest.raises(TypeError, match="undeclared argument"):
        SendEmail._for_job({"to": "a@b.c", "cc": "x"}, job)
    with pytest.raises(TaskDefinitionError, match="reserved"):
        SendEmail._for_job({"to": "a@b.c", "_job": "x"}, job)
