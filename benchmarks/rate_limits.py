"""What a rate limit costs when it never bites: drain throughput of no-op jobs of an
unlimited task, then of a task with ``rate_limit`` far above the rate (every start
takes a token from the broker's bucket, never waits), alternating, ``--runs`` times
each. The unlimited runs also show that a worker without limits pays nothing: the
limiter is not in its chain.

    python -m benchmarks.rate_limits --driver redis --jobs 10000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from benchmarks.brokers import bench_config, cleanup
from benchmarks.tasks import NoOp
from benchmarks.throughput import Bench


class LimitedNoOp(NoOp, name="bench.noop_limited"):
    """A no-op allowed a billion starts a second: the bucket is asked, never empty."""

    config = {"queue": "bench", "rate_limit": 1_000_000_000, "rate_interval": 1.0}


_TASKS: dict[str, type[NoOp]] = {"no limit": NoOp, "rate_limit=1e9/s": LimitedNoOp}


async def main(driver: str, jobs: int, runs: int) -> None:
    config = bench_config(driver)
    bench = Bench(config, concurrency=100)
    rates: dict[str, list[float]] = {label: [] for label in _TASKS}
    cpu: dict[str, list[float]] = {label: [] for label in _TASKS}
    try:
        for _ in range(runs):
            for label, task in _TASKS.items():
                rates[label].append(await bench.drain(jobs, task=task))
                cpu[label].append(bench.drain_cpu_per_job * 1e6)
    finally:
        cleanup(config)
    print(f"| {driver}: drain, concurrency 100 | median | min | max | unit |")
    print("|---|---:|---:|---:|---|")
    for label, found in rates.items():
        print(f"| {label} | {statistics.median(found):,.0f} | "
              f"{min(found):,.0f} | {max(found):,.0f} | jobs/s |")  # fmt: skip
    for label, found in cpu.items():
        print(f"| {label}: CPU per job | {statistics.median(found):.1f} | "
              f"{min(found):.1f} | {max(found):.1f} | µs |")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--driver",
        default="redis",
        choices=("memory", "redis", "sqlite", "postgres", "mysql", "mongodb"),
    )
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.driver, args.jobs, args.runs))
