"""Settings: one frozen dataclass, read from ``ASYNCTASQ_*`` variables and ``.env``.

Every field names its environment variable. ``Config.from_env()`` validates them
all at start-up: a bad value raises ``ConfigError`` naming the variable and what it
accepts. Code can build a ``Config`` directly, or override fields:
``Config.from_env(driver="redis")``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

__all__ = [
    "Config",
    "ConfigError",
    "Settings",
    "env_var",
    "get_global_config",
    "redact_secrets",
    "redact_url",
    "set_global_config",
]

DriverName = Literal["sqlite", "memory", "redis", "postgres", "mysql"]


class ConfigError(ValueError):
    """A setting has a value asynctasq cannot use."""


def _setting(default: Any, env: str, help: str, *, secret: bool = False, **extra: Any) -> Any:
    meta = {"env": env, "help": help, "secret": secret, **extra}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Config:
    # -- broker ------------------------------------------------------------------
    driver: DriverName = _setting(
        "sqlite",
        "ASYNCTASQ_DRIVER",
        "Broker: sqlite (embedded default), memory, redis, postgres, mysql",
    )
    sqlite_path: str = _setting(
        "asynctasq.db", "ASYNCTASQ_SQLITE_PATH", "SQLite database file (created when missing)"
    )
    redis_url: str = _setting(
        "redis://localhost:6379/0",
        "ASYNCTASQ_REDIS_URL",
        "Redis URL: redis:// or rediss:// (TLS), user:password@ and /db number allowed",
        secret=True,
    )
    redis_password: str | None = _setting(
        None, "ASYNCTASQ_REDIS_PASSWORD", "Redis password, when not in the URL", secret=True
    )
    redis_prefix: str = _setting("asynctasq", "ASYNCTASQ_REDIS_PREFIX", "Prefix of every Redis key")
    redis_max_connections: int = _setting(
        50, "ASYNCTASQ_REDIS_MAX_CONNECTIONS", "Redis connection pool size", minimum=1
    )
    redis_cluster: bool = _setting(
        False, "ASYNCTASQ_REDIS_CLUSTER", "Connect to a Redis Cluster (the URL names any node)"
    )
    redis_dead_letter_ttl: float = _setting(
        30 * 86400.0,
        "ASYNCTASQ_REDIS_DEAD_LETTER_TTL",
        "Seconds Redis keeps a failed (dead-lettered) or cancelled job; 0: until purged",
        minimum=0,
    )
    redis_dead_letter_max: int = _setting(
        100_000,
        "ASYNCTASQ_REDIS_DEAD_LETTER_MAX",
        "Most failed and (separately) cancelled jobs Redis keeps per queue; oldest dropped first",
        minimum=0,
    )
    postgres_dsn: str = _setting(
        "postgresql://postgres@localhost:5432/postgres",
        "ASYNCTASQ_POSTGRES_DSN",
        "PostgreSQL DSN (postgresql://user:password@host:port/db)",
        secret=True,
    )
    postgres_schema: str = _setting(
        "asynctasq", "ASYNCTASQ_POSTGRES_SCHEMA", "PostgreSQL schema holding the queue tables"
    )
    postgres_min_pool_size: int = _setting(
        1, "ASYNCTASQ_POSTGRES_MIN_POOL_SIZE", "Minimum PostgreSQL pool connections", minimum=0
    )
    postgres_max_pool_size: int = _setting(
        10, "ASYNCTASQ_POSTGRES_MAX_POOL_SIZE", "Maximum PostgreSQL pool connections", minimum=1
    )
    mysql_dsn: str = _setting(
        "mysql://root@localhost:3306/asynctasq",
        "ASYNCTASQ_MYSQL_DSN",
        "MySQL/MariaDB DSN (mysql://user:password@host:port/db)",
        secret=True,
    )
    mysql_min_pool_size: int = _setting(
        1, "ASYNCTASQ_MYSQL_MIN_POOL_SIZE", "Minimum MySQL pool connections", minimum=0
    )
    mysql_max_pool_size: int = _setting(
        10, "ASYNCTASQ_MYSQL_MAX_POOL_SIZE", "Maximum MySQL pool connections", minimum=1
    )
    mysql_poll_interval: float = _setting(
        0.05,
        "ASYNCTASQ_MYSQL_POLL_INTERVAL",
        "Longest pause of an idle MySQL worker between two looks for new jobs (seconds)",
        minimum=0.001,
    )
    keep_completed_tasks: bool = _setting(
        False,
        "ASYNCTASQ_KEEP_COMPLETED_TASKS",
        "Keep completed jobs and results instead of deleting them",
    )
    completed_ttl: float = _setting(
        86400.0,
        "ASYNCTASQ_COMPLETED_TTL",
        "Seconds a kept completed job lives (Redis expires it; SQL: purge)",
        minimum=1,
    )
    # -- task defaults -------------------------------------------------------------
    default_queue: str = _setting(
        "default", "ASYNCTASQ_DEFAULT_QUEUE", "Queue of tasks that name none"
    )
    default_max_retries: int = _setting(
        3,
        "ASYNCTASQ_DEFAULT_MAX_RETRIES",
        "Retries after the first attempt (3 = 4 attempts)",
        minimum=0,
    )
    default_retry_delay: float = _setting(
        60.0,
        "ASYNCTASQ_DEFAULT_RETRY_DELAY",
        "Base seconds before a retry (doubled each attempt, full jitter, capped)",
        minimum=0,
    )
    default_retry_backoff: Literal["exponential", "fixed"] = _setting(
        "exponential",
        "ASYNCTASQ_DEFAULT_RETRY_BACKOFF",
        "Backoff between retries: exponential or fixed",
    )
    default_retry_max_delay: float = _setting(
        3600.0, "ASYNCTASQ_DEFAULT_RETRY_MAX_DELAY", "Cap on one retry delay, in seconds", minimum=0
    )
    default_timeout: float | None = _setting(
        None, "ASYNCTASQ_DEFAULT_TIMEOUT", "Seconds a job may run (empty: no limit)", minimum=0.001
    )
    default_priority: int = _setting(
        0, "ASYNCTASQ_DEFAULT_PRIORITY", "Priority of tasks (lower runs first)"
    )
    # -- worker ----------------------------------------------------------------------
    queues: tuple[str, ...] = _setting(
        ("default",), "ASYNCTASQ_QUEUES", "Queues a worker serves, comma-separated"
    )
    concurrency: int = _setting(
        10, "ASYNCTASQ_CONCURRENCY", "Jobs a worker runs at once", minimum=1
    )
    prefetch: int = _setting(
        0,
        "ASYNCTASQ_PREFETCH",
        "Jobs a worker claims ahead of free slots (for many short jobs; 0: none)",
        minimum=0,
    )
    task_modules: tuple[str, ...] = _setting(
        (), "ASYNCTASQ_TASK_MODULES", "Modules a worker imports to register tasks, comma-separated"
    )
    task_allow_list: tuple[str, ...] = _setting(
        (),
        "ASYNCTASQ_TASK_ALLOW_LIST",
        "Task names (fnmatch patterns) a worker may run; empty: every registered task",
    )
    sqlalchemy_session_factory: str | None = _setting(
        None,
        "ASYNCTASQ_SQLALCHEMY_SESSION_FACTORY",
        "module:attribute of the sessionmaker or async_sessionmaker a worker loads "
        "SQLAlchemy models with (see docs/orm.md)",
    )
    sqlalchemy_bases: tuple[str, ...] = _setting(
        (),
        "ASYNCTASQ_SQLALCHEMY_BASES",
        "module:attribute of the declarative bases (or registries) whose models tasks "
        "may receive, comma-separated",
    )
    lease_seconds: float = _setting(
        60.0,
        "ASYNCTASQ_LEASE_SECONDS",
        "How long a reserved job stays claimed without renewal (crash recovery delay)",
        minimum=0.1,
    )
    heartbeat_interval: float = _setting(
        10.0, "ASYNCTASQ_HEARTBEAT_INTERVAL", "Seconds between worker heartbeats", minimum=0.05
    )
    shutdown_timeout: float = _setting(
        30.0,
        "ASYNCTASQ_SHUTDOWN_TIMEOUT",
        "Seconds in-flight jobs get to finish on SIGTERM before release to pending",
        minimum=0,
    )
    thread_pool_size: int | None = _setting(
        None,
        "ASYNCTASQ_THREAD_POOL_SIZE",
        "Threads for SyncTask (empty: the concurrency)",
        minimum=1,
    )
    process_pool_size: int | None = _setting(
        None,
        "ASYNCTASQ_PROCESS_POOL_SIZE",
        "Processes for process tasks (empty: CPU count)",
        minimum=1,
    )
    process_pool_max_tasks_per_child: int | None = _setting(
        None,
        "ASYNCTASQ_PROCESS_POOL_MAX_TASKS_PER_CHILD",
        "Jobs a pool process runs before it is replaced (empty: never)",
        minimum=1,
    )
    process_pool_prestart: bool = _setting(
        True,
        "ASYNCTASQ_PROCESS_POOL_PRESTART",
        "Start the process pool with the worker when its task modules define process tasks",
    )
    # -- events and logs -------------------------------------------------------------
    events_redis_url: str | None = _setting(
        None, "ASYNCTASQ_EVENTS_REDIS_URL", "Publish events on this Redis (empty: off)", secret=True
    )
    events_channel: str = _setting(
        "asynctasq:events", "ASYNCTASQ_EVENTS_CHANNEL", "Pub/Sub channel of events"
    )
    events_postgres_dsn: str | None = _setting(
        None,
        "ASYNCTASQ_EVENTS_POSTGRES_DSN",
        "Send events by PostgreSQL NOTIFY on this database (empty: off)",
        secret=True,
    )
    events_log: bool = _setting(
        False, "ASYNCTASQ_EVENTS_LOG", "Also write every event to the asynctasq.events logger"
    )
    metrics_port: int | None = _setting(
        None,
        "ASYNCTASQ_METRICS_PORT",
        "Serve Prometheus metrics on this port from each worker (empty: off)",
        minimum=0,
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _setting(
        "INFO", "ASYNCTASQ_LOG_LEVEL", "Log level: DEBUG, INFO, WARNING, ERROR"
    )
    log_format: Literal["text", "json"] = _setting(
        "text", "ASYNCTASQ_LOG_FORMAT", "Log format: text or json"
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_range(f, getattr(self, f.name), f"Config.{f.name}")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        env_file: str | Path | None = ".env",
        **overrides: Any,
    ) -> Config:
        """Read every ``ASYNCTASQ_*`` variable (a ``.env`` file fills the gaps), then
        apply keyword ``overrides``; raises ``ConfigError`` on the first bad value."""
        values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            from dotenv import dotenv_values

            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = values.get(f.metadata["env"])
            if raw is not None:
                kwargs[f.name] = _parse(f, hints[f.name], raw)
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        kwargs.update(overrides)
        return cls(**kwargs)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret") and isinstance(value, str):
                value = redact_url(value) if "://" in value else "***"
            parts.append(f"{f.name}={value!r}")
        return f"Config({', '.join(parts)})"

    __str__ = __repr__


Settings = Config


def env_var(name: str) -> str:
    """The environment variable behind a setting, e.g. env_var('concurrency')."""
    for f in dataclasses.fields(Config):
        if f.name == name:
            return str(f.metadata["env"])
    raise KeyError(name)


def redact_url(url: str) -> str:
    """Hide the password of a URL or DSN, for logs, events and reprs."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


