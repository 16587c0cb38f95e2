"""What a new user trips over in the first hour (issue 20), one test each."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from asynctasq import Config
from asynctasq.core.worker import Worker
from asynctasq.drivers.capabilities import Inspection
from asynctasq.drivers.sqlite import SQLiteDriver
from asynctasq.jobs import Job, JobState
from asynctasq.serialization.msgpack import default_serializer
from tests.asyncmq.tasks import add
from tests.backend_base import Backend
from tests.conftest import only_backends
from tests.workers import ROOT

BROKERS = ("memory", "sqlite", "redis", "mongodb")


async def settled(driver: Inspection, job_id: str, *states: JobState) -> Job:
    for _ in range(500):
        job = await driver.get(job_id)
        if job is not None and job.state in states and job.attempts >= 1:
            return job
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} never reached {states}")


@only_backends(*BROKERS)
async def test_an_unknown_task_waits_for_a_worker_that_knows_it_then_dead_letters(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    driver = await backend.new_driver()
    assert isinstance(driver, Inspection)
    payload = default_serializer.dumps({"args": {}})
    now = time.time()
    fresh = [Job(task="myapp.tasks.not_imported", payload=payload) for _ in range(2)]
    stale = Job(task="myapp.tasks.gone", payload=payload, created_at=now - 400, run_at=now)
    damaged = Job(task="t\u00e2che \U0001f600", payload=payload)  # no worker can know it
    await driver.enqueue([*fresh, stale, damaged])
    worker = Worker(driver, ["default"], config=Config(lease_seconds=5), handle_signals=False)
    caplog.set_level(logging.WARNING, "asynctasq.worker")
    running = asyncio.create_task(worker.start())
    try:
        for job in fresh:  # back to the queue, not destroyed
            waiting = await settled(driver, job.id, JobState.SCHEDULED)
            assert "--import / ASYNCTASQ_TASK_MODULES" in (waiting.error or "")
            assert waiting.run_at > time.time()
        dead = await settled(driver, stale.id, JobState.FAILED)
        await settled(driver, damaged.id, JobState.FAILED)  # at once, not after the grace
    finally:
        worker.stop()
        await running
    assert "unknown task 'myapp.tasks.gone'" in (dead.error or "")
    # the seconds it waited: 400 and the moments until a worker read it (more on a busy host)
    assert re.search(r"waited 4\d\ds", dead.error or "") and "requeue" in (dead.error or "")
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "not_imported" in r.message
    ]
    assert len(warnings) == 1, [r.message for r in warnings]  # once per task
    assert "ASYNCTASQ_UNKNOWN_TASK_GRACE" in warnings[0].message


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    return subprocess.run(
        [sys.executable, "-m", "asynctasq", *args],
        cwd=ROOT,
        env={**full, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_burst_leaves_far_jobs_and_logs_each_job_unless_quiet(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    driver = SQLiteDriver(db)
    await driver.connect()
    try:
        await add.enqueue(1, 2, backend=driver)
        soon = await add.enqueue(3, 4, backend=driver, delay=2)  # within the horizon: waited for
        far = await add.enqueue(5, 6, backend=driver, delay=3600)  # beyond it: left
        soon_job = await driver.get(soon)
        assert soon_job is not None
        due = time.strftime("%H:%M:%S", time.localtime(soon_job.run_at))
        env = {"ASYNCTASQ_SQLITE_PATH": str(db)}
        done = run_cli("worker", "--burst", "--import", "tests.asyncmq.tasks", env=env)
        assert done.returncode == 0, done.stderr
        log = done.stderr
        assert f"on sqlite {db}" in log  # the broker and where it is
        assert log.count("(amq.add) started") == 2 and log.count("(amq.add) completed in") == 2
        assert f"burst: waiting for a job scheduled at {due}" in log
        assert "leaving jobs scheduled beyond the 5s horizon" in log
        assert (await driver.get(far)).state is JobState.SCHEDULED  # type: ignore[union-attr]

        await add.enqueue(7, 8, backend=driver)
        quiet = run_cli("worker", "--burst", "--quiet", "--import", "tests.asyncmq.tasks", env=env)
        assert quiet.returncode == 0, quiet.stderr
        assert "started" not in quiet.stderr and "completed in" not in quiet.stderr
        assert "burst: queues drained" in quiet.stderr

        # --burst-horizon chooses the horizon: a job due in a minute is left with 1s
        minute = await add.enqueue(9, 10, backend=driver, delay=60)
        short = run_cli(
            "worker", "--burst", "--burst-horizon", "1", "--import", "tests.asyncmq.tasks",
            env=env,
        )  # fmt: skip
        assert short.returncode == 0, short.stderr
        assert "leaving jobs scheduled beyond the 1s horizon" in short.stderr
        assert (await driver.get(minute)).state is JobState.SCHEDULED  # type: ignore[union-attr]
    finally:
        await driver.disconnect()


def test_a_task_defined_in_main_is_warned_about_at_dispatch(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, logging
            from asynctasq import AsyncTask
            from asynctasq.tasks import task

            logging.basicConfig()

            class Report(AsyncTask[None]):
                async def execute(self) -> None: ...

            @task(name="reports.named")
            async def named() -> None: ...

            async def main() -> None:
                await Report().dispatch()
                await Report().dispatch()
                await named.enqueue()

            asyncio.run(main())
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    env.update(PYTHONPATH=str(ROOT), ASYNCTASQ_SQLITE_PATH=str(tmp_path / "q.db"))
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("task __main__.Report is defined in __main__") == 1
    assert "Move it into a module" in done.stderr and "explicit name" in done.stderr
    assert "reports.named" not in done.stderr  # an explicit name resolves


def test_keyword_arguments_a_task_does_not_declare_fail_at_dispatch() -> None:
    from asynctasq import AsyncTask

    class Welcome(AsyncTask[None], name="amq.first_hour.welcome"):
        to: str
        subject: str = "hi"

        async def execute(self) -> None: ...

    with pytest.raises(TypeError, match=r"undeclared argument\(s\) sujbect"):
        Welcome(to="a@b.c", sujbect="typo")
    assert Welcome(to="a@b.c", subject="ok")._args == {"to": "a@b.c", "subject": "ok"}


def test_a_broker_that_is_down_is_one_line_and_the_traceback_under_verbose() -> None:
    env = {"ASYNCTASQ_DRIVER": "redis", "ASYNCTASQ_REDIS_URL": "redis://:s3cret@127.0.0.1:1/0"}
    done = run_cli("worker", env=env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "cannot reach Redis at redis://:***@127.0.0.1:1/0" in lines[0]
    assert "ASYNCTASQ_REDIS_URL" in lines[0] and "--verbose" in lines[0]
    verbose = run_cli("worker", "--verbose", env=env)
    assert "Traceback" in verbose.stderr and "s3cret" not in verbose.stderr + done.stderr


async def test_setup_hook_runs_before_the_first_job_and_after_the_last(tmp_path: Path) -> None:
    (tmp_path / "hooked_app.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path
            from asynctasq.tasks import task

            LOG = Path(__file__).with_name("hooks.log")
            client = None

            async def setup():
                global client
                client = "pool"  # Tortoise.init(...), a client pool...
                LOG.write_text("setup\\n")
                yield
                with LOG.open("a") as f:
                    f.write("teardown\\n")

            @task(name="hooked.uses_client")
            async def uses_client() -> None:
                with LOG.open("a") as f:
                    f.write(f"job saw {client}\\n")
            """
        )
    )
    db = tmp_path / "q.db"
    driver = SQLiteDriver(db)
    await driver.connect()
    payload = default_serializer.dumps({"args": {}})  # the task is not imported here
    await driver.enqueue([Job(task="hooked.uses_client", payload=payload)])
    await driver.disconnect()
    env = {
        "ASYNCTASQ_SQLITE_PATH": str(db),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    done = run_cli(
        "worker", "--burst", "--import", "hooked_app", "--setup", "hooked_app:setup", env=env
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "hooks.log").read_text() == "setup\njob saw pool\nteardown\n"
    bad = run_cli("worker", "--burst", "--setup", "hooked_app:nothing", env=env)
    assert (
        bad.returncode == 2
        and "ASYNCTASQ_SETUP (--setup): hooked_app has no 'nothing'" in bad.stderr
    )
    # the same hook from the settings (ASYNCTASQ_SETUP; a settings class's `setup`)
    await driver.connect()
    await driver.enqueue([Job(task="hooked.uses_client", payload=payload)])
    await driver.disconnect()
    (tmp_path / "hooks.log").unlink()
    from_settings = run_cli(
        "worker",
        "--burst",
        "--import",
        "hooked_app",
        env={**env, "ASYNCTASQ_SETUP": "hooked_app:setup"},
    )
    assert from_settings.returncode == 0, from_settings.stderr
    assert (tmp_path / "hooks.log").read_text() == "setup\njob saw pool\nteardown\n"


async def test_aclose_closes_the_default_dispatcher_and_dispatch_reopens_it() -> None:
    import asynctasq
    from asynctasq.core.dispatcher import get_dispatcher
    from asynctasq.drivers.base import DriverNotConnected

    first = await get_dispatcher()
    await add.enqueue(1, 2)
    async with asynctasq.lifespan():
        pass  # leaving the block closes it
    with pytest.raises(DriverNotConnected):
        await first.driver.enqueue([Job(task="amq.add", payload=b"")])
    await add.enqueue(1, 2)  # reopened
    second = await get_dispatcher()
    assert second is not first
    await asynctasq.aclose()
    await asynctasq.aclose()  # twice is harmless


def test_a_script_that_never_closes_still_sends_its_events_and_exits_quietly(
    tmp_path: Path,
) -> None:
    from tests.backends_redis import local_redis_url

    channel = f"asynctasq-test:{os.getpid()}:{time.monotonic_ns()}"
    script = tmp_path / "producer.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio
            from tests.asyncmq.tasks import add

            async def main() -> None:
                await add.enqueue(1, 2)   # no aclose(): asyncio.run() ends, that is all

            asyncio.run(main())
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    env.update(
        PYTHONPATH=str(ROOT),
        ASYNCTASQ_SQLITE_PATH=str(tmp_path / "q.db"),
        ASYNCTASQ_EVENTS_REDIS_URL=local_redis_url(),
        ASYNCTASQ_EVENTS_CHANNEL=channel,
    )

    async def listen() -> str:
        from asynctasq.core.events import EventSubscriber

        subscriber = EventSubscriber(redis_url=local_redis_url(), channel=channel)
        await subscriber.connect()
        try:
            producer = await asyncio.create_subprocess_exec(
                sys.executable, str(script), env=env, stderr=subprocess.PIPE
            )
            _, stderr = await producer.communicate()
            assert producer.returncode == 0, stderr
            noise = [
                line
                for line in stderr.decode().splitlines()
                if "no live worker serves queue" not in line  # true: none is running
            ]
            assert noise == []  # no "Event loop is closed", no unclosed-client warning
            event = await asyncio.wait_for(anext(aiter(subscriber.listen())), 10)
            return event.event_type
        finally:
            await subscriber.close()

    assert asyncio.run(listen()) == "task_enqueued"


async def test_an_allow_listed_task_name_imports_its_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asynctasq.drivers.memory import MemoryDriver
    from asynctasq.testing import drain

    package = f"allowed_{os.getpid()}_{time.monotonic_ns()}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "jobs.py").write_text(
        "from asynctasq.tasks import task\n\n@task\ndef hello(who: str) -> str:\n"
        "    return f'hello {who}'\n"
    )
    (tmp_path / "not_allowed_mod.py").write_text("raise RuntimeError('must not be imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    driver = MemoryDriver(keep_completed=True)
    await driver.connect()
    payload = default_serializer.dumps({"args": {"who": "ada"}})
    allowed = Job(task=f"{package}.jobs.hello", payload=payload)
    refused = Job(task="not_allowed_mod.task", payload=payload)
    await driver.enqueue([allowed, refused])
    config = Config(lease_seconds=5, unknown_task_grace=0, task_allow_list=(f"{package}.*",))
    await drain(driver, config=config)
    done = await driver.get(allowed.id)
    assert done is not None and done.state is JobState.COMPLETED
    assert default_serializer.loads(done.result) == "hello ada"
    dead = await driver.get(refused.id)
    assert dead is not None and dead.state is JobState.FAILED
    assert "not_allowed_mod" not in sys.modules


async def test_dispatch_to_a_queue_no_live_worker_serves_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from asynctasq.core.dispatcher import Dispatcher
    from asynctasq.drivers.memory import MemoryDriver
    from asynctasq.jobs import WorkerInfo

    driver = MemoryDriver()
    await driver.connect()
    await driver.heartbeat(WorkerInfo("w1", "host", 1, ("default",), 1), ttl=60)
    dispatcher = Dispatcher(driver, Config())
    caplog.set_level(logging.WARNING, "asynctasq.dispatcher")
    for _ in range(3):
        await dispatcher.dispatch(add(a=1, b=2))  # "default": served by w1
        await dispatcher.dispatch(add(a=1, b=2).on_queue("nobody-home"))
    while dispatcher._checks:
        await asyncio.sleep(0.01)
    warnings = [r.getMessage() for r in caplog.records if "no live worker" in r.getMessage()]
    assert len(warnings) == 1 and "'nobody-home'" in warnings[0]
    assert "--queues nobody-home" in warnings[0]


async def test_the_dead_letter_reason_names_the_command_that_requeues_them(
    tmp_path: Path,
) -> None:
    """An unknown task's jobs dead-lettered after the grace say how to fix it, and the
    one CLI command the reason names puts them back."""
    db = tmp_path / "jobs.db"
    driver = SQLiteDriver(db)
    await driver.connect()
    payload = default_serializer.dumps({"args": {}})
    now = time.time()
    stale = [
        Job(task="myapp.tasks.gone", payload=payload, queue="mail", created_at=now - 400)
        for _ in range(2)
    ]
    await driver.enqueue(stale)
    worker = Worker(driver, ["mail"], config=Config(lease_seconds=5), handle_signals=False)
    running = asyncio.create_task(worker.start())
    try:
        dead = [await settled(driver, job.id, JobState.FAILED) for job in stale]
    finally:
        worker.stop()
        await running
    reason = dead[0].error or ""
    command = "asynctasq job retry --all --state failed --queue mail --task myapp.tasks.gone"
    assert f"requeue the dead-lettered jobs: {command}\n" in reason, reason
    done = run_cli(*command.split()[1:], env={"ASYNCTASQ_SQLITE_PATH": str(db)})
    assert done.returncode == 0, done.stderr
    for job in stale:
        back = await driver.get(job.id)
        assert back is not None and back.state is JobState.PENDING and back.attempts == 0
    await driver.disconnect()


def test_the_startup_line_names_the_broker_absolute_path_and_redacted_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's start-up line says "on <broker> <where>": a SQLite file given
    relative as an absolute path, a URL without its password."""
    from asynctasq.core.driver_factory import DriverFactory
    from asynctasq.core.worker.presence import broker_location

    monkeypatch.chdir(tmp_path)
    assert broker_location(SQLiteDriver("jobs.db")) == f"sqlite {tmp_path / 'jobs.db'}"
    assert broker_location(DriverFactory.from_url("sqlite:///rel/jobs.db")) == (
        f"sqlite {tmp_path / 'rel' / 'jobs.db'}"
    )
    for url in (
        "redis://:s3cret@cache.internal:6379/0",
        "postgresql://app:s3cret@db.internal/jobs",
        "mysql://app:s3cret@db.internal/jobs",
        "mongodb://app:s3cret@mongo.internal:27017/jobs",
    ):
        where = broker_location(DriverFactory.from_url(url))
        assert "s3cret" not in where and ".internal" in where, where
