"""The tables: on stdout (rich) and as the peers section of docs/benchmarks.md."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.peers import ENTRIES
from benchmarks.suite.extras import EXTRAS, RSS_JOBS
from benchmarks.suite.plan import BEST_FROM, BULK_CHUNK, CALLERS, SCENARIOS, WARM_UP, Scenario
from benchmarks.suite.reading import reading
from benchmarks.suite.results import Results
from benchmarks.suite.targets import MET, TARGETS, targets_table

BROKER_TITLES = {
    "redis": "Redis",
    "postgres": "PostgreSQL",
    "mysql": "MySQL / MariaDB (asynctasq alone)",
    "sqlite": "SQLite (asynctasq alone)",
}
MARKERS = ("<!-- section:peers -->", "<!-- /section:peers -->")


def number(value: float, unit: str) -> str:
    if unit == "jobs/s":
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def cell(results: Results, system: str, scenario: Scenario, newline: str) -> str:
    s = results.summary(system, scenario.key)
    if s is None:
        return "n/a"
    text = f"{number(s.median, scenario.unit)}"
    if s.runs > 1:
        text += f" ({number(s.low, scenario.unit)}-{number(s.high, scenario.unit)})"
    if s.capped or (s.planned and s.done and min(s.done) < s.planned):
        text += " †"
    ratio = results.ratio(system, scenario.key)
    if ratio is not None:
        text += f"{newline}x{ratio_text(ratio)} {_arrow(results, scenario, ratio)}"
    return text


def ratio_text(ratio: float) -> str:
    if ratio >= 10:
        return f"{ratio:,.0f}"
    return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.2g}"


def _arrow(results: Results, scenario: Scenario, ratio: float) -> str:
    if abs(ratio - 1) < 0.005:
        return "="
    return "▲" if results.ours_better(scenario.key, ratio) else "▼"


def rows(results: Results, broker: str) -> tuple[list[str], list[list[str]]]:
    systems = results.ordered_systems(broker)
    header = ["scenario", *(_title(results, s) for s in systems)]
    body = []
    for scenario in SCENARIOS:
        cells = [cell(results, s, scenario, "\n") for s in systems]
        if all(c == "n/a" for c in cells):
            continue
        body.append([f"{scenario.title} ({scenario.unit})", *cells])
    return header, body


def _title(results: Results, system: str) -> str:
    version = results.systems[system].get("version", "")
    return f"{system} {version}".strip()


def print_tables(results: Results, console: Console | None = None) -> None:
    console = console or Console(width=220)
    for broker in results.brokers():
        header, body = rows(results, broker)
        table = Table(title=f"{BROKER_TITLES.get(broker, broker)}: median (min-max)")
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i == 0 else "right")
        for row in body:
            table.add_row(*row)
        console.print(table)
    if results.extras:
        table = Table(title="asynctasq alone: median (min-max)")
        table.add_column("figure")
        table.add_column("asynctasq", justify="right")
        for row in extras_rows(results):
            table.add_row(*row)
        console.print(table)
    table = Table(title="the issues' speed targets (benchmarks/suite/targets.py)")
    for name in ("issue", "target", "figure", "met"):
        table.add_column(name)
    for issue, target, check in TARGETS:
        verdict = check(results)
        table.add_row(str(issue), target, verdict.figure, MET[verdict.met])
    console.print(table)
    console.print(_legend(results))
    for name, why in results.skipped.items():
        console.print(f"[yellow]skipped {name}[/]: {why}")
    for error in results.errors:
        console.print(
            f"[red]error[/] {error['system']} run {error['run']} {error['key']}: {error['message']}"
        )


def _legend(results: Results) -> str:
    return (
        "xr = asynctasq ÷ peer (medians from the same sitting); ▲ asynctasq better, ▼ worse. "
        f"† = time cap reached: fewer than the planned jobs or probes were measured "
        f"(cap: {results.budget.get('drain_cap')} s per drain, "
        f"{results.budget.get('enqueue_cap')} s per enqueue step, "
        f"{results.budget.get('latency_cap')} s of latency probes)."
    )


def markdown_table(results: Results, broker: str) -> str:
    header, body = rows(results, broker)
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    lines += ["| " + " | ".join(c.replace("\n", "<br>") for c in row) + " |" for row in body]
    return "\n".join(lines)


def extras_rows(results: Results) -> list[list[str]]:
    """[figure, median (min-max)] of asynctasq's own figures (extras.py)."""
    rows = []
    for key, (title, unit, _) in EXTRAS.items():
        values = results.extras.get(key)
        if not values:
            continue
        text = number(statistics.median(values), unit)
        if len(values) > 1:
            text += f" ({number(min(values), unit)}-{number(max(values), unit)})"
        rows.append([f"{title} ({unit})", text])
    return rows


