"""Import redis-py without the OpenTelemetry SDK it does not use at import.

redis-py 8 (``redis/observability/providers.py``) runs ``from
opentelemetry.sdk.metrics import MeterProvider`` when it is imported, whenever the
SDK is installed, and uses the name only in annotations: that one line loads the
SDK's metrics, resources and psutil, a sixth of a Redis worker's start-up
(docs/benchmarks.md, "Start-up"). redis-py's observability imports the SDK itself
where it uses it (``OTelConfig``, ``get_meter_provider``), so hiding it for the
length of the import changes nothing that redis-py does; an application that
imports the SDK, before or after, gets it as usual (a thread that imports it during
those few milliseconds would get an ImportError: a worker imports its driver before it
starts threads). tests/unit/test_import_perf.py checks that the installed redis-py
still uses the name only in annotations.
"""

from __future__ import annotations

import sys

#: the SDK module that redis-py imports for an annotation only
UNUSED_AT_IMPORT = "opentelemetry.sdk.metrics"


def import_redis_py() -> None:
    """Import ``redis.asyncio`` (and so ``redis``) with ``UNUSED_AT_IMPORT`` hidden,
    unless either is already imported (then there is nothing to save)."""
    if "redis" in sys.modules or UNUSED_AT_IMPORT in sys.modules:
        return
    sys.modules[UNUSED_AT_IMPORT] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        import redis.asyncio  # noqa: F401
    finally:
        if sys.modules.get(UNUSED_AT_IMPORT, ...) is None:  # not imported meanwhile
            del sys.modules[UNUSED_AT_IMPORT]
