"""Build the redis-py asyncio client from settings: standalone or Cluster, TLS by
``rediss://``, credentials in the URL or given apart, retries with backoff."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import redis
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import EqualJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from asynctasq.config import redact_url

__all__ = ["Client", "build_client", "check_url"]

Client = Redis | RedisCluster

#: seconds a command may take before the connection is considered dead; long
#: enough for the slowest script (bounded work) and the BLPOP of an idle worker
SOCKET_TIMEOUT = 10.0
#: a command that meets a dropped connection is retried on a new one, after 20,
#: 40 and 80 ms (each cut by up to half at random); then the caller sees the error,
#: and the worker logs it and backs off
RETRIES = 3
#: seconds a caller waits for a free pooled connection before giving up
POOL_TIMEOUT = 20.0

_SCHEMES = ("redis", "rediss", "unix")


def _driver_info() -> dict[str, Any]:
    """What the connections report by CLIENT SETINFO, as redis-py would: its version
    given from ``redis.__version__``, which redis-py 7+ otherwise reads from the
    package's metadata at the first connection (13 M instructions of a worker's
    start-up, docs/benchmarks.md). redis-py 5 and 6 read it at import: nothing to give."""
    try:
        from redis.driver_info import DriverInfo
    except ImportError:
        return {}
    return {"driver_info": DriverInfo(lib_version=redis.__version__)}


def check_url(url: str, *, cluster: bool) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in _SCHEMES:
        raise ValueError(
            f"ASYNCTASQ_REDIS_URL={redact_url(url)!r} is not a Redis URL: use "
            "redis://[user:password@]host:port/db, rediss:// for TLS, or unix:///path.sock"
        )
    if cluster and parsed.scheme == "unix":
        raise ValueError("Redis Cluster is reached over TCP: use a redis:// or rediss:// URL")
    if cluster and parsed.path.strip("/") not in ("", "0"):
        raise ValueError(
            f"ASYNCTASQ_REDIS_URL={redact_url(url)!r}: Redis Cluster has only database 0; "
            "drop the /db part of the URL"
        )


def build_client(
    url: str,
    *,
    password: str | None = None,
    max_connections: int = 50,
    cluster: bool = False,
) -> Client:
    """A client (not connected yet: redis-py connects on first use)."""
    check_url(url, cluster=cluster)
    options: dict[str, Any] = {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": SOCKET_TIMEOUT,
        "retry": Retry(EqualJitterBackoff(cap=0.5, base=0.01), RETRIES),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError, OSError],
        "client_name": "asynctasq",
        **_driver_info(),
    }
    if password is not None and not urlparse(url).password:
        options["password"] = password
    if cluster:
        return RedisCluster.from_url(url, max_connections=max_connections, **options)
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=POOL_TIMEOUT, **options
    )
    return Redis(connection_pool=pool)
