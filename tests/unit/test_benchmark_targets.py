"""The issues' speed targets table (benchmarks/suite/targets.py) reads the run's own
figures: a verdict per target, and "n/a" for what the run did not measure."""

from __future__ import annotations

from benchmarks.suite.results import Results
from benchmarks.suite.targets import TARGETS, targets_table


def _results(samples: dict[str, dict[str, float]], extras: dict[str, list[float]]) -> Results:
    results = Results()
    for system, figures in samples.items():
        results.systems[system] = {}
        for key, value in figures.items():
            results.samples.setdefault(system, {})[key] = [{"value": value}]
    results.extras = extras
    return results


def _rows(results: Results) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in targets_table(results).splitlines()[2:]:
        _, _issue, target, figure, met, _ = line.split("|")
        rows[target.strip()] = (figure.strip(), met.strip())
    return rows


def test_each_target_is_judged_on_its_figures() -> None:
    results = _results(
        {
            "asynctasq-redis": {
                "enqueue_single": 6_000,
                "enqueue_c100": 51_000,
                "latency_start_p50": 0.4,
                "latency_start_p99": 2.0,
                "drain_p1": 10_000,
                "drain_p2": 15_000,
            },
            "huey": {"enqueue_single": 5_000, "latency_start_p50": 0.5, "latency_start_p99": 1.5},
        },
        {"memory_drain": [70_000, 90_000, 85_000], "rss_10k": [40.0], "rss_last": [43.0]},
    )
    rows = _rows(results)
    assert rows[TARGETS[0][1]] == ("6,000 jobs/s against Huey's 5,000 (x1.20)", "yes")
    assert rows[TARGETS[1][1]][1] == "yes"
    assert rows[TARGETS[6][1]][1] == "no"  # p99 2.0 above Huey's 1.5
    assert rows[TARGETS[7][1]] == ("85,000 jobs/s", "yes")  # the median of three runs
    assert rows[TARGETS[8][1]][1] == "yes"  # +7.5%
    assert rows[TARGETS[4][1]] == ("not measured in this run", "n/a")  # no PostgreSQL


def test_a_target_measured_only_in_part_is_not_met() -> None:
    results = _results({"asynctasq-postgres": {"enqueue_c100": 20_000}}, {})
    figure, met = _rows(results)[TARGETS[2][1]]
    assert figure == "PostgreSQL 20,000 (MySQL, SQLite: not measured)"
    assert met == "no"
