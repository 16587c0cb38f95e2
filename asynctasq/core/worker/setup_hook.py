"""``--setup mypkg.app:setup`` (``ASYNCTASQ_SETUP``): the app's async set-up around
a CLI worker, on the worker's event loop (Tortoise's ``Tortoise.init``, a client
pool), and its shut-down after the worker stopped.

The named object is one of:

- an async generator function: the code before its ``yield`` runs at start-up, the
  code after it at shut-down (the shape of an ASGI lifespan)::

      async def setup():
          await Tortoise.init(config=TORTOISE_ORM)
          yield
          await Tortoise.close_connections()

- a function returning an async context manager (``@asynccontextmanager``);
- a coroutine function: start-up only.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import AsyncIterator
from typing import Any

from asynctasq.config import ConfigError

__all__ = ["setup_hook"]

_SETTING = "ASYNCTASQ_SETUP (--setup)"


@contextlib.asynccontextmanager
async def setup_hook(spec: str | None) -> AsyncIterator[None]:
    """Run the hook ``spec`` names around the body (nothing for None)."""
    if not spec:
        yield
        return
    hook = _load(spec)
    if inspect.isasyncgenfunction(hook):
        async with contextlib.asynccontextmanager(hook)():
            yield
        return
    made = hook()
    if inspect.isawaitable(made):
        await made
        yield
        return
    if not isinstance(made, contextlib.AbstractAsyncContextManager):
        raise ConfigError(
            f"{_SETTING}: {spec}() gave {type(made).__name__}: name an async generator "
            "function, a function returning an async context manager, or a coroutine function"
        )
    async with made:
        yield


def _load(spec: str) -> Any:
    module_name, colon, attribute = spec.strip().partition(":")
    if not colon or not module_name or not attribute:
        raise ConfigError(f"{_SETTING}: {spec!r} is not module:attribute (for example myapp:setup)")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except ImportError as exc:
        raise ConfigError(f"{_SETTING}: cannot import {module_name!r}: {exc}") from exc
    except AttributeError:
        raise ConfigError(f"{_SETTING}: {module_name} has no {attribute!r}") from None
    if not callable(found):
        raise ConfigError(f"{_SETTING}: {spec} is not callable")
    return found
