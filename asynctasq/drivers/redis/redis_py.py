"""Import redis-py without what it loads at import and does not use there.

- The OpenTelemetry SDK: redis-py 8 (``redis/observability/providers.py``) runs ``from
  opentelemetry.sdk.metrics import MeterProvider`` when it is imported, whenever the
  SDK is installed, and uses the name only in annotations: that one line loads the
  SDK's metrics, resources and psutil, a sixth of a Redis worker's start-up
  (docs/benchmarks.md, "Start-up"). redis-py's observability imports the SDK itself
  where it uses it (``OTelConfig``, ``get_meter_provider``), so hiding it for the
  length of the import changes nothing that redis-py does; an application that
  imports the SDK, before or after, gets it as usual (a thread that imports it during
  those few milliseconds would get an ImportError: a worker imports its driver before
  it starts threads).
- ``importlib.metadata`` (with ``email``, ``zipfile``, ``csv`` and ``tempfile``, about
  5% of a Redis worker's start-up): ``redis/utils.py`` imports it at import and reads
  it in one function only, for its own version (``get_lib_version``), which the
  driver's connections are given instead (``redis.__version__``). For the length of
  the import redis-py gets a stand-in that imports the real module when a name of it
  is first read, so nothing changes for a program that does ask.

tests/unit/test_import_perf.py checks that the installed redis-py still uses the SDK's
name only in annotations and ``importlib.metadata`` only inside functions.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

#: the SDK module that redis-py imports for an annotation only
UNUSED_AT_IMPORT = "opentelemetry.sdk.metrics"

#: the standard module redis-py imports at import and reads only inside functions
READ_LATER = "importlib.metadata"


class OnFirstUse(types.ModuleType):
    """Stands in for a module until one of its names is read, then imports it."""

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get(self.__name__) is self:  # read during the import itself
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


def import_redis_py() -> None:
    """Import ``redis.asyncio`` (and so ``redis``) with ``UNUSED_AT_IMPORT`` hidden and
    ``READ_LATER`` standing in, unless redis-py is already imported (then there is
    nothing to save); each only if not already imported either."""
    if "redis" in sys.modules:
        return
    hidden = UNUSED_AT_IMPORT not in sys.modules
    if hidden:
        sys.modules[UNUSED_AT_IMPORT] = None  # type: ignore[assignment]  # import raises ImportError
    stand_in = None if READ_LATER in sys.modules else OnFirstUse(READ_LATER)
    if stand_in is not None:
        sys.modules[READ_LATER] = stand_in
    try:
        import redis.asyncio  # noqa: F401
    finally:
        if hidden and sys.modules.get(UNUSED_AT_IMPORT, ...) is None:  # not imported meanwhile
            del sys.modules[UNUSED_AT_IMPORT]
        if stand_in is not None and sys.modules.get(READ_LATER) is stand_in:
            del sys.modules[READ_LATER]  # the next import of it is the real one