# a password inside any URL of a free text: scheme://user:password@host
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s/]+@")


def redact_secrets(text: str) -> str:
    """Hide URL passwords in free text: error messages, tracebacks, log lines."""
    return _URL_PASSWORD.sub(r"\1***@", text) if "://" in text else text


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse(f: dataclasses.Field[Any], hint: Any, raw: str) -> Any:
    env = f.metadata["env"]
    optional = False
    if get_origin(hint) in (types.UnionType, typing.Union):
        args = [a for a in get_args(hint) if a is not type(None)]
        optional, hint = len(args) < len(get_args(hint)), args[0]
    text = raw.strip()
    if optional and text == "":
        return None
    parsers: dict[Any, tuple[Callable[[str], Any], str]] = {
        int: (int, "an integer"),
        float: (float, "a number"),
        str: (str, "text"),
        bool: (_bool, "true or false (also 1/0, yes/no, on/off)"),
    }
    if get_origin(hint) is Literal:
        choices = [str(c) for c in get_args(hint)]
        matched = {c.lower(): c for c in choices}.get(text.lower())
        if matched is None:
            raise ConfigError(f"{env}={raw!r} is not valid: expected one of {', '.join(choices)}")
        return matched
    if get_origin(hint) is tuple:
        return tuple(item.strip() for item in text.split(",") if item.strip())
    parse, expected = parsers[hint]
    try:
        value = parse(text)
    except ValueError:
        accepts = expected + (" or empty" if optional else "")
        raise ConfigError(f"{env}={raw!r} is not valid: expected {accepts}") from None
    _check_range(f, value, env)
    return value


def _bool(text: str) -> bool:
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(text)


def _check_range(f: dataclasses.Field[Any], value: Any, where: str) -> None:
    minimum = f.metadata.get("minimum")
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if minimum is not None and is_number and value < minimum:
        raise ConfigError(f"{where}={value!r} is not valid: expected a number >= {minimum}")


_global: Config | None = None


def get_global_config() -> Config:
    """The process-wide settings, read from the environment on first use."""
    global _global
    if _global is None:
        _global = Config.from_env()
    return _global


def set_global_config(config: Config | None) -> None:
    """Replace the process-wide settings (None: read the environment again)."""
    global _global
    _global = config
