from __future__ import annotations

from pathlib import Path

import pytest

from asynctasq.cli.publish import env_example
from asynctasq.config import (
    Config,
    ConfigError,
    env_var,
    get_global_config,
    redact_url,
    set_global_config,
)


def test_defaults_need_nothing_set_up(tmp_path: Path) -> None:
    config = Config.from_env({}, env_file=None)
    assert config.driver == "sqlite"
    assert config.sqlite_path == "asynctasq.db"
    assert config.queues == ("default",)
    assert config.keep_completed_tasks is False
    assert config.default_max_retries == 3


def test_every_field_names_its_variable() -> None:
    assert env_var("driver") == "ASYNCTASQ_DRIVER"
    assert (
        env_var("process_pool_max_tasks_per_child") == "ASYNCTASQ_PROCESS_POOL_MAX_TASKS_PER_CHILD"
    )
    for name in (
        "ASYNCTASQ_REDIS_URL",
        "ASYNCTASQ_REDIS_PASSWORD",
        "ASYNCTASQ_DEFAULT_MAX_RETRIES",
        "ASYNCTASQ_DEFAULT_RETRY_DELAY",
        "ASYNCTASQ_DEFAULT_TIMEOUT",
        "ASYNCTASQ_EVENTS_REDIS_URL",
        "ASYNCTASQ_EVENTS_CHANNEL",
        "ASYNCTASQ_PROCESS_POOL_SIZE",
        "ASYNCTASQ_KEEP_COMPLETED_TASKS",
        "ASYNCTASQ_SHUTDOWN_TIMEOUT",
    ):
        assert f"{name}=" in env_example()


def test_values_are_parsed_by_type() -> None:
    config = Config.from_env(
        {
            "ASYNCTASQ_DRIVER": "REDIS",
            "ASYNCTASQ_CONCURRENCY": "20",
            "ASYNCTASQ_QUEUES": "critical, default ,",
            "ASYNCTASQ_KEEP_COMPLETED_TASKS": "yes",
            "ASYNCTASQ_DEFAULT_TIMEOUT": "2.5",
            "ASYNCTASQ_PROCESS_POOL_SIZE": "",
        },
        env_file=None,
    )
    assert config.driver == "redis"
    assert config.concurrency == 20
    assert config.queues == ("critical", "default")
    assert config.keep_completed_tasks is True
    assert config.default_timeout == 2.5
    assert config.process_pool_size is None


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("ASYNCTASQ_CONCURRENCY", "lots", "expected an integer"),
        ("ASYNCTASQ_CONCURRENCY", "0", "expected a number >= 1"),
        ("ASYNCTASQ_DRIVER", "mongo db", "expected a driver name (sqlite, memory, redis"),
        ("ASYNCTASQ_KEEP_COMPLETED_TASKS", "perhaps", "expected true or false"),
        ("ASYNCTASQ_DEFAULT_TIMEOUT", "soon", "expected a number or empty"),
        ("ASYNCTASQ_LOG_FORMAT", "xml", "expected one of text, json"),
    ],
)
def test_a_bad_value_fails_naming_the_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_env({variable: value}, env_file=None)
    assert variable in str(info.value)
    assert expected in str(info.value)


def test_dotenv_fills_gaps_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("ASYNCTASQ_CONCURRENCY=7\nASYNCTASQ_DEFAULT_QUEUE=from-file\n")
    config = Config.from_env({"ASYNCTASQ_CONCURRENCY": "3"}, env_file=env_file)
    assert config.concurrency == 3
    assert config.default_queue == "from-file"


def test_code_overrides_win_and_unknown_names_fail() -> None:
    assert Config.from_env({}, env_file=None, driver="memory").driver == "memory"
    with pytest.raises(ConfigError, match="unknown setting"):
        Config.from_env({}, env_file=None, drivr="memory")
    with pytest.raises(ConfigError, match=r"Config.concurrency=0"):
        Config(concurrency=0)


def test_secrets_never_show_in_repr() -> None:
    config = Config(
        redis_url="redis://user:s3cret@cache:6379/0",
        postgres_dsn="postgresql://app:hunter2@db/app",
        redis_password="pw-123456",
    )
    text = repr(config)
    for secret in ("s3cret", "hunter2", "pw-123456"):
        assert secret not in text
    assert "redis://user:***@cache:6379/0" in text
    assert redact_url("rediss://:p@h:1") == "rediss://:***@h:1"


def test_global_config_is_read_once_and_replaceable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCTASQ_CONCURRENCY", "4")
    set_global_config(None)
    assert get_global_config().concurrency == 4
    monkeypatch.setenv("ASYNCTASQ_CONCURRENCY", "5")
    assert get_global_config().concurrency == 4
    set_global_config(Config(concurrency=9))
    assert get_global_config().concurrency == 9
