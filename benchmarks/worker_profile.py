"""Where a worker's time goes per job: a memory-broker drain of no-op jobs (one process,
concurrency 100, uvloop as the CLI), profiled from the worker's start to its last
outcome reported (the enqueue before it is not profiled).

    python -m benchmarks.worker_profile --jobs 100000            # cProfile, top 20
    python -m benchmarks.worker_profile --jobs 5000 --fill-only  # the enqueue alone

Instructions per job (deterministic on a busy host): run it under callgrind with
``--no-profile`` at 1,000 and 5,000 jobs, and with ``--fill-only`` at both, then
((drain 5k - fill 5k) - (drain 1k - fill 1k)) / 4,000::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python -m benchmarks.worker_profile --jobs 5000 --no-profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from typing import Any

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker import Worker
from benchmarks.brokers import bench_config
from benchmarks.suite.extras import _uvloop_run
from benchmarks.tasks import NoOp, countdown
from benchmarks.throughput import Bench

#: jobs drained first, unprofiled: imports, first calls and caches out of the figure
WARM_UP = 20_000


async def _fill(bench: Bench, jobs: int) -> Any:
    producer = await bench.driver()
    dispatcher = Dispatcher(producer, bench.config)
    for i in range(0, jobs, 5000):
        await dispatcher.dispatch_many(
            NoOp().on_queue(bench.queue) for _ in range(min(5000, jobs - i))
        )
    return producer


async def drain(jobs: int, profile: cProfile.Profile | None) -> float:
    """Jobs/s of one drain; ``profile`` runs from the worker's start to its last
    outcome reported."""
    bench = Bench(bench_config("memory"), concurrency=100)
    await _fill(bench, jobs)
    worker = Worker(
        await bench.driver(), [bench.queue], config=bench.config, concurrency=100,
        handle_signals=False,
    )  # fmt: skip
    finished = countdown.arm(jobs)
    if profile is not None:
        profile.enable()
    started = time.perf_counter()
    running = asyncio.create_task(worker.start())
    await finished.wait()
    while len(worker._outcomes):
        await asyncio.sleep(0.0005)
    elapsed = time.perf_counter() - started
    if profile is not None:
        profile.disable()
    worker.stop()
    await running
    return jobs / elapsed


def table(profile: cProfile.Profile, jobs: int, top: int) -> str:
    """The functions with the most own time: calls per job, own time and time with
    callees as shares of the whole."""
    stats = pstats.Stats(profile)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (path, _, function), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = path.split("asynctasq/")[-1] if "asynctasq/" in path else path.rsplit("/", 1)[-1]
        rows.append((own, cumulative, calls, f"{where}:{function}"))
    rows.sort(reverse=True)
    calls_per_job = sum(r[2] for r in rows) / jobs
    lines = [
        f"{jobs:,} jobs, {calls_per_job:.0f} calls per job (cProfile)",
        "",
        "| function | calls per job | own | with callees |",
        "|---|---:|---:|---:|",
    ]
    for own, cumulative, calls, name in rows[:top]:
        lines.append(
            f"| `{name}` | {calls / jobs:.2f} | {100 * own / total:.0f}% "
            f"| {100 * cumulative / total:.0f}% |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--no-profile", action="store_true", help="drain, no cProfile")
    parser.add_argument("--fill-only", action="store_true", help="enqueue, do not drain")
    args = parser.parse_args()
    if args.fill_only:
        _uvloop_run(_fill(Bench(bench_config("memory"), concurrency=100), args.jobs))
        return
    if args.no_profile:
        print(f"{_uvloop_run(drain(args.jobs, None)):,.0f} jobs/s")
        return
    _uvloop_run(drain(WARM_UP, None))
    profile = cProfile.Profile()
    rate = _uvloop_run(drain(args.jobs, profile))
    print(f"{rate:,.0f} jobs/s under the profiler")
    print(table(profile, args.jobs, args.top))


if __name__ == "__main__":
    main()
