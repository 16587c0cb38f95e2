"""The short reading above the tables, written from the figures themselves: where
asynctasq is ahead of every peer on a broker, where a peer beats it, and the
mechanism behind each, so the text always matches the numbers it sits on."""

from __future__ import annotations

from benchmarks.suite.plan import SCENARIOS, Scenario
from benchmarks.suite.results import Results

#: why asynctasq can lead a scenario: how it works, not a guess at the peers
WHY_AHEAD = {
    "enqueue_bulk": "`dispatch_many()` stores a whole batch in one round trip, where "
    "Celery's and Dramatiq's `group()` still send one message per job",
    "drain": "a worker claims as many jobs as it has free slots in one reserve call and "
    "settles finished jobs in batches, one round trip per batch, where the peers pay one "
    "or more round trips per job",
    "io_c100": "jobs are coroutines on one event loop, and claiming and settling are "
    "batched, so 100 concurrent 10 ms awaits cost little more than the awaits",
    "cpu_pool": "jobs reach the process pool as msgpack bytes and the event loop keeps "
    "the pool fed while it reports outcomes in batches",
    "latency": "an idle worker waits on a blocking reserve that the enqueue wakes at once, "
    "instead of polling on a timer",
    "rss_peak": "one process with no per-job bookkeeping beyond the job record",
}
#: what a peer's lead on a scenario comes down to, by the same token
WHY_BEHIND = {
    "enqueue_single": "one-by-one enqueue is one round trip per job for everyone, so the "
    "client's own cost per call decides: asynctasq builds a full job record (id, attempts, "
    "lease and retry fields) and writes it with one atomic script or statement",
    "enqueue_bulk": "in bulk the cost per job is what is written for it: asynctasq stores "
    "a full, indexed job record, some peers append a bare message to a list",
    "drain": "no-op jobs measure per-job overhead only; a peer that does less per job "
    "(no lease, no fenced outcome, acknowledgement before running) can go faster",
    "io_c100": "at concurrency 100 the worker's own overhead per job decides",
    "cpu_pool": "each job crosses a process boundary both ways in both systems; the pool's "
    "dispatch and result path decides",
    "latency": "a single job's path (enqueue, wake-up, claim, start) has more steps in "
    "asynctasq: a lease and a fenced claim",
    "rss_peak": "the peer's worker imports less",
}


def _family(key: str) -> str:
    if key.startswith("drain"):
        return "drain"
    if key.startswith("latency"):
        return "latency"
    return key


def _fmt(value: float, scenario: Scenario) -> str:
    if scenario.unit == "jobs/s":
        return f"{value:,.0f} {scenario.unit}"
    return f"{value:.2f} {scenario.unit}" if value < 10 else f"{value:,.1f} {scenario.unit}"


def _broker_reading(results: Results, broker: str) -> list[str]:
    ours = results.ours_for(broker)
    peers = [s for s in results.ordered_systems(broker) if s != ours]
    title = {"redis": "Redis", "postgres": "PostgreSQL"}.get(broker, broker)
    if not peers:
        return []
    if ours is None:
        reason = results.skipped.get(f"asynctasq-{broker}", "it was not part of this run")
        return [f"**{title}**: asynctasq was not measured ({reason}); no ratios."]
    ahead: list[str] = []
    behind: list[str] = []
    families_ahead: set[str] = set()
    families_behind: set[str] = set()
    for scenario in SCENARIOS:
        mine = results.summary(ours, scenario.key)
        theirs = {p: s for p in peers if (s := results.summary(p, scenario.key)) is not None}
        if mine is None or not theirs:
            continue
        sign = 1 if scenario.better == "higher" else -1
        better_peers = sorted(
            (p for p, s in theirs.items() if sign * (s.median - mine.median) > 0),
            key=lambda p: -sign * theirs[p].median,
        )
        if not better_peers:
            best = max(theirs, key=lambda p: sign * theirs[p].median)
            factor = mine.median / theirs[best].median if theirs[best].median else float("inf")
            ahead.append(
                f"{scenario.title}: {_fmt(mine.median, scenario)}, x{factor:.2f} the best peer "
                f"({best}, {_fmt(theirs[best].median, scenario)})"
            )
            families_ahead.add(_family(scenario.key))
        else:
            names = ", ".join(f"{p} {_fmt(theirs[p].median, scenario)}" for p in better_peers[:3])
            more = f" and {len(better_peers) - 3} more" if len(better_peers) > 3 else ""
            behind.append(f"{scenario.title}: {_fmt(mine.median, scenario)}; better: {names}{more}")
            families_behind.add(_family(scenario.key))
    lines = [f"**{title}** (asynctasq as {ours}, against {', '.join(peers)}):", ""]
    lines.append(
        "- Ahead of every peer on: " + ("; ".join(ahead) if ahead else "no scenario") + "."
    )
    lines.append("- Not ahead on: " + ("; ".join(behind) if behind else "no scenario") + ".")
    why = [WHY_AHEAD[f] for f in sorted(families_ahead) if f in WHY_AHEAD]
    why_not = [WHY_BEHIND[f] for f in sorted(families_behind) if f in WHY_BEHIND]
    if why:
        lines.append("- Why ahead: " + "; ".join(why) + ".")
    if why_not:
        lines.append("- Why not everywhere: " + "; ".join(why_not) + ".")
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
    for broker in results.brokers():
        part = _broker_reading(results, broker)
        if part:
            lines += [*part, ""]
    if results.budget.get("runs", 0) < 3:
        lines.append("Fewer than 3 runs (quick mode): a smoke run, not figures to compare.")
    return "\n".join(lines).rstrip()
