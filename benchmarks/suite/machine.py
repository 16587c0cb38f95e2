"""What the figures were measured on: cores, CPU, memory, Python, broker versions,
and the load average (the machine may be shared: a load above the core count means
other work competed with the benchmark)."""

from __future__ import annotations

import asyncio
import os
import platform
from dataclasses import asdict, dataclass
from typing import Any

from asynctasq.config import redact_url


@dataclass
class Machine:
    cores: int
    cpu: str
    memory_gib: float
    system: str
    python: str
    redis: str
    postgres: str
    load_start: float
    load_end: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float:
    import psutil

    return float(psutil.virtual_memory().total) / 2**30


def redis_version(url: str) -> str:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        try:
            return str(client.info("server")["redis_version"])
        finally:
            client.close()
    except Exception as exc:
        return f"unreachable at {redact_url(url)} ({type(exc).__name__})"


def postgres_version(dsn: str) -> str:
    async def ask() -> str:
        import asyncpg

        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    try:
        return asyncio.run(ask())
    except Exception as exc:
        return f"unreachable at {redact_url(dsn)} ({type(exc).__name__})"


def describe_machine(redis_url: str, postgres_dsn: str) -> Machine:
    return Machine(
        cores=os.cpu_count() or 1,
        cpu=_cpu_model(),
        memory_gib=_memory_gib(),
        system=f"{platform.system()} {platform.machine()}",
        python=platform.python_version(),
        redis=redis_version(redis_url),
        postgres=postgres_version(postgres_dsn),
        load_start=os.getloadavg()[0],
    )
