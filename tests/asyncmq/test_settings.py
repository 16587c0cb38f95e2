"""Settings as an object (``ASYNCTASQ_SETTINGS_MODULE``) and the best-practices
guide's examples as written: its production variables, ``TaskConfig(max_retries)``,
``self._task_id`` / ``self._attempts``, ``EventSubscriber(redis_url=...)`` on the
channel of ``ASYNCTASQ_EVENTS_CHANNEL``."""

from __future__ import annotations

import asyncio
import secrets
import textwrap
from pathlib import Path
from typing import Any

import pytest

from asynctasq import AsyncTask, Config, ConfigError
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.core.events import EventSubscriber
from asynctasq.core.events.redis import RedisEventEmitter
from asynctasq.core.events.types import Event
from asynctasq.core.worker.middleware import default_retry_delay
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.jobs import JobState
from asynctasq.tasks import Backoff
from asynctasq.testing import run_job
from tests.backends_redis import local_redis_url


@pytest.fixture
def settings_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"app_{secrets.token_hex(4)}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / name / "settings.py").write_text(
        textwrap.dedent(
            """
            import asynctasq

            class Base(asynctasq.Settings):
                driver = "memory"
                default_queue = "from-base"

            class Settings(Base):
                concurrency = 7
                default_queue = "from-class"
                lease_seconds = 42.0

            class NotSettings:
                driver = "redis"
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_a_settings_class_sits_under_the_environment_and_code(settings_package: str) -> None:
    env = {
        "ASYNCTASQ_SETTINGS_MODULE": f"{settings_package}.settings.Settings",
        "ASYNCTASQ_CONCURRENCY": "9",
    }
    config = Config.from_env(env, env_file=None, lease_seconds=5.0)
    assert config.driver == "memory"  # the parent class's
    assert config.default_queue == "from-class"  # the class over its parent
    assert config.concurrency == 9  # the environment over the class
    assert config.lease_seconds == 5.0  # code over everything
    assert config.heartbeat_interval == Config().heartbeat_interval  # defaults
    colon = Config.from_env(
        {"ASYNCTASQ_SETTINGS_MODULE": f"{settings_package}.settings:Settings"}, env_file=None
    )
    assert colon.concurrency == 7


def test_a_settings_class_built_in_code_holds_its_values(settings_package: str) -> None:
    import importlib

    settings = importlib.import_module(f"{settings_package}.settings").Settings
    built = settings()
    assert (built.driver, built.concurrency, built.default_queue) == ("memory", 7, "from-class")
    assert settings(concurrency=2).concurrency == 2  # code over the class
    from_env = settings.from_env({"ASYNCTASQ_CONCURRENCY": "9"}, env_file=None)
    assert (from_env.concurrency, from_env.lease_seconds) == (9, 42.0)
    assert built.replace(concurrency=3).default_queue == "from-class"
    with pytest.raises(ConfigError):
        settings(concurrency=0)  # checked as every setting is


def test_a_settings_path_that_is_wrong_says_so(settings_package: str) -> None:
    for path, expected in (
        ("nowhere.settings.Settings", "cannot load"),
        (f"{settings_package}.settings.Missing", "cannot load"),
        (f"{settings_package}.settings.NotSettings", "not a subclass of asynctasq.Settings"),
    ):
        with pytest.raises(ConfigError, match=expected) as caught:
            Config.from_env({"ASYNCTASQ_SETTINGS_MODULE": path}, env_file=None)
        assert "ASYNCTASQ_SETTINGS_MODULE" in str(caught.value)


async def test_the_production_variables_of_the_best_practices_guide() -> None:
    config = Config.from_env(
        {
            "ASYNCTASQ_DRIVER": "redis",
            "ASYNCTASQ_REDIS_URL": "redis://redis-master:6379",
            "ASYNCTASQ_REDIS_PASSWORD": "s3cret",
            "ASYNCTASQ_DEFAULT_MAX_RETRIES": "5",
            "ASYNCTASQ_DEFAULT_RETRY_DELAY": "120",
            "ASYNCTASQ_DEFAULT_TIMEOUT": "300",
            "ASYNCTASQ_EVENTS_REDIS_URL": "redis://redis-master:6379",
            "ASYNCTASQ_EVENTS_CHANNEL": "asynctasq:events",
            "ASYNCTASQ_PROCESS_POOL_SIZE": "4",
            "ASYNCTASQ_PROCESS_POOL_MAX_TASKS_PER_CHILD": "100",
        },
        env_file=None,
    )
    assert (config.process_pool_size, config.process_pool_max_tasks_per_child) == (4, 100)
    assert "s3cret" not in repr(config)
    delay = default_retry_delay(config)
    assert isinstance(delay, Backoff) and delay.base == 120.0

    class Plain(AsyncTask[None], name="amq.settings.plain"):
        async def execute(self) -> None: ...

    driver = MemoryDriver()
    await driver.connect()
    job_id = await Dispatcher(driver, config).dispatch(Plain())
    job = await driver.get(job_id)
    assert job is not None and (job.max_attempts, job.timeout) == (6, 300.0)


def test_the_redis_password_setting_reaches_the_driver() -> None:
    config = Config.from_env(
        {
            "ASYNCTASQ_DRIVER": "redis",
            "ASYNCTASQ_REDIS_URL": "redis://redis-master:6379",
            "ASYNCTASQ_REDIS_PASSWORD": "s3cret-pw",
        },
        env_file=None,
    )
    driver = DriverFactory.create_from_config(config)
    assert driver.password == "s3cret-pw"  # type: ignore[attr-defined]
    assert "s3cret-pw" not in repr(driver)


async def test_task_id_and_attempts_inside_a_task() -> None:
    seen: list[tuple[Any, int]] = []

    class ProcessPayment(AsyncTask[None], name="amq.settings.payment"):
        config = {"max_retries": 1, "retry_delay": 0}

        async def execute(self) -> None:
            seen.append((self._task_id, self._attempts))
            raise RuntimeError("card declined")

        async def failed(self, exception: BaseException) -> None:
            seen.append((self._task_id, self._attempts))

    outcome = await run_job(ProcessPayment(), config=Config(lease_seconds=5))
    assert outcome.state is JobState.FAILED
    assert seen == [(outcome.job_id, 1), (outcome.job_id, 2), (outcome.job_id, 2)]


async def test_event_subscriber_with_a_url_follows_the_configured_channel() -> None:
    channel = f"asynctasq-test:{secrets.token_hex(4)}"
    config = Config(events_channel=channel)
    subscriber = EventSubscriber(redis_url=local_redis_url(), config=config)
    await subscriber.connect()
    emitter = RedisEventEmitter(local_redis_url(), channel=channel)
    try:
        emitter.emit(Event("task_failed", task_id="j1", error="boom"))
        await emitter.flush()
        received = await asyncio.wait_for(anext(aiter(subscriber.listen())), 10)
        assert (received.event_type, received.task_id) == ("task_failed", "j1")
    finally:
        await emitter.close()
        await subscriber.close()


async def test_event_subscriber_as_the_guide_writes_it_honours_the_channel_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``EventSubscriber(redis_url=...)`` and nothing else, as in the best-practices
    guide: the channel comes from ASYNCTASQ_EVENTS_CHANNEL, where the emitters
    (``create_event_emitter()``) publish."""
    from asynctasq.config import set_global_config
    from asynctasq.core.events import create_event_emitter

    channel = f"asynctasq-test:{secrets.token_hex(4)}"
    monkeypatch.setenv("ASYNCTASQ_EVENTS_CHANNEL", channel)
    monkeypatch.setenv("ASYNCTASQ_EVENTS_REDIS_URL", local_redis_url())
    set_global_config(None)  # read the environment again
    try:
        subscriber = EventSubscriber(redis_url=local_redis_url())
        await subscriber.connect()
        emitter = create_event_emitter()  # reads ASYNCTASQ_EVENTS_REDIS_URL / _CHANNEL
        try:
            emitter.emit(Event("task_failed", task_id="j2", error="boom"))
            await emitter.flush()
            received = await asyncio.wait_for(anext(aiter(subscriber.listen())), 10)
            assert (received.event_type, received.task_id) == ("task_failed", "j2")
        finally:
            await emitter.close()
            await subscriber.close()
    finally:
        set_global_config(None)


class GuideTask(AsyncTask[str], name="amq.settings.guide"):
    config = {"queue": "critical"}

    async def execute(self) -> str:
        return "ok"


# (not the memory broker: the guide's health check builds a driver of its own, and two
# memory drivers are two brokers)
@pytest.mark.parametrize("driver_name", ["sqlite", "redis"])
async def test_the_monitoring_examples_of_the_best_practices_guide(
    driver_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guide's ``start_worker_with_events`` / ``consume_events`` and
    ``check_queue_health`` shapes, as written, configured by environment variables."""
    from asynctasq.config import get_global_config, set_global_config
    from asynctasq.core.events import create_event_emitter
    from asynctasq.core.worker import Worker

    channel = f"asynctasq-test:{secrets.token_hex(4)}"
    prefix = f"asynctasq-test-guide-{secrets.token_hex(4)}"
    monkeypatch.setenv("ASYNCTASQ_DRIVER", driver_name)
    monkeypatch.setenv("ASYNCTASQ_REDIS_URL", local_redis_url())
    monkeypatch.setenv("ASYNCTASQ_REDIS_PREFIX", prefix)
    monkeypatch.setenv("ASYNCTASQ_EVENTS_REDIS_URL", local_redis_url())
    monkeypatch.setenv("ASYNCTASQ_EVENTS_CHANNEL", channel)
    set_global_config(None)
    seen: dict[str, Any] = {}

    # -- the guide's code, adapted only where it calls the reader's own functions --
    async def check_queue_health() -> None:
        config = Config.from_env()
        driver = DriverFactory.create_from_config(config)
        await driver.connect()
        try:
            for queue in ["critical", "default", "low-priority"]:
                stats = await driver.get_queue_stats(queue)  # type: ignore[attr-defined]
                seen[queue] = (stats.depth, stats.processing)
        finally:
            await driver.disconnect()

    async def consume_events(subscriber: EventSubscriber) -> None:
        async for event in subscriber.listen():
            if event.event_type == "task_completed":
                seen["duration_ms"] = event.duration_ms
            elif event.event_type == "worker_heartbeat":
                seen["active"] = event.active
            if "duration_ms" in seen and "active" in seen:
                return

    config = get_global_config()
    driver = DriverFactory.create_from_config(config)
    await driver.connect()
    try:
        await Dispatcher(driver, config).dispatch(GuideTask())
        await check_queue_health()
        assert seen["critical"] == (1, 0) and seen["default"] == (0, 0)
        subscriber = EventSubscriber(redis_url=local_redis_url())
        await subscriber.connect()
        emitter = create_event_emitter()  # reads ASYNCTASQ_EVENTS_REDIS_URL
        worker = Worker(
            queue_driver=driver,
            queues=["critical"],
            event_emitter=emitter,
            worker_id="worker-1",
            heartbeat_interval=0.2,  # the guide's 60 s, shortened for the test
            handle_signals=False,
        )
        running = asyncio.create_task(worker.start())
        try:
            await asyncio.wait_for(consume_events(subscriber), 20)
        finally:
            worker.stop()
            await running
            await emitter.close()
            await subscriber.close()
        assert seen["duration_ms"] is not None and seen["active"] is not None
        await check_queue_health()
        assert seen["critical"] == (0, 0)
    finally:
        await driver.disconnect()
        set_global_config(None)
        if driver_name == "redis":
            import redis.asyncio as aioredis

            client = aioredis.from_url(local_redis_url())
            keys = [key async for key in client.scan_iter(f"{prefix}*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()
