"""The scenarios, their sizes and time caps, and the steps one run executes.

A step caps its measurement in time as well as in jobs: a system that cannot drain N
jobs within the cap is measured on the jobs it finished by then (the table marks such
figures), so one slow peer cannot push the whole suite past its time budget.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    unit: str
    better: Literal["higher", "lower"]


SCENARIOS = [
    Scenario("enqueue_single", "enqueue one by one", "jobs/s", "higher"),
    Scenario("enqueue_c100", "enqueue one by one, 100 concurrent callers", "jobs/s", "higher"),
    Scenario("enqueue_bulk", "enqueue in bulk (1,000 per call)", "jobs/s", "higher"),
    Scenario("drain_default", "drain at default settings, start-up included", "jobs/s", "higher"),
    Scenario("drain_p1", "drain at default settings, 1 process", "jobs/s", "higher"),
    Scenario("drain_p2", "drain at default settings, --processes 2", "jobs/s", "higher"),
    Scenario("drain_c10", "drain, 1 worker process, concurrency 10", "jobs/s", "higher"),
    Scenario("drain_best", "drain, 1 worker process, best concurrency", "jobs/s", "higher"),
    Scenario("drain_4proc", "drain, 4 worker processes x 10", "jobs/s", "higher"),
    Scenario("io_c100", "I/O-bound jobs (10 ms await), concurrency 100", "jobs/s", "higher"),
    Scenario("cpu_pool", "CPU-bound jobs (~5 ms loop), process pool", "jobs/s", "higher"),
    Scenario("latency_start_p50", "idle latency to start, p50", "ms", "lower"),
    Scenario("latency_start_p95", "idle latency to start, p95", "ms", "lower"),
    Scenario("latency_start_p99", "idle latency to start, p99", "ms", "lower"),
    Scenario("latency_done_p50", "idle latency to completion, p50", "ms", "lower"),
    Scenario("latency_done_p95", "idle latency to completion, p95", "ms", "lower"),
    Scenario("latency_done_p99", "idle latency to completion, p99", "ms", "lower"),
    Scenario("rss_peak", "worker peak RSS (drain at concurrency 10)", "MiB", "lower"),
]
BY_KEY = {s.key: s for s in SCENARIOS}

#: where each adapter's ``best_concurrency`` comes from: the fastest drain of one
#: worker process in two sittings (3 runs) of this command on the 2-core machine of
#: docs/benchmarks.md. Differences between the top two were often within the noise;
#: rerun it on your machine and edit the adapters if yours differ.
BEST_FROM = "python -m benchmarks --sweep 10,20,50,100,200 --runs 2"

BULK_CHUNK = 1_000
PROCESSES = 4
#: enqueues before an enqueue step's clock starts, for every system alike: a web app
#: dispatches from a warm process (connections open, scripts loaded, code imported);
#: the first dispatches of a cold one are start-up, measured on their own elsewhere
WARM_UP = 50
#: coroutines enqueueing at once in the enqueue_c100 step (a busy ASGI app)
CALLERS = 100


@dataclass(frozen=True)
class Budget:
    jobs: int  # N: jobs per enqueue and drain step
    runs: int
    latency_jobs: int
    cpu_jobs: int
    enqueue_cap: float  # seconds of measuring, per step
    drain_cap: float
    latency_cap: float
    start_timeout: float  # a worker must run its first job within this

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def budget(*, quick: bool, jobs: int | None = None, runs: int | None = None) -> Budget:
    if quick:
        base = Budget(
            jobs=1_000,
            runs=1,
            latency_jobs=50,
            cpu_jobs=100,
            enqueue_cap=0.5,
            drain_cap=1.0,
            latency_cap=1.0,
            start_timeout=60,
        )
    else:
        base = Budget(
            jobs=20_000,
            runs=3,
            latency_jobs=500,
            cpu_jobs=1_000,
            enqueue_cap=1.0,
            drain_cap=2.0,
            latency_cap=3.5,
            start_timeout=90,
        )
    n = jobs or base.jobs
    return Budget(
        **{
            **base.as_dict(),
            "jobs": n,
            "runs": runs or base.runs,
            "cpu_jobs": max(10, n // 20),
        }
    )


def steps(describe: dict[str, Any], b: Budget) -> list[dict[str, Any]]:
    """The steps of one run of one system, from what its runner described."""
    fixed = describe.get("fixed_concurrency")
    c10 = fixed or 10
    best = fixed or describe["best_concurrency"]
    drain = {"op": "drain", "kind": "mark", "count": b.jobs, "cap": b.drain_cap, "processes": 1}
    # the enqueue steps leave their jobs queued: the first drain runs them
    out: list[dict[str, Any]] = [
        {
            "key": "enqueue_single",
            "op": "enqueue",
            "count": b.jobs,
            "cap": b.enqueue_cap,
            "keep": True,
        },
    ]
    out.append(
        {
            "key": "enqueue_c100",
            "op": "enqueue",
            "callers": CALLERS,
            "count": b.jobs,
            "cap": b.enqueue_cap,
            "keep": True,
        }
    )
    if describe.get("bulk_api"):
        out.append(
            {
                "key": "enqueue_bulk",
                "op": "bulk",
                "count": b.jobs,
                "cap": b.enqueue_cap,
                "keep": True,
            }
        )
    out.append({**drain, "key": "drain_c10", "concurrency": c10, "memory": True})
    # the worker as users start it (no flag but its queue), on N fresh jobs; the first
    # rate counts from the launch of the worker to its last job
    defaults = {**drain, "worker": "default", "fresh": True, "concurrency": c10}
    out.append({**defaults, "key": "drain_default", "from_launch": True, "cap": 10 * b.drain_cap})
    if describe.get("supervisor"):  # --processes 2 against 1, both at default settings
        out.append({**defaults, "key": "drain_p1"})
        out.append({**defaults, "key": "drain_p2", "processes_flag": 2})
    if best != c10:  # else the orchestrator reports drain_c10 as drain_best
        out.append({**drain, "key": "drain_best", "concurrency": best})
    out += [
        {**drain, "key": "drain_4proc", "concurrency": c10, "processes": PROCESSES},
        {**drain, "key": "io_c100", "kind": "io", "concurrency": fixed or 100},
    ]
    if describe.get("cpu_pool"):
        cores = os.cpu_count() or 1
        out.append(
            {**drain, "key": "cpu_pool", "kind": "cpu", "count": b.cpu_jobs, "concurrency": cores}
        )
    out.append(
        {
            "key": "latency",
            "op": "latency",
            "count": b.latency_jobs,
            "cap": b.latency_cap,
            "concurrency": c10,
        }
    )
    return [{**s, "start_timeout": b.start_timeout} for s in out]


def sweep_steps(concurrencies: list[int], b: Budget) -> list[dict[str, Any]]:
    """Drain at each concurrency, to find a system's best (``--sweep``)."""
    return [
        {
            "key": f"sweep_c{c}",
            "op": "drain",
            "kind": "mark",
            "count": b.jobs,
            "cap": b.drain_cap,
            "processes": 1,
            "concurrency": c,
            "start_timeout": b.start_timeout,
        }
        for c in concurrencies
    ]
