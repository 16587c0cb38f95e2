"""PNG charts of the figures (matplotlib, no display needed): bars at the median with
min-max whiskers, asynctasq in its own colour, one panel per scenario."""

from __future__ import annotations

from pathlib import Path

from benchmarks.peers import ENTRIES
from benchmarks.suite.plan import BY_KEY
from benchmarks.suite.results import Results

OURS, PEER = "#d9480f", "#868e96"
GROUPS = {
    "peers-throughput.png": (
        "Throughput, jobs/s (higher is better)",
        ["enqueue_single", "enqueue_bulk", "drain_c10", "drain_best", "drain_4proc", "io_c100"],
    ),
    "peers-latency.png": (
        "Idle latency, ms (lower is better)",
        ["latency_start_p50", "latency_start_p99", "latency_done_p50", "latency_done_p99"],
    ),
    "peers-cpu-memory.png": (
        "CPU-bound jobs and worker memory",
        ["cpu_pool", "rss_peak"],
    ),
}


def draw(results: Results, folder: Path) -> list[Path]:
    """Write the charts that have data into ``folder``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, (title, keys) in GROUPS.items():
        keys = [k for k in keys if any(results.summary(s, k) for s in results.systems)]
        if not keys:
            continue
        columns = 3 if len(keys) > 4 else 2
        rows = -(-len(keys) // columns)
        fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 0.4 * 11 * rows + 1))
        flat = list(axes.flat) if hasattr(axes, "flat") else [axes]
        for ax, key in zip(flat, keys, strict=False):
            _panel(ax, results, key)
        for ax in flat[len(keys) :]:
            ax.set_visible(False)
        fig.suptitle(f"{title}: median of {results.budget.get('runs', '?')} runs, min-max")
        fig.tight_layout()
        path = folder / filename
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def _panel(ax: object, results: Results, key: str) -> None:
    scenario = BY_KEY[key]
    names, medians, lows, highs, colours = [], [], [], [], []
    for system in results.ordered_systems():
        s = results.summary(system, key)
        if s is None:
            continue
        names.append(system + (" †" if s.capped else ""))
        medians.append(s.median)
        lows.append(s.median - s.low)
        highs.append(s.high - s.median)
        colours.append(OURS if ENTRIES[system].ours else PEER)
    positions = list(range(len(names)))[::-1]  # first system on top
    ax.barh(positions, medians, xerr=[lows, highs], color=colours, capsize=3)  # type: ignore[attr-defined]
    ax.set_yticks(positions, names, fontsize=8)  # type: ignore[attr-defined]
    ax.set_title(f"{scenario.title} ({scenario.unit})", fontsize=9)  # type: ignore[attr-defined]
    if medians and max(medians) > 20 * max(min(medians), 1e-9):
        ax.set_xscale("log")  # type: ignore[attr-defined]
    ax.tick_params(axis="x", labelsize=8)  # type: ignore[attr-defined]
    ax.grid(axis="x", alpha=0.3)  # type: ignore[attr-defined]
