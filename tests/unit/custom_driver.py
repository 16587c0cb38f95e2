"""Drivers a user could write, for the driver-selection tests: selected by import
path (``tests.unit.custom_driver:TinyDriver``) or registered by a throwaway
distribution (test_driver_factory.py). They are the in-memory broker under other
names, so a test can also run a job through them."""

from __future__ import annotations

from typing import Any, ClassVar

from asynctasq.config import Config
from asynctasq.drivers.memory import MemoryBroker, MemoryDriver


class TinyDriver(MemoryDriver):
    """Built by ``from_config(config, **options)``."""

    name = "tiny"

    def __init__(self, *, greeting: str = "hello", url: str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.greeting = greeting
        self.url = url
        self.config: Config | None = None

    @classmethod
    def from_config(cls, config: Config, *, greeting: str = "hello") -> TinyDriver:
        driver = cls(greeting=greeting, keep_completed=config.keep_completed_tasks)
        driver.config = config
        return driver

    @classmethod
    def from_url(cls, url: str, **options: Any) -> TinyDriver:
        return cls(url=url, **options)


class PlainDriver(MemoryDriver):
    """No from_config: the factory calls the constructor with the options."""

    name = "plain"
    from_config = None  # (MemoryDriver may grow one: this driver is built without it)

    def __init__(self, url: str | None = None, *, label: str = "", keep_completed: bool = False):
        super().__init__(keep_completed=keep_completed)
        self.url = url
        self.label = label


class NotADriver:
    """An import path may name anything: the factory checks it is a Driver."""


class UrlDriver(MemoryDriver):
    """A driver whose URL names its namespace: every instance with the same URL shares
    one broker, as connections to one server do. docs/drivers/custom.md runs the
    conformance suite on it (test_custom_driver_docs.py stands it in for ``MyDriver``)."""

    name = "urlbroker"
    _servers: ClassVar[dict[str, MemoryBroker]] = {}

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(broker=self._servers.setdefault(url, MemoryBroker()), **options)
        self.url = url

    @classmethod
    async def delete_namespace(cls, url: str) -> None:
        cls._servers.pop(url, None)
