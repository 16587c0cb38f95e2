"""The schedules page (GET ``/schedules``): every schedule with its next fire time,
and pause/resume/run-now buttons that post to ``actions.schedule_action``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse

from asynctasq.dashboard.context import Context
from asynctasq.dashboard.html import button, esc, link, path, table, when
from asynctasq.dashboard.pages import render
from asynctasq.drivers.capabilities import CapabilityMissing
from asynctasq.operations.schedules import list_schedules
from asynctasq.schedules import Schedule

__all__ = ["schedules"]

HEADERS = ["Schedule", "Task", "Queue", "Cron / every", "Timezone", "Next run", "Status", ""]


async def schedules(request: Request, ctx: Context) -> HTMLResponse:
    driver = await ctx.driver()
    root = Context.root(request)
    try:
        found = await list_schedules(driver)
    except CapabilityMissing as exc:
        # a page, not an error: the nav links here whatever the broker
        note = (
            '<p class="empty" id="unsupported">'
            f"Schedules are not supported by the {esc(exc.driver)} driver.</p>"
        )
        return render(ctx, request, "Schedules", note)
    rows = [_row(ctx, root, s) for s in sorted(found, key=lambda s: s.next_at)]
    return render(ctx, request, "Schedules", table(HEADERS, rows, "No schedules."))


def _row(ctx: Context, root: str, s: Schedule) -> list[str]:
    when_text = f"cron {s.cron}" if s.cron is not None else f"every {s.every:g}s"
    status = "paused" if s.paused else "active"
    return [
        esc(s.id),
        esc(s.task),
        link(root, s.queue, "queues", s.queue),
        esc(when_text),
        esc(s.timezone),
        when(s.next_at),
        f'<span class="state {status}" data-schedule="{esc(s.id)}">{status}</span>',
        _actions(ctx, s),
    ]


def _actions(ctx: Context, s: Schedule) -> str:
    if ctx.read_only:
        return ""
    csrf, here = ctx.guard.csrf_token(), "schedules/" + path(s.id)
    toggle = (
        button(f"{here}/resume", "Resume", csrf, confirm=f"Resume schedule {s.id}?")
        if s.paused
        else button(f"{here}/pause", "Pause", csrf, confirm=f"Pause schedule {s.id}?")
    )
    run = button(f"{here}/run-now", "Run now", csrf, confirm=f"Enqueue one job of {s.id} now?")
    return f'<div class="actions">{toggle}{run}</div>'
