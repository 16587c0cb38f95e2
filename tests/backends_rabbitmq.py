"""The "rabbitmq" backend: the local server (ASYNCTASQ_TEST_RABBITMQ_URL, default
guest@127.0.0.1:5672), each test under its own queue-name prefix.

The management plugin (which could give each test a vhost) is not assumed, so a test
deletes afterwards what its prefix holds: the queues of every queue name its drivers
declared, the delay levels and the deliver exchange. Anything a worker subprocess
declared beyond that is swept once at the end of the session (``rabbitmqctl
list_queues``, when it is installed).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import shutil
import subprocess
from typing import Any

import pytest

from asynctasq.config import Config
from asynctasq.drivers.base import Driver
from asynctasq.drivers.rabbitmq import RabbitMQDriver
from asynctasq.drivers.rabbitmq.topology import Topology, delete_topology
from asynctasq.redaction import redact
from tests.backend_base import Backend

URL = os.environ.get("ASYNCTASQ_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
#: every prefix of this session starts so: its end-of-session sweep touches nothing else
TEST_PREFIX = f"asynctasq-test.{secrets.token_hex(3)}"


class RabbitMQBackend(Backend):
    name = "rabbitmq"
    url = URL
    # declaring and deleting a prefix's topology (delay levels, bands) takes about a
    # second: the lifecycle model's examples share one prefix, each with its own queues
    fresh_per_example = False

    @property
    def prefix(self) -> str:
        return f"{TEST_PREFIX}.{self.namespace}"

    def make_driver(self, **options: Any) -> Driver:
        return RabbitMQDriver(self.url, prefix=self.prefix, **options)

    def config(self, **overrides: Any) -> Config:
        return Config(
            driver="rabbitmq", rabbitmq_url=self.url, rabbitmq_prefix=self.prefix, **overrides
        )

    def env(self) -> dict[str, str]:
        return {
            "ASYNCTASQ_DRIVER": "rabbitmq",
            "ASYNCTASQ_RABBITMQ_URL": self.url,
            "ASYNCTASQ_RABBITMQ_PREFIX": self.prefix,
        }

    async def setup(self) -> None:
        import aiormq

        try:
            connection = await asyncio.wait_for(aiormq.connect(self.url), 10)
        except Exception as exc:
            pytest.fail(
                f"RabbitMQ not reachable at {redact(self.url)} ({exc}): start it "
                "(`rabbitmq-server -detached`) or set ASYNCTASQ_TEST_RABBITMQ_URL"
            )
        await connection.close()
        _sweep_at_exit()

    async def teardown(self) -> None:
        queues: set[str] = {"default"}
        for driver in self.drivers:
            if isinstance(driver, RabbitMQDriver):
                queues |= driver._topology.queues  # what it declared
        await super().teardown()
        await delete_namespace(self.url, self.prefix, queues)

    # -- looking at the broker directly (tests of this driver) ---------------------------

    async def dead_letters(self, queue: str = "default") -> list[tuple[bytes, dict[str, Any]]]:
        """Take every message of a queue's dead letters: (body, headers)."""
        return await take_all(self.url, Topology(self.prefix).failed_queue(queue))

    async def publish_raw(self, band_queue: str, body: bytes) -> None:
        """Put a message straight into a queue, as a foreign publisher would."""
        import aiormq

        connection = await aiormq.connect(self.url)
        try:
            channel = await connection.channel()
            await channel.confirm_delivery()
            await channel.basic_publish(body, routing_key=band_queue)
        finally:
            await connection.close()


async def take_all(url: str, queue: str) -> list[tuple[bytes, dict[str, Any]]]:
    import aiormq

    connection = await aiormq.connect(url)
    taken = []
    try:
        channel = await connection.channel()
        while True:
            message = await channel.basic_get(queue, no_ack=True)
            if message.delivery_tag is None:
                return taken
            taken.append((message.body, dict(message.header.properties.headers or {})))
    finally:
        await connection.close()


async def delete_namespace(url: str, prefix: str, queues: set[str]) -> None:
    """Delete the queues and exchanges of ``prefix`` for these queue names."""
    import aiormq

    connection = await aiormq.connect(url)
    try:
        await delete_topology(await connection.channel(), prefix, sorted(queues))
    finally:
        await connection.close()


_swept = False


def _sweep_at_exit() -> None:
    global _swept
    if not _swept:
        _swept = True
        atexit.register(sweep_test_queues)


def sweep_test_queues() -> None:
    """Delete what is left under this session's prefix (by a worker subprocess)."""
    if shutil.which("rabbitmqctl") is None:
        return
    leftovers = {}
    for kind in ("queues", "exchanges"):
        try:
            listed = subprocess.run(
                ["rabbitmqctl", f"list_{kind}", "name", "-q", "--no-table-headers"],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.split()
        except (OSError, subprocess.SubprocessError):
            return
        leftovers[kind] = [n for n in listed if n.startswith(f"{TEST_PREFIX}.")]
    if any(leftovers.values()):
        asyncio.run(_delete(leftovers["queues"], leftovers["exchanges"]))


async def _delete(queues: list[str], exchanges: list[str]) -> None:
    import aiormq

    connection = await aiormq.connect(URL)
    try:
        channel = await connection.channel()
        for name in queues:
            await channel.queue_delete(name)
        for name in exchanges:
            await channel.exchange_delete(name)
    finally:
        await connection.close()


BACKENDS_EXTRA = {"rabbitmq": RabbitMQBackend}
