"""What concurrency keys cost: drain throughput of no-op jobs with the
``concurrency_keys`` middleware left out of the chain, with it in the chain but
jobs without a key (what every job pays on a broker with the capability: a look in
its payload bytes), and with every job keyed under a limit it never reaches (a slot
taken and given back per job: two broker round trips). Alternating, ``--runs``
times each.

    python -m benchmarks.concurrency_keys --driver redis --jobs 10000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections.abc import Iterator
from contextlib import contextmanager

from asynctasq.core.worker.middleware.base import WorkerRuntime
from asynctasq.core.worker.middleware.concurrency import ConcurrencyLimiter
from benchmarks.brokers import bench_config, cleanup
from benchmarks.tasks import NoOp
from benchmarks.throughput import Bench


class KeyedNoOp(NoOp, name="bench.noop_keyed"):
    """A no-op whose key allows more jobs at once than the worker runs."""

    config = {"queue": "bench", "concurrency_key": "bench", "max_concurrency": 1_000_000}


@contextmanager
def _left_out() -> Iterator[None]:
    """Workers started meanwhile leave the middleware out of their chain."""
    start = ConcurrencyLimiter.start

    async def disabled(self: ConcurrencyLimiter, runtime: WorkerRuntime) -> None:
        await start(self, runtime)
        self.enabled = False

    ConcurrencyLimiter.start = disabled  # type: ignore[method-assign]
    try:
        yield
    finally:
        ConcurrencyLimiter.start = start  # type: ignore[method-assign]


_CASES = ("middleware left out", "no key", "key, never full")


async def main(driver: str, jobs: int, runs: int) -> None:
    config = bench_config(driver)
    bench = Bench(config, concurrency=100)
    rates: dict[str, list[float]] = {label: [] for label in _CASES}
    cpu: dict[str, list[float]] = {label: [] for label in _CASES}
    try:
        for _ in range(runs):
            for label in _CASES:
                if label == "middleware left out":
                    with _left_out():
                        rates[label].append(await bench.drain(jobs))
                else:
                    task = KeyedNoOp if label.startswith("key") else NoOp
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
