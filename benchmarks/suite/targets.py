"""The speed targets of the issues, each beside its figure from one run of the suite.

``make bench`` writes this table into its section of docs/benchmarks.md, so the
verdicts always come from the figures printed beside them (medians of the same
sitting). A target whose figures were not measured in the run (a system left out
with ``--systems``, ``--no-extras``) says so instead of a verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.suite.results import Results

#: the best peer of a 4-process drain is searched among these
PEERS = (
    "arq",
    "saq",
    "taskiq",
    "celery",
    "dramatiq",
    "rq",
    "huey",
    "procrastinate",
    "saq-postgres",
)


@dataclass(frozen=True)
class Verdict:
    figure: str
    met: bool | None  # None: not measured in this run


Check = Callable[[Results], Verdict]


def _median(results: Results, system: str, key: str) -> float | None:
    summary = results.summary(system, key)
    return None if summary is None else summary.median


def _extra(results: Results, key: str) -> float | None:
    values = results.extras.get(key)
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


_MISSING = Verdict("not measured in this run", None)


def _at_least(results: Results, systems: dict[str, str], key: str, floor: float) -> Verdict:
    """Each named system's ``key`` at or above ``floor`` (jobs/s)."""
    figures = {name: _median(results, system, key) for name, system in systems.items()}
    measured = {name: value for name, value in figures.items() if value is not None}
    if not measured:
        return _MISSING
    text = " / ".join(f"{name} {value:,.0f}" for name, value in measured.items())
    missing = [name for name, value in figures.items() if value is None]
    if missing:
        text += f" ({', '.join(missing)}: not measured)"
    return Verdict(text, all(v >= floor for v in measured.values()) and not missing)


def one_caller(results: Results) -> Verdict:
    ours = _median(results, "asynctasq-redis", "enqueue_single")
    huey = _median(results, "huey", "enqueue_single")
    if ours is None or huey is None:
        return _MISSING
    return Verdict(
        f"{ours:,.0f} jobs/s against Huey's {huey:,.0f} (x{ours / huey:.2f})", ours >= 1.2 * huey
    )


def hundred_callers_redis(results: Results) -> Verdict:
    return _at_least(results, {"Redis": "asynctasq-redis"}, "enqueue_c100", 50_000)


def hundred_callers_sql(results: Results) -> Verdict:
    systems = {
        "PostgreSQL": "asynctasq-postgres",
        "MySQL": "asynctasq-mysql",
        "SQLite": "asynctasq-sqlite",
    }
    return _at_least(results, systems, "enqueue_c100", 10_000)


def default_drain(results: Results) -> Verdict:
    redis = _median(results, "asynctasq-redis", "drain_default")
    postgres = _median(results, "asynctasq-postgres", "drain_default")
    if redis is None or postgres is None:
        return _MISSING
    return Verdict(
        f"Redis {redis:,.0f} / PostgreSQL {postgres:,.0f}", redis >= 15_000 and postgres >= 12_000
    )


def two_processes(results: Results) -> Verdict:
    parts, met = [], True
    for name, system in (("Redis", "asynctasq-redis"), ("PostgreSQL", "asynctasq-postgres")):
        one, two = _median(results, system, "drain_p1"), _median(results, system, "drain_p2")
        if one is None or two is None or one == 0:
            return _MISSING
        parts.append(f"{name} {two:,.0f} / {one:,.0f} = x{two / one:.2f}")
        met = met and two >= 1.6 * one
    return Verdict("; ".join(parts), met)


def four_processes(results: Results) -> Verdict:
    ours = _median(results, "asynctasq-redis", "drain_4proc")
    peers = {p: _median(results, p, "drain_4proc") for p in PEERS}
    measured = {p: v for p, v in peers.items() if v}
    if ours is None or not measured:
        return _MISSING
    best = max(measured, key=lambda p: measured[p])
    return Verdict(
        f"Redis {ours:,.0f} against {best}'s {measured[best]:,.0f} (x{ours / measured[best]:.1f})",
        ours >= 3 * measured[best],
    )


