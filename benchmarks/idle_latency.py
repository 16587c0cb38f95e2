"""Idle latency alone (enqueue to the task's first line, one job at a time, the
worker its own ``python -m asynctasq worker`` process), A/B across source trees.

    python benchmarks/idle_latency.py --jobs 500 --rounds 6 /work/main .
    python benchmarks/idle_latency.py --suite --peer huey --rounds 6 /work/main .

Each round measures every side once, in turn (interleaved, the order reversed every
other round, so a change of load on a shared machine falls on every side); each
tree's code runs both the enqueue and the worker (PYTHONPATH and the working
directory). The table shows, per side, the median over rounds of each round's p50,
p95 and p99, with the load average when the rounds began and ended.

Two measurements:

* by default, the idle-latency step of ``python -m benchmarks.throughput``
  (Bench.latency: a 2 ms idle gap before each probe);
* with ``--suite``, the latency step of ``make bench`` (benchmarks/suite/runner.py:
  the peers' probe, a random gap, the completion polled), for asynctasq on Redis, and
  with ``--peer NAME`` for that peer too, run by its virtualenv (``python -m benchmarks
  --systems NAME`` builds it; ``--peer-venvs`` says where they are).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

QUANTILES = (50, 95, 99)
ROOT = Path(__file__).resolve().parent.parent
#: the suite's latency step as `make bench` runs it (benchmarks/suite/plan.py)
SUITE_STEP = {"key": "latency", "op": "latency", "cap": 3.5, "concurrency": 10,
              "start_timeout": 90}  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def one(driver: str, jobs: int) -> None:
    """In a tree's own process: one run of ``jobs`` probes, its percentiles as JSON."""
    import asyncio

    # run as a script, its own folder comes first on sys.path: drop it, so the
    # benchmarks package (and asynctasq) come from the tree on PYTHONPATH
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]
    from benchmarks.brokers import bench_config, cleanup
    from benchmarks.throughput import Bench

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


def measure_suite(system: str, python: Path, tree: Path, jobs: int) -> dict[str, float]:
    """One run of the suite runner's latency step for ``system``."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.peers import ENTRIES

    entry = ENTRIES[system]
    work = Path(tempfile.mkdtemp(prefix="asynctasq-idle-"))
    steps = work / "steps.json"
    steps.write_text(json.dumps([{**SUITE_STEP, "count": jobs}]))
    db = entry.redis_db if entry.redis_db is not None else 0
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1",
           "BENCH_REDIS_URL": f"redis://127.0.0.1:6379/{db}"}  # fmt: skip
    command = [str(python), "-m", "benchmarks.suite.runner", "--system", system,
               "--steps", str(steps), "--workdir", str(work)]  # fmt: skip
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "result" and event.get("key") == "latency":
            return {f"p{q}": percentile(event["start_ms"], q) for q in QUANTILES}
    raise RuntimeError(f"{system} reported no latency:\n{done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("trees", nargs="*", type=Path, help="source trees (default: this one)")
    parser.add_argument("--driver", default="redis")
    parser.add_argument("--jobs", type=int, default=500, help="probes per run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--suite", action="store_true", help="make bench's latency step")
    parser.add_argument("--peer", action="append", default=[], help="with --suite: a peer too")
    parser.add_argument("--peer-venvs", type=Path, default=ROOT / "benchmarks" / ".venv-peers")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.driver, args.jobs)
        return
    trees = [t.resolve() for t in args.trees] or [ROOT]
    sides: dict[str, Any] = {}
    for tree in trees:
        if args.suite:
            sides[str(tree)] = (measure_suite, "asynctasq-redis", Path(sys.executable), tree)
        else:
            sides[str(tree)] = (measure, tree, args.driver)
    for peer in args.peer:
        python = args.peer_venvs / peer / "bin" / "python"
        sides[peer] = (measure_suite, peer, python, ROOT)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    load_before = os.getloadavg()
    for i in range(args.rounds):
        order = list(sides) if i % 2 == 0 else list(sides)[::-1]
        for name in order:
            how, *what = sides[name]
            got = how(*what, args.jobs)
            runs[name].append(got)
            shown = " ".join(f"{k} {v:.2f}" for k, v in got.items())
            print(f"round {i + 1} {name}: {shown} ms (load {os.getloadavg()[0]:.2f})",
                  file=sys.stderr)  # fmt: skip
    load_after = os.getloadavg()
    what = "make bench's latency step" if args.suite else f"{args.driver}, Bench.latency"
    print(
        f"{what}, {args.jobs} probes x {args.rounds} rounds; load average "
        f"{load_before[0]:.2f} -> {load_after[0]:.2f}; median of rounds (min-max), ms"
    )
    print("| side | " + " | ".join(f"p{q}" for q in QUANTILES) + " |")
    print("|---|" + "---:|" * len(QUANTILES))
    for name, per_round in runs.items():
        cells = []
        for q in QUANTILES:
            values = [r[f"p{q}"] for r in per_round]
            cells.append(f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
