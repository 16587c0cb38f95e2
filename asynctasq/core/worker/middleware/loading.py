"""Middleware named in the settings: ``ASYNCTASQ_MIDDLEWARE=pkg.mod:Factory,...``
(``--middleware`` on the command line). Each names a Middleware subclass or a
factory, called with no arguments, or a Middleware instance. The names come from
the worker's own configuration (trusted), never from a job."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from asynctasq.config import ConfigError
from asynctasq.core.worker.middleware.base import Middleware

__all__ = ["load_middleware"]

_SETTING = "ASYNCTASQ_MIDDLEWARE (--middleware)"


def load_middleware(specs: Iterable[str]) -> list[Middleware]:
    return [_load(spec.strip()) for spec in specs if spec.strip()]


def _load(spec: str) -> Middleware:
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ConfigError(
            f"{_SETTING}: {spec!r} is not module:attribute (for example myapp.jobs:Audit)"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{_SETTING}: cannot import {module_name!r} for {spec!r}: {exc}") from exc
    try:
        found = getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"{_SETTING}: {module_name} has no {attribute!r}") from None
    made = found if isinstance(found, Middleware) else _call(found, spec)
    if not isinstance(made, Middleware):
        raise ConfigError(
            f"{_SETTING}: {spec} gave {type(made).__name__}, not a middleware: subclass "
            "asynctasq.core.worker.Middleware"
        )
    return made


def _call(factory: object, spec: str) -> object:
    if not callable(factory):
        raise ConfigError(f"{_SETTING}: {spec} is neither a middleware nor a factory of one")
    try:
        return factory()
    except Exception as exc:
        raise ConfigError(
            f"{_SETTING}: {spec}() raised {type(exc).__name__}: {exc} (a factory named "
            "here is called with no arguments)"
        ) from exc
