"""The figures only asynctasq has, measured in the same sitting as the peers: the
memory broker's drain (the worker's own ceiling), a worker's memory over a million
jobs, start-up from launch to the first job, ``job retry --all`` on 100,000
dead letters, what registered schedules cost a drain when none is due, what a rate
limit that never bites costs (the limiter's overhead), and what job
dependencies cost on Redis and PostgreSQL (a 10,000-job fan-out and fan-in beside the
plain drain; a child's start after its parent ends).

Each runs in this (the project's) interpreter, through the benchmark scripts that
publish it alone: benchmarks/throughput.py, benchmarks/memory.py,
benchmarks/startup.py, benchmarks/retry_all.py, benchmarks/schedules.py,
benchmarks/rate_limits.py and benchmarks/dependencies.py.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from benchmarks import dependencies, memory, rate_limits, retry_all, schedules, startup
from benchmarks.brokers import bench_config, cleanup
from benchmarks.suite.plan import Budget
from benchmarks.tasks import NoOp
from benchmarks.throughput import Bench, percentile

#: key -> (title, unit, better)
EXTRAS: dict[str, tuple[str, str, str]] = {
    "memory_drain": (
        "memory-broker drain, 1 process, concurrency 100 (uvloop, as the CLI)",
        "jobs/s",
        "higher",
    ),
    "import": ("import asynctasq", "ms", "lower"),
    "startup_redis": ("launch to first job, Redis", "ms", "lower"),
    "startup_postgres": ("launch to first job, PostgreSQL", "ms", "lower"),
    "rss_idle": ("worker RSS idle (Redis)", "MiB", "lower"),
    "rss_10k": ("worker RSS after 10,000 jobs", "MiB", "lower"),
    "rss_last": ("worker RSS after the last job", "MiB", "lower"),
    "retry_all_redis": ("`job retry --all`, 100,000 dead letters, Redis", "s", "lower"),
    "retry_all_postgres": ("`job retry --all`, 100,000 dead letters, PostgreSQL", "s", "lower"),
    "schedules_none": ("Redis drain, concurrency 100, no schedule registered", "jobs/s", "higher"),
    "schedules_idle": (
        "Redis drain, concurrency 100, 100 schedules registered (none due)",
        "jobs/s",
        "higher",
    ),
    # CPU per job: steadier than jobs/s on a shared host
    "schedules_none_cpu": ("worker CPU per job, Redis drain, no schedule", "µs", "lower"),
    "schedules_idle_cpu": ("worker CPU per job, Redis drain, 100 idle schedules", "µs", "lower"),
    # the rate limiter's cost when the limit never bites (a 1e9/s limit), Redis
    "rates_none_cpu": ("worker CPU per job, Redis drain, no rate limit", "µs", "lower"),
    "rates_limited_cpu": ("worker CPU per job, Redis drain, rate_limit=1e9/s", "µs", "lower"),
    "rates_none": ("Redis drain, concurrency 100, no rate limit", "jobs/s", "higher"),
    "rates_limited": ("Redis drain, concurrency 100, rate_limit=1e9/s", "jobs/s", "higher"),
    **{
        f"deps_{key}_{broker}": (f"{title}, {name}", unit, better)
        for broker, name in (("redis", "Redis"), ("postgres", "PostgreSQL"))
        for key, (title, unit, better) in {
            "plain": (
                "drain, independent jobs (the baseline of the two below)",
                "jobs/s",
                "higher",
            ),
            "out": ("drain, fan-out: 100 parents x 100 children", "jobs/s", "higher"),
            "in": ("drain, fan-in: 10,000 parents -> 1 child", "jobs/s", "higher"),
            "unblock": ("child starts after its parent ends, p50", "ms", "lower"),
        }.items()
    },
}
#: schedules registered (yearly crons, never due in the run) for ``schedules_idle``
IDLE_SCHEDULES = 100
#: jobs the RSS step runs through one worker
RSS_JOBS = 1_000_000
RSS_JOBS_QUICK = 20_000
#: dead letters the retry step replays (quick runs: fewer, so the titles' count is
#: only reached by full runs)
RETRY_JOBS = 100_000
RETRY_JOBS_QUICK = 2_000


def _uvloop_run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def memory_drain(jobs: int) -> float:
    bench = Bench(bench_config("memory"), concurrency=100)
    return float(_uvloop_run(bench.drain(jobs)))


def dependency_costs(config: Any, jobs: int, pairs: int) -> dict[str, float]:
    """benchmarks/dependencies.py's figures on one broker (concurrency 100)."""
    scenario = dependencies.Scenario(config, 100)
    parents = max(jobs // 100, 1)

    async def measure() -> dict[str, float]:
        linked = await scenario.unblock_latency(pairs, linked=True)
        return {
            "plain": await scenario.drain(dependencies.plain(parents * 100)),
            "out": await dependencies.fan_out(scenario, parents, 100),
            "in": await dependencies.fan_in(scenario, parents * 100),
            "unblock": percentile(linked, 50),
        }

    try:
        return asyncio.run(measure())
    finally:
        cleanup(config)


def limiter_cost(config: Any, jobs: int) -> dict[str, float]:
    """benchmarks/rate_limits.py's figures, one run of each (concurrency 100)."""
    bench = Bench(config, concurrency=100)
    out: dict[str, float] = {}
    try:
        for key, task in (("rates_none", NoOp), ("rates_limited", rate_limits.LimitedNoOp)):
            out[key] = float(asyncio.run(bench.drain(jobs, task=task)))
            out[f"{key}_cpu"] = bench.drain_cpu_per_job * 1e6
    finally:
        cleanup(config)
    return out


def rss(jobs: int, redis_url: str) -> dict[str, float]:
    args = argparse.Namespace(driver="redis", jobs=jobs, idle=2.0)
    config = bench_config("redis").replace(redis_url=redis_url)
    figures = dict(asyncio.run(memory.measure(args, config)))
    return {
        "rss_idle": figures["idle, after start-up"],
        "rss_10k": figures.get("after 10,000 jobs", 0.0),
        "rss_last": figures[f"after {jobs:,} jobs"],
    }


def schedules_pair(jobs: int, redis_url: str) -> dict[str, float]:
    """Drain throughput on Redis without schedules, then with IDLE_SCHEDULES none due
    (target: no measurable cost)."""
    config = bench_config("redis").replace(redis_url=redis_url)
    config = config.replace(redis_prefix=f"{config.redis_prefix}-schedules")
    bench = Bench(config, concurrency=100)
    try:
        return dict(asyncio.run(schedules.pair(bench, jobs, IDLE_SCHEDULES)))
    finally:
        cleanup(config)


def measure(
    budget: Budget, quick: bool, redis_url: str, postgres_dsn: str, say: Callable[[str], None]
) -> dict[str, list[float]]:
    """Every extra figure, ``budget.runs`` times where cheap (RSS once). ``redis_url``
    and ``postgres_dsn`` name a database."""
    out: dict[str, list[float]] = {key: [] for key in EXTRAS}

    def add(figures: dict[str, float]) -> None:
        for key, value in figures.items():
            out[key].append(value)

    redis = bench_config("redis").replace(redis_url=redis_url)
    postgres = bench_config("postgres").replace(postgres_dsn=postgres_dsn)
    steps: list[tuple[str, Callable[[], None]]] = [
        ("memory-broker drain", lambda: out["memory_drain"].append(memory_drain(budget.jobs))),
        ("import", lambda: out["import"].append(startup.import_ms("import asynctasq"))),
        (
            "start-up (Redis)",
            lambda: out["startup_redis"].append(asyncio.run(startup.first_job_ms("redis", redis))),
        ),
        (
            "start-up (PostgreSQL)",
            lambda: out["startup_postgres"].append(
                asyncio.run(startup.first_job_ms("postgres", postgres))
            ),
        ),
        (
            "drain with schedules registered (Redis)",
            lambda: add(schedules_pair(budget.jobs, redis_url)),
        ),
    ]
    for run in range(budget.runs):
        for what, step in steps:
            say(f"asynctasq alone, run {run + 1}/{budget.runs}: {what}")
            try:
                step()
            except Exception as exc:
                say(f"  {what} failed: {type(exc).__name__}: {exc}")
    dead = RETRY_JOBS_QUICK if quick else RETRY_JOBS
    own = (  # namespaces of their own: measure() drops its namespace when done
        ("retry_all_redis", redis.replace(redis_prefix=f"{redis.redis_prefix}-retry")),
        (
            "retry_all_postgres",
            postgres.replace(postgres_schema=f"{postgres.postgres_schema}_retry"),
        ),
    )
    for key, config in own:
        say(f"asynctasq alone: job retry --all of {dead:,} dead letters ({config.driver})")
        try:  # once: preparing the dead letters takes longer than the retry
            out[key].append(asyncio.run(retry_all.measure(config, dead))["seconds"])
        except Exception as exc:
            say(f"  job retry --all failed: {type(exc).__name__}: {exc}")
    for run in range(budget.runs):
        say(f"asynctasq alone, run {run + 1}/{budget.runs}: rate limiter's cost (redis)")
        try:
            for key, value in limiter_cost(redis, budget.jobs).items():
                out[key].append(value)
        except Exception as exc:
            say(f"  rate limiter's cost failed: {type(exc).__name__}: {exc}")
    for broker, config in (("redis", redis), ("postgres", postgres)):
        for run in range(budget.runs):
            say(f"asynctasq alone, run {run + 1}/{budget.runs}: dependencies ({broker})")
            try:  # 10,000 jobs in a full run, as issue 15 names them
                figures = dependency_costs(config, 1_000 if quick else 10_000, 20 if quick else 100)
            except Exception as exc:
                say(f"  dependencies failed: {type(exc).__name__}: {exc}")
                continue
            for key, value in figures.items():
                out[f"deps_{key}_{broker}"].append(value)
    jobs = RSS_JOBS_QUICK if quick else RSS_JOBS
    say(f"asynctasq alone: worker RSS over {jobs:,} jobs (Redis)")
    try:
        for key, value in rss(jobs, redis_url).items():
            out[key].append(value)
    except Exception as exc:
        say(f"  worker RSS failed: {type(exc).__name__}: {exc}")
    return {key: values for key, values in out.items() if values}
