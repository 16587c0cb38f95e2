"""Redis backends for the driver tests, and the Redis servers tests start.

"redis" uses the local server (ASYNCTASQ_TEST_REDIS_URL, default 127.0.0.1:6379),
each test under its own key prefix, removed afterwards (never FLUSHALL). "redis-
cluster" uses a 3-master Redis Cluster started once per test session on free
loopback ports (``redis-server --cluster-enabled yes`` + ``redis-cli --cluster
create``), stopped at exit. ``RedisServer`` also serves tests that restart a server.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from asynctasq.config import Config
from asynctasq.drivers.base import Driver
from asynctasq.drivers.keys import RedisKeys
from asynctasq.drivers.redis import RedisDriver
from tests.backend_base import Backend
from tests.services import missing_service


def local_redis_url() -> str:
    return os.environ.get("ASYNCTASQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class RedisBackend(Backend):
    name = "redis"
    cluster = False

    @property
    def url(self) -> str:
        return local_redis_url()

    @property
    def prefix(self) -> str:
        return f"asynctasq-test:{self.namespace}"

    def make_driver(self, **options: Any) -> Driver:
        return RedisDriver(self.url, prefix=self.prefix, cluster=self.cluster, **options)

    def config(self, **overrides: Any) -> Config:
        return Config(
            driver="redis",
            redis_url=self.url,
            redis_prefix=self.prefix,
            redis_cluster=self.cluster,
            **overrides,
        )

    def env(self) -> dict[str, str]:
        return {
            "ASYNCTASQ_DRIVER": "redis",
            "ASYNCTASQ_REDIS_URL": self.url,
            "ASYNCTASQ_REDIS_PREFIX": self.prefix,
            "ASYNCTASQ_REDIS_CLUSTER": str(self.cluster).lower(),
        }

    async def setup(self) -> None:
        import redis.asyncio as redis

        client = redis.Redis.from_url(self.url)
        try:
            await client.ping()
        except Exception as exc:
            missing_service(
                f"no Redis at {self.url} ({exc}); or set ASYNCTASQ_TEST_REDIS_URL to one"
            )
        finally:
            await client.aclose()

    async def drop(self) -> None:
        await delete_prefix(self.url, self.prefix, cluster=self.cluster)


class RedisClusterBackend(RedisBackend):
    name = "redis-cluster"
    cluster = True

    @property
    def url(self) -> str:
        return shared_cluster().url

    async def setup(self) -> None:
        shared_cluster()  # started on first use (a few seconds), then reused


async def delete_prefix(url: str, prefix: str, *, cluster: bool) -> None:
    """UNLINK every key under ``prefix`` (on every master of a cluster)."""
    import redis.asyncio as redis

    client: Any = (redis.RedisCluster if cluster else redis.Redis).from_url(url)
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=RedisKeys(prefix).pattern, count=1000):
            batch.append(key)
            if len(batch) >= 500 or cluster:  # a cluster UNLINK takes keys of one slot
                await client.unlink(*batch)
                batch = []
        if batch:
            await client.unlink(*batch)
    finally:
        await client.aclose()


# -- servers started by the tests ---------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, even by SIGKILL."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port(*, with_bus: bool = False) -> int:
    """A free loopback port (and port + 10000 free too, for a cluster bus)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        if with_bus:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free loopback port")


def require_redis_server() -> str:
    found = shutil.which("redis-server")
    if found is None:
        missing_service("redis-server is not installed: install Redis 7 to run this test")
    return found


class RedisServer:
    """A redis-server process of a test, in its own directory."""

    def __init__(self, directory: Path, *args: str, port: int | None = None) -> None:
        self.binary = require_redis_server()
        self.directory = directory
        self.port = port or free_port(with_bus="--cluster-enabled" in args)
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--logfile", "redis.log",
            "--protected-mode", "no",
            *self.args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server on port {self.port} exited:\n{log}")
            if self.ping():
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not start in {timeout}s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))  # up (maybe locked)
        except OSError:
            return False

    def cli(self, *args: str) -> str:
        command = ["redis-cli", "-p", str(self.port), *args]
        return subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=30
        ).stdout

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class RedisCluster:
    """Three masters, no replicas, on free loopback ports."""

    def __init__(self, directory: Path, masters: int = 3) -> None:
        options = {
            "--cluster-enabled": "yes",
            "--cluster-config-file": "nodes.conf",
            "--cluster-node-timeout": "5000",
            "--appendonly": "no",
        }
        args = [part for pair in options.items() for part in pair]
        self.nodes = [RedisServer(directory / f"node{i}", *args) for i in range(masters)]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> None:
        if shutil.which("redis-cli") is None:
            missing_service("redis-cli is not installed: install Redis 7 to run the cluster tests")
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            subprocess.run(
                ["redis-cli", "--cluster", "create", *addresses,
                 "--cluster-replicas", "0", "--cluster-yes"],
                capture_output=True, check=True, timeout=60,
            )  # fmt: skip
            deadline = time.monotonic() + 30
            while not all("cluster_state:ok" in n.cli("cluster", "info") for n in self.nodes):
                if time.monotonic() > deadline:
                    raise RuntimeError("the test cluster did not reach cluster_state:ok")
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop(kill=True)


_cluster: RedisCluster | None = None


def shared_cluster() -> RedisCluster:
    """The session's cluster: started on first use, stopped when the tests exit."""
    global _cluster
    if _cluster is None:
        require_redis_server()
        directory = Path(tempfile.mkdtemp(prefix="asynctasq-redis-cluster-"))
        cluster = RedisCluster(directory)
        cluster.start()
        _cluster = cluster
        atexit.register(_stop_cluster, cluster, directory)
    return _cluster


def _stop_cluster(cluster: RedisCluster, directory: Path) -> None:
    cluster.stop()
    shutil.rmtree(directory, ignore_errors=True)


BACKENDS_EXTRA = {"redis": RedisBackend, "redis-cluster": RedisClusterBackend}
