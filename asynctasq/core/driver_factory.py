"""Settings -> driver: by name, by import path, or from a URL.

Which class a name or an import path means is driver_registry.py. Here the class
gets its settings. Precedence, strongest first:

1. ``options`` given in code (``create_from_config(config, options={...})``,
   ``from_url(url, **options)``);
2. ``ASYNCTASQ_DRIVER_OPTIONS``, a JSON object (``Config.driver_options``);
3. the driver's own ``ASYNCTASQ_*`` settings (``ASYNCTASQ_REDIS_PREFIX``...), which
   its ``from_config(config)`` reads;
4. the defaults of its constructor.

The options (1 and 2) are keyword arguments: they go to the driver's
``from_config(config, **options)`` classmethod when it has one, else to its
constructor. See docs/configuration.md, "Choosing the driver".
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from asynctasq.config import Config, ConfigError, get_global_config, redact_url
from asynctasq.core.driver_registry import find_driver, load_driver
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Results

__all__ = ["URL_SCHEMES", "DriverFactory"]

#: URL scheme -> (driver name, the Config field the URL sets); a scheme not listed
#: here is a driver's registered name (``nats://`` -> the driver named "nats")
URL_SCHEMES: dict[str, tuple[str, str | None]] = {
    "redis": ("redis", "redis_url"),
    "rediss": ("redis", "redis_url"),
    "unix": ("redis", "redis_url"),
    "postgresql": ("postgres", "postgres_dsn"),
    "postgres": ("postgres", "postgres_dsn"),
    "mysql": ("mysql", "mysql_dsn"),
    "sqlite": ("sqlite", "sqlite_path"),
    "memory": ("memory", None),
    "amqp": ("rabbitmq", "rabbitmq_url"),
    "amqps": ("rabbitmq", "rabbitmq_url"),
    "mongodb": ("mongodb", "mongodb_url"),
    "mongodb+srv": ("mongodb", "mongodb_url"),
}


class DriverFactory:
    @staticmethod
    def driver_class(setting: str) -> type[Driver]:
        """The class ``ASYNCTASQ_DRIVER=setting`` means (a name or module:Class),
        imported; ConfigError lists the names, DriverImportError says what to install."""
        return load_driver(find_driver(setting))

    @classmethod
    def create_from_config(
        cls,
        config: Config | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> Driver:
        """A driver (not yet connected) for ``config`` (default: the global settings,
        with ``overrides`` of its fields); ``options`` are keyword arguments for the
        driver, over ``config.driver_options``."""
        config = config or get_global_config()
        if overrides:
            config = config.replace(**overrides)
        driver_cls = cls.driver_class(config.driver)
        return _build(driver_cls, config, {**config.driver_options, **(options or {})})

    @classmethod
    def create(cls, name: str, **overrides: Any) -> Driver:
        """A driver by name, other settings from the environment."""
        return cls.create_from_config(get_global_config(), driver=name, **overrides)

    @classmethod
    def from_url(cls, url: str, *, config: Config | None = None, **options: Any) -> Driver:
        """A driver (not yet connected) for a broker URL: ``redis://``, ``rediss://``,
        ``postgresql://``, ``mysql://``, ``sqlite:///relative.db`` or
        ``sqlite:////absolute.db``, ``memory://``, ``amqp://``, ``mongodb://``; or
        ``<name>://`` for a driver registered as ``<name>`` (it gets the URL). Other
        settings come from ``config`` (default: the environment); ``options`` win over
        both."""
        scheme = urlsplit(url).scheme.lower()
        known = URL_SCHEMES.get(scheme)
        if known is None:
            return _from_registered_scheme(cls, scheme, url, options)
        name, setting = known
        base = config or get_global_config()
        changes: dict[str, Any] = {"driver": name}
        if base.driver != name:  # those options were meant for another driver
            changes["driver_options"] = {}
        if setting is not None:
            if setting not in {f.name for f in dataclasses.fields(Config)}:
                raise ConfigError(
                    f"{scheme}:// URLs are for the {name} driver, which this installation "
                    f'lacks: pip install --upgrade "asynctasq[{name}]"'
                )
            changes[setting] = _sqlite_path(url) if scheme == "sqlite" else url
        return cls.create_from_config(base.replace(**changes), options=options)


def _build(driver_cls: type[Driver], config: Config, options: dict[str, Any]) -> Driver:
    driver = _construct(driver_cls, config, options)
    if isinstance(driver, Results):  # how long results are kept: a setting, not an option
        driver.result_retention = config.result_retention
    return driver


def _construct(driver_cls: type[Driver], config: Config, options: dict[str, Any]) -> Driver:
    factory: Callable[..., Driver] | None = getattr(driver_cls, "from_config", None)
    if factory is not None:
        return _call(driver_cls, "from_config()", factory, (config,), options)
    if "keep_completed" in inspect.signature(driver_cls).parameters:
        options = {"keep_completed": config.keep_completed_tasks, **options}
    return _call(driver_cls, "constructor", driver_cls, (), options)


def _call(
    driver_cls: type[Driver],
    how: str,
    build: Callable[..., Driver],
    args: tuple[Any, ...],
    options: dict[str, Any],
) -> Driver:
    if options:
        try:
            inspect.signature(build).bind(*args, **options)
        except TypeError as exc:  # (names only: option values may be secrets)
            label = driver_cls.name if driver_cls.name != Driver.name else driver_cls.__name__
            raise ConfigError(
                f"driver options (ASYNCTASQ_DRIVER_OPTIONS, options=): the {label} driver's "
                f"{how} does not take {', '.join(sorted(options))} ({exc}); see the "
                "settings its documentation lists"
            ) from None
    return build(*args, **options)


def _from_registered_scheme(
    factory: type[DriverFactory], scheme: str, url: str, options: dict[str, Any]
) -> Driver:
    try:
        driver_cls = factory.driver_class(scheme) if scheme else None
    except ConfigError:
        driver_cls = None
    if driver_cls is None:
        schemes = ", ".join(f"{s}://" for s in URL_SCHEMES)
        raise ConfigError(
            f"no driver for the URL {redact_url(url)!r}: known schemes are {schemes}, "
            "or the name of an installed driver (see docs/configuration.md)"
        )
    from_url: Callable[..., Driver] | None = getattr(driver_cls, "from_url", None)
    if from_url is not None:
        return _call(driver_cls, "from_url()", from_url, (url,), options)
    return _call(driver_cls, "constructor", driver_cls, (url,), options)


def _sqlite_path(url: str) -> str:
    """SQLAlchemy's convention: sqlite:///relative/path, sqlite:////absolute/path."""
    prefix = "sqlite:///"
    path = url[len(prefix) :] if url.lower().startswith(prefix) else ""
    if not path:
        raise ConfigError(
            f"{url!r} names no file: use sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    return path
