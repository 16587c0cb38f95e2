"""The servers the tests need, and what happens when one is missing: the test run
fails, saying which server and how to start it. CI never skips a broker.

A developer may leave a server out, locally, by asking for it: ``--backends
memory,sqlite`` (or ``ASYNCTASQ_TEST_BACKENDS``) runs only those brokers' tests, and
``--allow-missing-brokers`` deselects the tests of brokers that do not answer
(named in the summary). CI passes neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from tests.backend_base import Backend

__all__ = ["ALLOW_MISSING", "SERVICES", "START", "missing_service", "unreachable"]

START = "bash scripts/ensure-services.sh (or: make services)"

#: backend name -> the server it needs, as a person would look for it
SERVICES = {
    "redis": "Redis",
    "redis-cluster": "the Redis Cluster the tests start (redis-server and redis-cli)",
    "postgres": "PostgreSQL",
    "mysql": "MariaDB (or MySQL)",
    "rabbitmq": "RabbitMQ",
    "mongodb": "MongoDB (the tests run SecantusDB, a wire-compatible server)",
}

#: set by conftest from --allow-missing-brokers
ALLOW_MISSING = False

#: longest a reachability check may take (a cluster the tests start included)
PROBE_SECONDS = 90.0


def missing_service(message: str) -> NoReturn:
    """A test cannot reach a server it needs: fail (skip only when the developer
    passed --allow-missing-brokers)."""
    if ALLOW_MISSING:
        pytest.skip(f"{message} (--allow-missing-brokers)")
    pytest.fail(f"{message}. Start it: {START}", pytrace=False)


def unreachable(backends: dict[str, Callable[[Path], Backend]]) -> dict[str, str]:
    """Why each of ``backends`` cannot be used, for those that cannot: each opens its
    namespace and connects a driver, as a test would, then cleans up."""
    return asyncio.run(_probe_all(backends))


async def _probe_all(backends: dict[str, Callable[[Path], Backend]]) -> dict[str, str]:
    reasons = {}
    for name, make in backends.items():
        reason = await _probe(make)
        if reason is not None:
            reasons[name] = reason
    return reasons


async def _probe(make: Callable[[Path], Backend]) -> str | None:
    directory = Path(tempfile.mkdtemp(prefix="asynctasq-probe-"))
    backend = make(directory)
    try:
        await asyncio.wait_for(_connect(backend), PROBE_SECONDS)
    except (pytest.fail.Exception, pytest.skip.Exception) as exc:
        return str(exc.msg).split(". Start it:")[0].removesuffix(" (--allow-missing-brokers)")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(backend.teardown(), 30)
        shutil.rmtree(directory, ignore_errors=True)
    return None


async def _connect(backend: Backend) -> None:
    await backend.setup()
    await backend.new_driver()
