"""Jobs in and out of each queue per minute, counted from the event stream, and the
small inline SVG chart of them on the overview (no script, no library)."""

from __future__ import annotations

import time
from collections import defaultdict

from asynctasq.dashboard.html import esc

__all__ = ["MINUTES", "Throughput", "bars"]

#: minutes the overview's chart covers
MINUTES = 10
IN = ("task_enqueued",)
OUT = ("task_completed", "task_failed", "task_dead")


class Throughput:
    def __init__(self) -> None:
        #: (queue, minute since the epoch) -> [jobs in, jobs out]
        self._counts: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])

    def add(self, event_type: str, queue: str | None, at: float) -> None:
        if queue is None or (event_type not in IN and event_type not in OUT):
            return
        minute = int(at // 60)
        self._counts[(queue, minute)][0 if event_type in IN else 1] += 1
        if len(self._counts) > 4 * MINUTES * 64:  # now and then: forget old minutes
            oldest = minute - MINUTES
            for key in [k for k in self._counts if k[1] < oldest]:
                del self._counts[key]

    def series(self, queue: str, now: float | None = None) -> list[tuple[int, int]]:
        """(in, out) for each of the last MINUTES minutes, oldest first."""
        current = int((time.time() if now is None else now) // 60)
        counts = [self._counts.get((queue, m)) for m in range(current - MINUTES + 1, current + 1)]
        return [(c[0], c[1]) if c else (0, 0) for c in counts]


def bars(series: list[tuple[int, int]]) -> str:
    """Two bars a minute (in, out), scaled to the busiest; each says its numbers."""
    width, height, bar = MINUTES * 8, 24, 3
    top = max([1, *(n for pair in series for n in pair)])
    shapes = []
    for i, (jobs_in, jobs_out) in enumerate(series):
        ago = len(series) - 1 - i
        label = (
            f"{ago} min ago: {jobs_in} in, {jobs_out} out"
            if ago
            else (f"this minute: {jobs_in} in, {jobs_out} out")
        )
        for offset, count, kind in ((0, jobs_in, "in"), (bar, jobs_out, "out")):
            h = max(1, round(height * count / top)) if count else 0
            shapes.append(
                f'<rect class="{kind}" x="{i * 8 + offset}" y="{height - h}" '
                f'width="{bar}" height="{h}"><title>{esc(label)}</title></rect>'
            )
    total_in, total_out = (sum(p[k] for p in series) for k in (0, 1))
    summary = f"last {MINUTES} minutes: {total_in} in, {total_out} out"
    return (
        f'<svg class="chart" role="img" aria-label="{esc(summary)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">{"".join(shapes)}</svg>'
    )
