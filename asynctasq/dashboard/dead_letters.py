"""The dead-letter page (GET ``/dead-letters``): each queue's failed jobs grouped by
task and error type, with counts, largest first; each group links to its jobs on the
queue's page (filtered by state, task and error type: retry or remove them all
there). The counts are exact where the broker aggregates them (SQL, memory); on a
broker that cannot, the newest jobs are counted and the page says how many of how
many (asynctasq/operations/dead_letters.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse

from asynctasq.dashboard.context import Context
from asynctasq.dashboard.html import esc, link, table
from asynctasq.dashboard.pages import render
from asynctasq.drivers.capabilities import FAILED_GROUPS_BUDGET
from asynctasq.drivers.overviews import NO_KIND
from asynctasq.operations import QueueDeadLetters, dead_letter_groups

__all__ = ["dead_letters"]

HEADERS = ["Queue", "Task", "Error type", "Jobs"]
#: failed jobs read per queue where the broker cannot count them all in one step
BUDGET = FAILED_GROUPS_BUDGET


async def dead_letters(request: Request, ctx: Context) -> HTMLResponse:
    driver = await ctx.driver()
    root = Context.root(request)
    queues = await dead_letter_groups(driver, budget=BUDGET)
    groups = sorted((g for q in queues for g in q.groups), key=lambda g: -g.count)
    rows = [
        [
            link(root, g.queue, "queues", g.queue, state="failed"),
            link(root, g.task, "queues", g.queue, state="failed", task=g.task),
            esc(g.kind),
            link(
                root,
                f"{g.count:,}",
                "queues",
                g.queue,
                state="failed",
                task=g.task,
                q=None if g.kind == NO_KIND else g.kind,
            ),
        ]
        for g in groups
    ]
    body = table(HEADERS, rows, "No dead letters.") + "".join(_partial(q) for q in queues)
    return render(ctx, request, "Dead letters", body)


def _partial(q: QueueDeadLetters) -> str:
    """Where the broker counted only the newest failed jobs of a queue: say so."""
    if q.exact:
        return ""
    return (
        f'<p class="note" data-partial="{esc(q.queue)}">Queue {esc(q.queue)}: counted the '
        f"newest {q.counted:,} of {q.total:,} failed jobs (this broker cannot count them "
        "all at once).</p>"
    )