def extras_table(results: Results) -> str:
    lines = ["| figure | asynctasq |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in extras_rows(results)]
    return "\n".join(lines)


def settings_table(results: Results) -> str:
    lines = [
        "| system | version | broker namespace | bulk enqueue | worker concurrency | "
        "settings that differ from its defaults |",
        "|---|---|---|---|---|---|",
    ]
    for name in results.ordered_systems():
        d, entry = results.systems[name], ENTRIES[name]
        if entry.redis_db is not None:
            namespace = f"Redis database {entry.redis_db}"
        elif entry.ours:
            namespace = {
                "redis": "key prefix",
                "postgres": "schema",
                "mysql": "database",
                "sqlite": "temporary file",
            }[entry.broker]
        else:
            namespace = "own database"
        concurrency = (
            f"fixed at {d['fixed_concurrency']}"
            if d.get("fixed_concurrency")
            else f"10 / best {d['best_concurrency']}"
        )
        bulk = f"`{d['bulk_api']}`" if d.get("bulk_api") else "none (n/a)"
        settings = "; ".join(d.get("settings", [])) or "none"
        lines.append(
            f"| {name} | {d.get('version', '?')} | {namespace} | {bulk} | {concurrency} | "
            f"{settings} |"
        )
    return "\n".join(lines)


def method(results: Results) -> str:
    b = results.budget
    return "\n".join(
        [
            f"- N = {b['jobs']:,}; {b['runs']} runs, interleaved (run 1 of every system, then "
            "run 2, ...) so each ratio compares runs of the same sitting. Every worker is the "
            "system's own CLI in a subprocess; every client call is its public API.",
            f"- Enqueue: up to N jobs one by one, and up to N in bulk calls of {BULK_CHUNK:,}, "
            f"each for at most {b['enqueue_cap']} s, after {WARM_UP} enqueues that are not timed "
            "(every system alike: a web app dispatches from a warm process). Those jobs stay "
            "queued for the first drain.",
            f"- Enqueue from {CALLERS} concurrent callers: {CALLERS} coroutines of one process "
            "each enqueue one job at a time, up to N in all, as the handlers of a busy ASGI "
            "app do (a synchronous client runs them one after the other).",
            "- Drain at default settings: N fresh jobs, then the worker as a user starts it: "
            "asynctasq's `python -m asynctasq worker --queues Q` with no other flag but the "
            "jobs' module (a peer: its worker at concurrency 10); the rate counts from the "
            "launch of the worker to its last job, start-up included. The `--processes 2` and "
            "1-process rows run the same default worker and count like the other drains.",
            "- Drain: jobs are queued first (not timed), then the worker starts. Every job "
            "appends its finishing time to a local file (microseconds, no broker round trip); "
            "the rate counts the jobs finished between the 5th and the 95th percentile of "
            "those times over that span, so worker start-up and the last stragglers do not "
            f"count. A drain measures for at most {b['drain_cap']} s. It queues N jobs, or, "
            "for a system that cannot run N in that time, about 1.5 times what its earlier "
            "drains say it can: jobs it would never reach would only cost time to queue.",
            "- Best concurrency: the concurrency at which one worker process of the system "
            f"drained fastest in `{BEST_FROM}` (see the table below; "
            "`benchmarks/suite/plan.py` says how it was chosen).",
            "- Idle latency: sequential jobs, each sent after an idle gap of 2 ms plus a "
            "random share of the previous latency (so a worker that polls on a timer is "
            f"sampled at random phases); up to {b['latency_jobs']} jobs or "
            f"{b['latency_cap']} s. *Start*: from the enqueue call to the job body starting. "
            "*Completion*: from the enqueue call to the system's public API reporting the job "
            "finished (a status or result lookup, polled every 0.2 ms).",
            "- I/O-bound: each job awaits `asyncio.sleep(0.01)` (`time.sleep(0.01)` in "
            f"thread-based workers). CPU-bound: up to {b['cpu_jobs']:,} jobs of a fixed "
            "pure-Python loop (~5 ms), one pool process per core.",
            "- Memory: the peak resident set (VmHWM) of every process of the worker, summed, "
            "during the drain at concurrency 10.",
            "- Every system runs with its defaults except the settings listed above (arq, for "
            "one, keeps its 0.5 s poll). On PostgreSQL the queued jobs' tables are ANALYZEd "
            "before each drain: a table just emptied and refilled otherwise keeps an empty "
            "table's planner statistics until autovacuum comes by, which slowed one peer "
            "tenfold.",
            "- Redis peers each own a database number (9-15), emptied with FLUSHDB before "
            "and after each step while the suite runs: keep no data there. PostgreSQL peers "
            "each get a database created and dropped by the run; asynctasq uses a key prefix "
            "or a schema of its own.",
        ]
    )


def section(results: Results, charts: list[Path], doc: Path) -> str:
    m = results.machine
    parts = [
        MARKERS[0],
        "## Against the Python peers",
        "",
        f"Regenerated by `make bench` (here `{results.command.strip()}`). "
        f"Machine: {_machine_line(m)}.",
        "",
        "Each figure is the median of the runs with (min-max); xr under a peer is asynctasq ÷ "
        "that peer, ▲ where asynctasq is better, ▼ where it is worse; † marks a step that hit "
        "its time cap (see *How it is measured*).",
        "",
        "### Reading",
        "",
        reading(results),
    ]
    parts += [
        "",
        "### The issues' speed targets",
        "",
        "Each target of issues 15 and 17 beside its figure from this run "
        "(`benchmarks/suite/targets.py`).",
        "",
        targets_table(results),
    ]
    for broker in results.brokers():
        parts += [
            "",
            f"### {BROKER_TITLES.get(broker, broker)}",
            "",
            markdown_table(results, broker),
        ]
    if results.extras:
        parts += [
            "",
            "### asynctasq alone",
            "",
            "Measured in the same sitting by `benchmarks/suite/extras.py` (the memory "
            "broker's drain is the worker's own ceiling: no broker cost; the RSS is "
            "`python -m asynctasq worker` on Redis with its defaults, over "
            f"{RSS_JOBS:,} jobs in full runs).",
            "",
            extras_table(results),
        ]
    if charts:
        parts += ["", "### Charts", ""]
        parts += [f"![{p.stem}]({_relative(p, doc)})" for p in charts]
    parts += ["", "### Systems and settings", "", settings_table(results)]
    parts += ["", "### How it is measured", "", method(results)]
    if results.skipped or results.errors:
        parts += ["", "### Not measured", ""]
        parts += [f"- {name}: {why}" for name, why in results.skipped.items()]
        parts += [
            f"- {e['system']}, run {e['run']}, {e['key']}: {e['message'].splitlines()[0]}"
            for e in results.errors
        ]
    parts.append(MARKERS[1])
    return "\n".join(parts)


def _machine_line(m: dict[str, object]) -> str:
    start, end = float(m["load_start"]), float(m["load_end"])  # type: ignore[arg-type]
    busy = max(start, end) > float(m["cores"])  # type: ignore[arg-type]
    verdict = (
        "above the core count: other work competed with the benchmark"
        if busy
        else "at or below the core count: the benchmark had the machine to itself"
    )
    return (
        f"{m['cores']} cores ({m['cpu']}), {float(m['memory_gib']):.0f} GiB, {m['system']}; "  # type: ignore[arg-type]
        f"Python {m['python']}; Redis {m['redis']}; PostgreSQL {m['postgres']}; load average "
        f"{start:.1f} at the start and {end:.1f} at the end ({verdict})"
    )


def _relative(path: Path, doc: Path) -> str:
    try:
        return str(path.resolve().relative_to(doc.resolve().parent))
    except ValueError:
        return str(path.resolve())


def write_section(doc: Path, text: str) -> None:
    """Replace what lies between the peers markers, leaving the rest of the file alone."""
    current = doc.read_text() if doc.exists() else f"# Benchmarks\n\n{MARKERS[0]}\n{MARKERS[1]}\n"
    pattern = re.compile(re.escape(MARKERS[0]) + r".*?" + re.escape(MARKERS[1]), re.DOTALL)
    if not pattern.search(current):
        current = current.rstrip("\n") + f"\n\n{MARKERS[0]}\n{MARKERS[1]}\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(pattern.sub(lambda _: text, current, count=1))
