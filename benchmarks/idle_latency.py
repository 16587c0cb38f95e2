"""Idle latency alone (enqueue to the task's first line, one job at a time, the
worker its own ``python -m asynctasq worker`` process), A/B across source trees.

    python benchmarks/idle_latency.py --driver redis --jobs 500 --rounds 6 /work/main .

Each round measures every tree once, in turn (interleaved, so a change of load on
a shared machine falls on both sides); each tree's code runs both the enqueue and
the worker (PYTHONPATH and the worker's working directory). The table shows, per
tree, the median over rounds of each round's p50, p95 and p99, with the load
average when the rounds began and ended. The same measurement as the idle-latency
step of ``python -m benchmarks.throughput`` (Bench.latency), without the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

QUANTILES = (50, 95, 99)


def one(driver: str, jobs: int) -> None:
    """In a tree's own process: one run of ``jobs`` probes, its percentiles as JSON."""
    import asyncio

    # run as a script, its own folder comes first on sys.path: drop it, so the
    # benchmarks package (and asynctasq) come from the tree on PYTHONPATH
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]
    from benchmarks.brokers import bench_config, cleanup
    from benchmarks.throughput import Bench, percentile

    config = bench_config(driver)
    try:
        samples = asyncio.run(Bench(config, 10).latency(jobs))
    finally:
        cleanup(config)
    print(json.dumps({f"p{q}": percentile(samples, q) for q in QUANTILES}))


def measure(tree: Path, driver: str, jobs: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, __file__, "--one", "--driver", driver, "--jobs", str(jobs)]
    done = subprocess.run(command, cwd=tree, env=env, check=True, capture_output=True, text=True)
    figures: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("trees", nargs="*", type=Path, help="source trees (default: this one)")
    parser.add_argument("--driver", default="redis")
    parser.add_argument("--jobs", type=int, default=500, help="probes per run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.driver, args.jobs)
        return
    trees = [t.resolve() for t in args.trees] or [Path(__file__).resolve().parent.parent]
    runs: dict[Path, list[dict[str, float]]] = {t: [] for t in trees}
    load_before = os.getloadavg()
    for i in range(args.rounds):
        order = trees if i % 2 == 0 else trees[::-1]
        for tree in order:
            got = measure(tree, args.driver, args.jobs)
            runs[tree].append(got)
            shown = " ".join(f"{k} {v:.2f}" for k, v in got.items())
            print(f"round {i + 1} {tree}: {shown} ms (load {os.getloadavg()[0]:.2f})",
                  file=sys.stderr)  # fmt: skip
    load_after = os.getloadavg()
    print(
        f"{args.driver}, {args.jobs} probes x {args.rounds} rounds; load average "
        f"{load_before[0]:.2f} -> {load_after[0]:.2f}; median of rounds (min-max), ms"
    )
    print("| tree | " + " | ".join(f"p{q}" for q in QUANTILES) + " |")
    print("|---|" + "---:|" * len(QUANTILES))
    for tree, per_round in runs.items():
        cells = []
        for q in QUANTILES:
            values = [r[f"p{q}"] for r in per_round]
            cells.append(f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})")
        print(f"| {tree} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
