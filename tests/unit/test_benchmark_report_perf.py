"""The `make bench` report renders every system the suite knows, every scenario and
asynctasq's own figures: a full run must not die at its last step on a broker or a
row the report has not heard of. No speed is measured here."""

from __future__ import annotations

from pathlib import Path

from benchmarks.peers import ENTRIES
from benchmarks.suite import report
from benchmarks.suite.extras import EXTRAS
from benchmarks.suite.plan import SCENARIOS
from benchmarks.suite.results import Results


def every_figure() -> Results:
    results = Results(
        command="python -m benchmarks",
        machine={"cores": 2, "cpu": "x", "memory_gib": 1, "system": "Linux", "python": "3.11",
                 "redis": "7", "postgres": "15", "load_start": 0.1, "load_end": 0.2},
        budget={"jobs": 20_000, "runs": 3, "latency_jobs": 500, "cpu_jobs": 1000,
                "enqueue_cap": 1.0, "drain_cap": 2.0, "latency_cap": 3.5},
    )  # fmt: skip
    for name, entry in ENTRIES.items():
        results.systems[name] = {
            "version": "1.0",
            "bulk_api": "bulk()" if entry.ours else None,
            "best_concurrency": 10,
            "settings": ["defaults"],
            "supervisor": entry.ours,
        }
        for run in (1, 2, 3):
            for scenario in SCENARIOS:
                if scenario.key.startswith("latency"):
                    continue
                value = 1000.0 + run if scenario.unit == "jobs/s" else 1.0 + run
                results.add(name, run, {"event": "result", "key": scenario.key, "value": value})
            results.add(
                name,
                run,
                {"event": "result", "key": "latency", "start_ms": [1.0, 2.0],
                 "done_ms": [2.0, 3.0], "of": 2},
            )  # fmt: skip
    results.extras = {key: [1.0, 2.0, 3.0] for key in EXTRAS}
    return results


def test_the_section_names_every_broker_scenario_and_extra(tmp_path: Path) -> None:
    results = every_figure()
    text = report.section(results, [], tmp_path / "benchmarks.md")
    for title in report.BROKER_TITLES.values():
        assert f"### {title}" in text
    for scenario in SCENARIOS:
        assert f"| {scenario.title} ({scenario.unit}) |" in text, scenario.key
    for title, unit, _ in EXTRAS.values():
        assert f"| {title} ({unit}) | 2" in text, title
    for name in ENTRIES:
        assert f"| {name} | 1.0 |" in text  # every system in the settings table
    report.print_tables(results)  # the terminal tables too
