"""Settings -> driver. Driver modules are imported only when chosen, so their client
libraries stay optional extras."""

from __future__ import annotations

import importlib
from typing import Any

from asynctasq.config import Config, get_global_config
from asynctasq.drivers.base import Driver

__all__ = ["DriverFactory"]

# name -> (module, class, pip extra that provides its client library)
_DRIVERS: dict[str, tuple[str, str, str | None]] = {
    "memory": ("asynctasq.drivers.memory", "MemoryDriver", None),
    "sqlite": ("asynctasq.drivers.sqlite", "SQLiteDriver", None),
    "redis": ("asynctasq.drivers.redis", "RedisDriver", "redis"),
    "postgres": ("asynctasq.drivers.postgres", "PostgresDriver", "postgres"),
    "mysql": ("asynctasq.drivers.mysql", "MySQLDriver", "mysql"),
}


class DriverFactory:
    @staticmethod
    def driver_class(name: str) -> type[Driver]:
        try:
            module_name, class_name, extra = _DRIVERS[name]
        except KeyError:
            raise ValueError(
                f"unknown driver {name!r}: choose one of {', '.join(_DRIVERS)}"
            ) from None
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            hint = f'pip install "asynctasq[{extra}]"' if extra else "reinstall asynctasq"
            raise ImportError(f"the {name} driver needs {exc.name or 'a library'}: {hint}") from exc
        cls: type[Driver] = getattr(module, class_name)
        return cls

    @classmethod
    def create_from_config(cls, config: Config | None = None, **overrides: Any) -> Driver:
        """A driver (not yet connected) for ``config`` (default: the global settings)."""
        config = config or get_global_config()
        if overrides:
            config = config.replace(**overrides)
        driver_cls = cls.driver_class(config.driver)
        factory = getattr(driver_cls, "from_config", None)
        if factory is not None:
            driver: Driver = factory(config)
            return driver
        return driver_cls(keep_completed=config.keep_completed_tasks)  # type: ignore[call-arg]

    @classmethod
    def create(cls, name: str, **overrides: Any) -> Driver:
        """A driver by name, other settings from the environment."""
        return cls.create_from_config(get_global_config(), driver=name, **overrides)
