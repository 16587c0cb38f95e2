"""Settings: one frozen dataclass, read from ``ASYNCTASQ_*`` variables and ``.env``.

Every field names its environment variable. ``Config.from_env()`` validates them
all at start-up: a bad value raises ``ConfigError`` naming the variable and what it
accepts. Code can build a ``Config`` directly, or override fields:
``Config.from_env(driver="redis")``.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from asynctasq.checks import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_SIZE,
    INT32_MAX,
    MAX_DEPTH_CEILING,
    MAX_SECONDS,
    MAX_SIZE_CEILING,
)
from asynctasq.config_values import (
    ConfigError,
    DriverOptions,
    check_range,
    driver_options_setting,
    driver_setting,
    parse_setting,
)
from asynctasq.redaction import REDACTED, redact

__all__ = [
    "SETTINGS_MODULE_ENV",
    "Config",
    "ConfigError",
    "DriverOptions",
    "Settings",
    "env_var",
    "get_global_config",
    "redact_secrets",
    "redact_url",
    "set_global_config",
]


def _setting(default: Any, env: str, help: str, *, secret: bool = False, **extra: Any) -> Any:
    meta = {"env": env, "help": help, "secret": secret, **extra}
    return field(default=default, metadata=meta)


def _seconds(default: Any, env: str, help: str, *, minimum: float) -> Any:
    """A duration: finite, from ``minimum`` to 100 years (see asynctasq.checks)."""
    return _setting(default, env, help, minimum=minimum, maximum=MAX_SECONDS)


@dataclass(frozen=True)
class Config:
    """Every setting of asynctasq: its broker, queues, worker and defaults of tasks."""

    # -- broker ------------------------------------------------------------------
    driver: str = _setting(
        "sqlite",
        "ASYNCTASQ_DRIVER",
        "Broker: sqlite (embedded default), memory, redis, postgres, mysql, rabbitmq, mongodb, "
        "a name "
        "another installed package registers, or the import path of a driver class "
        "(module:Class); see docs/configuration.md",
        check=driver_setting,
    )
    driver_options: DriverOptions = _setting(
        DriverOptions(),
        "ASYNCTASQ_DRIVER_OPTIONS",
        "JSON object of keyword arguments for the driver's from_config() (else its "
        "constructor); they win over the other settings",
        secret=True,
        check=driver_options_setting,
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
    redis_dead_letter_ttl: float = _seconds(
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
    mysql_poll_interval: float = _seconds(
        0.05,
        "ASYNCTASQ_MYSQL_POLL_INTERVAL",
        "Longest pause of an idle MySQL worker between two looks for new jobs (seconds)",
        minimum=0.001,
    )
    rabbitmq_url: str = _setting(
        "amqp://guest:guest@localhost:5672/",
        "ASYNCTASQ_RABBITMQ_URL",
        "RabbitMQ URL: amqp:// or amqps:// (TLS), user:password@host:port/vhost",
        secret=True,
    )
    rabbitmq_prefix: str = _setting(
        "asynctasq", "ASYNCTASQ_RABBITMQ_PREFIX", "Prefix of every RabbitMQ queue and exchange"
    )
    mongodb_url: str = _setting(
        "mongodb://localhost:27017/",
        "ASYNCTASQ_MONGODB_URL",
        "MongoDB URL: mongodb:// or mongodb+srv://, user:password@hosts/database?options",
        secret=True,
    )
    mongodb_database: str | None = _setting(
        None,
        "ASYNCTASQ_MONGODB_DATABASE",
        "MongoDB database of the queue (empty: the URL's, else asynctasq)",
    )
    mongodb_prefix: str = _setting(
        "asynctasq", "ASYNCTASQ_MONGODB_PREFIX", "Prefix of the MongoDB collections"
    )
    mongodb_write_concern: str = _setting(
        "majority",
        "ASYNCTASQ_MONGODB_WRITE_CONCERN",
        "w of every MongoDB write: majority, or a number of members (1 may lose "
        "acknowledged jobs in a failover)",
    )
    mongodb_poll_interval: float = _seconds(
        0.5,
        "ASYNCTASQ_MONGODB_POLL_INTERVAL",
        "Longest pause of an idle MongoDB worker between two looks for new jobs when "
        "change streams are unavailable (seconds)",
        minimum=0.001,
    )
    keep_completed_tasks: bool = _setting(
        False,
        "ASYNCTASQ_KEEP_COMPLETED_TASKS",
        "Keep completed jobs and results instead of deleting them",
    )
    completed_ttl: float = _seconds(
        86400.0,
        "ASYNCTASQ_COMPLETED_TTL",
        "Seconds a kept completed job lives (Redis expires it; SQL: purge)",
        minimum=1,
    )
    result_retention: float = _seconds(
        86400.0,
        "ASYNCTASQ_RESULT_RETENTION",
        "Seconds a job's result (and a completed job's id, for children dispatched "
        "later) is kept, even when completed jobs are not (docs/workflows.md)",
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
        maximum=INT32_MAX - 1,
    )
    default_retry_delay: float = _seconds(
        60.0,
        "ASYNCTASQ_DEFAULT_RETRY_DELAY",
        "Seconds before the first retry (then doubled each attempt, with jitter, capped)",
        minimum=0,
    )
    default_retry_backoff: Literal["exponential", "fixed"] = _setting(
        "exponential",
        "ASYNCTASQ_DEFAULT_RETRY_BACKOFF",
        "Backoff between retries: exponential or fixed",
    )
    default_retry_max_delay: float = _seconds(
        3600.0, "ASYNCTASQ_DEFAULT_RETRY_MAX_DELAY", "Cap on one retry delay, in seconds", minimum=0
    )
    default_timeout: float | None = _seconds(
        None, "ASYNCTASQ_DEFAULT_TIMEOUT", "Seconds a job may run (empty: no limit)", minimum=0.001
    )
    default_priority: int = _setting(
        0,
        "ASYNCTASQ_DEFAULT_PRIORITY",
        "Priority of tasks (lower runs first)",
        minimum=-INT32_MAX,
        maximum=INT32_MAX,
    )
    # -- payloads --------------------------------------------------------------------
    max_payload_depth: int = _setting(
        DEFAULT_MAX_DEPTH,
        "ASYNCTASQ_MAX_PAYLOAD_DEPTH",
        "Deepest nesting of a task argument or result (each list, dict, tuple, set or "
        "hooked value is a level): deeper is refused at dispatch and dead-lettered by "
        f"workers. Same value on producers and workers; at most {MAX_DEPTH_CEILING}",
        minimum=1,
        maximum=MAX_DEPTH_CEILING,
    )
    max_payload_size: int = _setting(
        DEFAULT_MAX_SIZE,
        "ASYNCTASQ_MAX_PAYLOAD_SIZE",
        "Largest encoded payload in bytes (16 MiB): larger is refused at dispatch and "
        "dead-lettered by workers",
        minimum=1024,
        maximum=MAX_SIZE_CEILING,
    )
    # -- worker ----------------------------------------------------------------------
    queues: tuple[str, ...] = _setting(
        ("default",), "ASYNCTASQ_QUEUES", "Queues a worker serves, comma-separated"
    )
    concurrency: int = _setting(
        10, "ASYNCTASQ_CONCURRENCY", "Jobs a worker runs at once", minimum=1
    )
    prefetch: int | None = _setting(
        None,
        "ASYNCTASQ_PREFETCH",
        "Jobs a worker claims ahead of free slots (empty: adapts, from none for long jobs "
        "to 10 x concurrency for very short ones; 0: none)",
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
    unknown_task_grace: float = _seconds(
        300.0,
        "ASYNCTASQ_UNKNOWN_TASK_GRACE",
        "Seconds from dispatch a job of a task the worker does not know keeps going back "
        "to the queue (a deploy with a missing --import loses nothing) before it is "
        "dead-lettered; 0: at once",
        minimum=0,
    )
    setup: str | None = _setting(
        None,
        "ASYNCTASQ_SETUP",
        "module:function of the app's async set-up a CLI worker runs first (and its "
        "shut-down after): an async generator function, before and after its yield",
    )
    middleware: tuple[str, ...] = _setting(
        (),
        "ASYNCTASQ_MIDDLEWARE",
        "module:Factory of each middleware a worker adds around its jobs, comma-separated "
        "(see docs/middleware.md)",
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
    lease_seconds: float = _seconds(
        60.0,
        "ASYNCTASQ_LEASE_SECONDS",
        "How long a reserved job stays claimed without renewal (crash recovery delay)",
        minimum=0.1,
    )
    heartbeat_interval: float = _seconds(
        10.0, "ASYNCTASQ_HEARTBEAT_INTERVAL", "Seconds between worker heartbeats", minimum=0.05
    )
    shutdown_timeout: float = _seconds(
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
        "Start the process pool with the worker (once its first claim answered) when its "
        "task modules define process tasks",
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
    # -- dashboard ----------------------------------------------------------------------
    dashboard_token: str | None = _setting(
        None,
        "ASYNCTASQ_DASHBOARD_TOKEN",
        "Token the dashboard asks for (Bearer header, or the password of basic auth)",
        secret=True,
    )
    metrics_port: int | None = _setting(
        None,
        "ASYNCTASQ_METRICS_PORT",
        "Serve Prometheus metrics on this port from each worker (empty: off)",
        minimum=0,
        maximum=65535,
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _setting(
        "INFO", "ASYNCTASQ_LOG_LEVEL", "Log level: DEBUG, INFO, WARNING, ERROR"
    )
    log_format: Literal["text", "json"] = _setting(
        "text", "ASYNCTASQ_LOG_FORMAT", "Log format: text or json"
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check_range(f, getattr(self, f.name), f"Config.{f.name}")
            check = f.metadata.get("check")
            if check is not None:
                object.__setattr__(self, f.name, check(getattr(self, f.name), f"Config.{f.name}"))

    def __init_subclass__(cls, **kw: Any) -> None:
        """A settings class (``class Settings(asynctasq.Settings): driver = "redis"``):
        its attributes become the defaults of its instances, so ``Settings()`` and
        ``Settings.from_env()`` hold them (below the environment and code)."""
        super().__init_subclass__(**kw)
        own = class_settings(cls)
        if not own:
            return
        init = cls.__init__

        def __init__(self: Config, **values: Any) -> None:
            init(self, **{**own, **values})

        cls.__init__ = __init__  # type: ignore[method-assign,assignment]

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        env_file: str | Path | None = ".env",
        **overrides: Any,
    ) -> Config:
        """Read every ``ASYNCTASQ_*`` variable (a ``.env`` file fills the gaps) over
        the settings class ``ASYNCTASQ_SETTINGS_MODULE`` names, then apply keyword
        ``overrides``: code > environment > settings class > defaults. Raises
        ``ConfigError`` on the first bad value."""
        values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            from dotenv import dotenv_values

            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        hints = typing.get_type_hints(cls)
        kwargs = settings_module_values(values.get(SETTINGS_MODULE_ENV))
        for f in dataclasses.fields(cls):
            raw = values.get(f.metadata["env"])
            if raw is not None:
                kwargs[f.name] = parse_setting(f, hints[f.name], raw)
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
                value = redact(value) if "://" in value or "=" in value else REDACTED
            parts.append(f"{f.name}={value!r}")
        return f"Config({', '.join(parts)})"

    __str__ = __repr__


#: the base of a settings class (``ASYNCTASQ_SETTINGS_MODULE``): its attributes are
#: settings, under the field names of ``Config``
Settings = Config

#: names the settings class: ``myapp.settings.Settings`` (or ``myapp.settings:Settings``)
SETTINGS_MODULE_ENV = "ASYNCTASQ_SETTINGS_MODULE"


def settings_module_values(path: str | None) -> dict[str, Any]:
    """The settings a ``Settings`` subclass sets, by field name ({} for no path)."""
    if not path or not path.strip():
        return {}
    path = path.strip()
    module_name, _, attribute = path.replace(":", ".").rpartition(".")
    try:
        settings = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(
            f"{SETTINGS_MODULE_ENV}={path!r}: cannot load it ({type(exc).__name__}: {exc}); "
            "write module.path.ClassName, importable from where the process runs"
        ) from None
    if not (isinstance(settings, type) and issubclass(settings, Config)):
        raise ConfigError(
            f"{SETTINGS_MODULE_ENV}={path!r} is not a subclass of asynctasq.Settings: "
            'write `class Settings(asynctasq.Settings): driver = "redis"`'
        )
    return class_settings(settings)


def class_settings(settings: type[Config]) -> dict[str, Any]:
    """The settings a subclass of ``Config`` sets as class attributes (its parents'
    too, nearer ones winning), by field name."""
    names = {f.name for f in dataclasses.fields(Config)}
    values: dict[str, Any] = {}
    for klass in reversed(settings.__mro__[: settings.__mro__.index(Config)]):
        values.update({k: v for k, v in vars(klass).items() if k in names})
    return values


def env_var(name: str) -> str:
    """The environment variable behind a setting, e.g. env_var('concurrency')."""
    for f in dataclasses.fields(Config):
        if f.name == name:
            return str(f.metadata["env"])
    raise KeyError(name)


#: the redaction function under its former names (asynctasq.redaction.redact)
redact_url = redact_secrets = redact


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
