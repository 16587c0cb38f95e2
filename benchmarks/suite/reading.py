"""The short reading above the tables, written from the figures themselves, so the
text always matches the numbers it sits on.

For each scenario asynctasq is *ahead* (better than every peer on the broker, its
min-max range clear of theirs), *behind* (a peer is better, ranges clear), or
*level* (its range overlaps the best peer's: the difference is within the noise of
the sitting). Each verdict comes with the mechanism behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from benchmarks.suite.plan import BY_KEY, Scenario
from benchmarks.suite.results import Results, Summary

Verdict = Literal["ahead", "level", "behind"]

#: scenario families, in reading order: (title, keys)
FAMILIES = [
    ("Enqueue one by one", ["enqueue_single"]),
    ("Enqueue from 100 concurrent callers", ["enqueue_c100"]),
    ("Drain at default settings", ["drain_default"]),
    ("Enqueue in bulk", ["enqueue_bulk"]),
    ("Drain no-op jobs", ["drain_c10", "drain_best", "drain_4proc"]),
    ("I/O-bound jobs", ["io_c100"]),
    ("CPU-bound jobs", ["cpu_pool"]),
    ("Idle latency to start", ["latency_start_p50", "latency_start_p95", "latency_start_p99"]),
    ("Idle latency to completion", ["latency_done_p50", "latency_done_p95", "latency_done_p99"]),
    ("Worker memory", ["rss_peak"]),
]
SHORT = {
    "drain_c10": "1 process at concurrency 10",
    "drain_best": "1 process at its best concurrency",
    "drain_4proc": "4 processes",
    "latency_start_p50": "p50",
    "latency_start_p95": "p95",
    "latency_start_p99": "p99",
    "latency_done_p50": "p50",
    "latency_done_p95": "p95",
    "latency_done_p99": "p99",
}

#: how asynctasq gets ahead, by family (or by family and broker): its design, not a
#: guess at the peers
WHY_AHEAD: dict[str | tuple[str, str], str] = {
    "Enqueue one by one": "the enqueue is one statement or script call on a pooled asyncio "
    "connection",
    "Enqueue from 100 concurrent callers": "concurrent `dispatch()` calls share round "
    "trips: what arrives while one is in flight goes out as one batch (group commit on SQL)",
    "Drain at default settings": "the worker claims ahead of its free slots by what they "
    "finish during a claim's round trip, so the default concurrency of 10 stays fed",
    "Enqueue in bulk": "`dispatch_many()` stores the whole batch in one round trip",
    ("Enqueue in bulk", "redis"): "`dispatch_many()` stores the whole batch in one round "
    "trip, where Celery's and Dramatiq's `group()` still send one message per job",
    "Drain no-op jobs": "a worker claims as many jobs as it has free slots in one reserve "
    "call and settles finished jobs in batches, one round trip per batch, where the peers "
    "pay one or more round trips per job",
    "I/O-bound jobs": "jobs are coroutines on one event loop and claiming and settling are "
    "batched, so 100 concurrent 10 ms awaits cost little more than the awaits",
    "CPU-bound jobs": "jobs reach the process pool as msgpack bytes while the event loop "
    "keeps claiming and settling in batches",
    "Idle latency to start": "an idle worker waits for the enqueue's signal rather than "
    "polling on a timer",
    ("Idle latency to start", "redis"): "an idle worker blocks on the queue's wake list "
    "with its claim queued behind it on the same connection, so an enqueue reaches it in "
    "one round trip",
    ("Idle latency to start", "postgres"): "an idle worker waits on LISTEN/NOTIFY and, once "
    "notified, claims with a single `FOR UPDATE SKIP LOCKED` statement",
    "Idle latency to completion": "the outcome is settled as soon as the job ends, batched "
    "only with outcomes ready at the same moment",
    "Worker memory": "the worker is one process with no per-job state beyond the job record",
}
#: what a peer's lead comes down to, by the same token
WHY_BEHIND: dict[str | tuple[str, str], str] = {
    "Enqueue one by one": "every system makes one round trip per job here, so the client's "
    "own cost per call decides: asynctasq builds a full job record (id, attempts, lease and "
    "retry fields, a msgpack payload) and sends it through the asyncio client, where a "
    "synchronous client sending a bare message does less",
    "Enqueue from 100 concurrent callers": "the batches are bounded by the round trip: a "
    "broker that answers each call faster than a batch forms leaves little to share",
    "Drain at default settings": "start-up is part of this figure: a worker that imports "
    "less reaches its first job sooner",
    "Enqueue in bulk": "the cost per job is what is written for it: asynctasq stores a full, "
    "indexed job record",
    "Drain no-op jobs": "no-op jobs measure per-job overhead only; a peer that does less per "
    "job (no lease, no fenced outcome, acknowledgement before running) can go faster",
    "I/O-bound jobs": "at concurrency 100 the worker's own overhead per job decides",
    "CPU-bound jobs": "each job crosses a process boundary both ways in both systems, so "
    "the pool's own dispatch and result path decides",
    "Idle latency to start": "between the enqueue and the start asynctasq runs a claim "
    "script that leases the job and rebuilds the task from its payload; a peer that hands "
    "the raw message to its worker starts sooner",
    "Idle latency to completion": "the outcome is written by a fenced settle script (worker "
    "and attempt checked) before the job shows as finished",
    "Worker memory": "the peer's worker imports less",
}


@dataclass
class Finding:
    key: str
    verdict: Verdict
    mine: Summary
    best_peer: str
    theirs: Summary

    @property
    def factor(self) -> float:
        return self.mine.median / self.theirs.median if self.theirs.median else float("inf")


def judge(results: Results, ours: str, peers: list[str], key: str) -> Finding | None:
    mine = results.summary(ours, key)
    theirs = {p: s for p in peers if (s := results.summary(p, key)) is not None}
    if mine is None or not theirs:
        return None
    sign = 1 if BY_KEY[key].better == "higher" else -1
    best = max(theirs, key=lambda p: sign * theirs[p].median)
    other = theirs[best]
    if mine.high < other.low or other.high < mine.low:
        clear_ahead = sign * (mine.median - other.median) > 0
        verdict: Verdict = "ahead" if clear_ahead else "behind"
    else:
        verdict = "level"
    return Finding(key, verdict, mine, best, other)


def _value(value: float, scenario: Scenario) -> str:
    if scenario.unit == "jobs/s":
        return f"{value:,.0f} {scenario.unit}"
    return f"{value:.2f} {scenario.unit}" if value < 10 else f"{value:,.1f} {scenario.unit}"


def _phrase(f: Finding) -> str:
    scenario = BY_KEY[f.key]
    label = SHORT.get(f.key, "")
    prefix = f"{label}: " if label else ""
    return (
        f"{prefix}{_value(f.mine.median, scenario)} against {f.best_peer}'s "
        f"{_value(f.theirs.median, scenario)}"
    )


def _why(table: dict[str | tuple[str, str], str], family: str, broker: str) -> str:
    return table.get((family, broker)) or table[family]


def _broker_reading(results: Results, broker: str) -> list[str]:
    ours = results.ours_for(broker)
    peers = [s for s in results.ordered_systems(broker) if s != ours]
    title = {"redis": "Redis", "postgres": "PostgreSQL"}.get(broker, broker)
    if not peers:
        return []
    if ours is None:
        reason = results.skipped.get(f"asynctasq-{broker}", "it was not part of this run")
        return [f"**{title}**: asynctasq was not measured ({reason}), so there are no ratios."]
    lines = [f"**{title}** (asynctasq as {ours}; the best peer named for each figure):", ""]
    for family, keys in FAMILIES:
        findings = [f for k in keys if (f := judge(results, ours, peers, k)) is not None]
        if not findings:
            continue
        parts = []
        for verdict in ("ahead", "level", "behind"):
            chosen = [_phrase(f) for f in findings if f.verdict == verdict]
            if chosen:
                head = {"ahead": "ahead of every peer", "level": "level with the best peer",
                        "behind": "behind"}[verdict]  # fmt: skip
                parts.append(f"{head} ({'; '.join(chosen)})")
        verdicts = {f.verdict for f in findings}
        why = [_why(WHY_AHEAD, family, broker)] if "ahead" in verdicts else []
        why += [_why(WHY_BEHIND, family, broker)] if "behind" in verdicts else []
        because = f" Why: {'; '.join(why)}." if why else ""
        lines.append(f"- {family}: {', '.join(parts)}.{because}")
    return lines


def reading(results: Results) -> str:
    machine = results.machine
    cores = float(machine.get("cores", 1))
    lines: list[str] = []
    busiest = max(float(machine.get("load_start", 0)), float(machine.get("load_end", 0)))
    if busiest > cores:
        lines += [
            f"> The machine was busy while these figures were taken (load average up to "
            f"{busiest:.1f} on {cores:.0f} cores): they are noisy. Rerun `make bench` on a "
            "quiet machine before comparing closely.",
            "",
        ]
    if results.budget.get("runs", 0) < 3:
        lines += ["> Fewer than 3 runs: a smoke run, not figures to compare.", ""]
    for broker in results.brokers():
        part = _broker_reading(results, broker)
        if part:
            lines += [*part, ""]
    return "\n".join(lines).rstrip()