def idle_latency(results: Results) -> Verdict:
    figures = [
        _median(results, system, f"latency_start_{q}")
        for system in ("asynctasq-redis", "huey")
        for q in ("p50", "p99")
    ]
    measured = [value for value in figures if value is not None]
    if len(measured) < len(figures):
        return _MISSING
    o50, o99, h50, h99 = measured
    return Verdict(
        f"p50 {o50:.2f} / p99 {o99:.2f} ms against Huey's {h50:.2f} / {h99:.2f}",
        o50 <= h50 and o99 <= h99,
    )


def memory_drain(results: Results) -> Verdict:
    value = _extra(results, "memory_drain")
    if value is None:
        return _MISSING
    return Verdict(f"{value:,.0f} jobs/s", value >= 80_000)


def rss(results: Results) -> Verdict:
    early, last = _extra(results, "rss_10k"), _extra(results, "rss_last")
    if early is None or last is None:
        return _MISSING
    return Verdict(
        f"{early:.1f} -> {last:.1f} MiB ({(last / early - 1) * 100:+.1f}%)", last <= 1.1 * early
    )


def startup(results: Results) -> Verdict:
    redis, postgres = _extra(results, "startup_redis"), _extra(results, "startup_postgres")
    if redis is None or postgres is None:
        return _MISSING
    return Verdict(
        f"Redis {redis:.0f} ms, PostgreSQL {postgres:.0f} ms", max(redis, postgres) < 150
    )


def dependency_cost(results: Results) -> Verdict:
    parts, met = [], True
    for name, broker in (("Redis", "redis"), ("PostgreSQL", "postgres")):
        plain = _extra(results, f"deps_plain_{broker}")
        out, into = _extra(results, f"deps_out_{broker}"), _extra(results, f"deps_in_{broker}")
        if not plain or out is None or into is None:
            return _MISSING
        cost_out, cost_in = 1 - out / plain, 1 - into / plain
        parts.append(f"{name} fan-out {cost_out:.0%}, fan-in {cost_in:.0%}")
        met = met and cost_out < 0.30 and cost_in < 0.30
    return Verdict("; ".join(parts), met)


def unblock(results: Results) -> Verdict:
    redis, postgres = (
        _extra(results, "deps_unblock_redis"),
        _extra(results, "deps_unblock_postgres"),
    )
    if redis is None or postgres is None:
        return _MISSING
    return Verdict(f"Redis {redis:.1f} ms, PostgreSQL {postgres:.1f} ms", max(redis, postgres) < 2)


#: (issue, target, check), in the order the issues give them
TARGETS: list[tuple[int, str, Check]] = [
    (17, "Redis, one caller enqueueing one by one: at least 1.2 x Huey", one_caller),
    (17, "Redis, 100 concurrent callers: at least 50,000 jobs/s", hundred_callers_redis),
    (
        17,
        "PostgreSQL, MySQL, SQLite, 100 callers: at least 10,000 jobs/s each",
        hundred_callers_sql,
    ),
    (
        17,
        "drain at default settings, start-up included: Redis 15,000, PostgreSQL 12,000",
        default_drain,
    ),
    (17, "`--processes 2`: at least 1.6 x one process, Redis and PostgreSQL", two_processes),
    (17, "4 worker processes: at least 3 x the best peer's", four_processes),
    (17, "idle latency to start: p50 and p99 at or below Huey's", idle_latency),
    (17, "memory-broker drain: at least 80,000 jobs/s", memory_drain),
    (17, "worker RSS after 1,000,000 jobs within 10% of its RSS after 10,000", rss),
    (17, "start-up, launch to first job: under 150 ms", startup),
    (15, "dependency bookkeeping: under 30% of plain drain throughput", dependency_cost),
    (15, "a child starts under 2 ms (p50) after its last parent ends", unblock),
]


MET = {True: "yes", False: "no", None: "n/a"}


def targets_table(results: Results) -> str:
    lines = ["| issue | target | figure | met |", "|---|---|---|---|"]
    for issue, target, check in TARGETS:
        verdict = check(results)
        lines.append(f"| {issue} | {target} | {verdict.figure} | {MET[verdict.met]} |")
    return "\n".join(lines)
