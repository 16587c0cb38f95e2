"""One caller, one job at a time on Redis: what a round trip costs the client.

    python -m benchmarks.round_trip --calls 5000

Four loops of ``--calls`` calls against the same server, each measured after a
warm-up: redis-py's synchronous ``LPUSH`` (about what a synchronous queue such as Huey
sends per job), redis-py's asyncio ``LPUSH`` (the floor of an asyncio client),
asynctasq's ``dispatch()`` (a full job record through the Redis driver: the lean
``enqueue_due.lua``), and ``dispatch()`` of a job delayed by an hour (``enqueue.lua``,
the shared prelude and all: a function of the driver's library on Redis 7). For each:
calls per second and the user and system CPU of this process per call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.driver_factory import DriverFactory
from benchmarks.brokers import bench_config, cleanup
from benchmarks.tasks import NoOp

WARM_UP = 200
KEY = "asynctasq-round-trip"
BODY = b"x" * 60  # about a no-op job's payload


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _row(name: str, calls: int, elapsed: float, cpu: tuple[float, float]) -> str:
    user, system = (cpu[0] / calls * 1e6, cpu[1] / calls * 1e6)
    return f"| {name} | {calls / elapsed:,.0f} | {user:.0f} µs | {system:.0f} µs |"


def sync_lpush(url: str, calls: int) -> str:
    import redis

    client = redis.Redis.from_url(url)
    for _ in range(WARM_UP):
        client.lpush(KEY, BODY)
    (u0, s0), started = _cpu(), time.perf_counter()
    for _ in range(calls):
        client.lpush(KEY, BODY)
    elapsed, (u1, s1) = time.perf_counter() - started, _cpu()
    client.delete(KEY)
    client.close()
    return _row("redis-py, synchronous LPUSH", calls, elapsed, (u1 - u0, s1 - s0))


async def _timed(name: str, calls: int, call: Callable[[], Awaitable[object]]) -> str:
    for _ in range(WARM_UP):
        await call()
    (u0, s0), started = _cpu(), time.perf_counter()
    for _ in range(calls):
        await call()
    elapsed, (u1, s1) = time.perf_counter() - started, _cpu()
    return _row(name, calls, elapsed, (u1 - u0, s1 - s0))


async def async_lpush(url: str, calls: int) -> str:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url)
    try:
        return await _timed("redis-py asyncio LPUSH", calls, lambda: client.lpush(KEY, BODY))
    finally:
        await client.delete(KEY)
        await client.aclose()


async def dispatch(url: str, calls: int, *, delay: float = 0.0) -> str:
    config = bench_config("redis").replace(redis_url=url)
    driver = DriverFactory.create_from_config(config)
    await driver.connect()
    dispatcher = Dispatcher(driver, config)
    name = "asynctasq dispatch() of a delayed job" if delay else "asynctasq dispatch()"
    try:
        return await _timed(
            name,
            calls,
            lambda: dispatcher.dispatch(
                NoOp().on_queue("round-trip").delay(delay)
                if delay
                else NoOp().on_queue("round-trip")
            ),
        )
    finally:
        await driver.disconnect()
        cleanup(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    rows = [
        sync_lpush(args.redis_url, args.calls),
        asyncio.run(async_lpush(args.redis_url, args.calls)),
        asyncio.run(dispatch(args.redis_url, args.calls)),
        asyncio.run(dispatch(args.redis_url, args.calls, delay=3600.0)),
    ]
    print(f"`python -m benchmarks.round_trip {' '.join(sys.argv[1:])}`\n")
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n")
    print("| one caller | calls/s | user CPU per call | system CPU per call |")
    print("|---|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
