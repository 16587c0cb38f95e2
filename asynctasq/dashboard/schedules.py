"""The schedules page (GET ``/schedules``): every schedule with its next fire time,
its last run (the job of the slot before the next: its id is derived from the
schedule and the slot, so no run history is needed), and pause/resume/run-now
buttons that post to ``actions.schedule_action``."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import HTMLResponse

from asynctasq.dashboard.context import Context
from asynctasq.dashboard.html import button, esc, link, path, table, when
from asynctasq.dashboard.pages import render
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import CapabilityMissing, Inspection, Results
from asynctasq.operations.schedules import list_schedules
from asynctasq.schedules import Schedule, slot_job_id

__all__ = ["schedules"]

HEADERS = [
    "Schedule",
    "Task",
    "Queue",
    "Cron / every",
    "Timezone",
    "Next run",
    "Last run",
    "Status",
    "",
]


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
    ordered = sorted(found, key=lambda s: s.next_at)
    last = await _last_runs(driver, ordered)
    rows = [_row(ctx, root, s, last.get(s.id)) for s in ordered]
    return render(ctx, request, "Schedules", table(HEADERS, rows, "No schedules."))


async def _last_runs(driver: Driver, found: list[Schedule]) -> dict[str, tuple[str, float, str]]:
    """schedule id -> (job id, slot, state) of the job that fired the slot before its
    next one, where the broker still knows it (a completed job not kept is known by
    its remembered outcome, with Results)."""
    slots = {s.id: s.slot_before(s.next_at) for s in found if s.next_at}
    ids = {schedule_id: slot_job_id(schedule_id, slot) for schedule_id, slot in slots.items()}
    states: dict[str, str] = {}
    if isinstance(driver, Inspection):
        jobs = await asyncio.gather(*(driver.get(job_id) for job_id in ids.values()))
        states = {job.id: job.state.value for job in jobs if job is not None}
    unknown = [job_id for job_id in ids.values() if job_id not in states]
    if unknown and isinstance(driver, Results):
        for job_id, outcome in (await driver.job_outcomes(unknown)).items():
            states[job_id] = outcome.state.value
    return {
        schedule_id: (job_id, slots[schedule_id], states[job_id])
        for schedule_id, job_id in ids.items()
        if job_id in states
    }


def _row(ctx: Context, root: str, s: Schedule, last: tuple[str, float, str] | None) -> list[str]:
    when_text = f"cron {s.cron}" if s.cron is not None else f"every {s.every:g}s"
    status = "paused" if s.paused else "active"
    return [
        esc(s.id),
        esc(s.task),
        link(root, s.queue, "queues", s.queue),
        esc(when_text),
        esc(s.timezone),
        when(s.next_at),
        _last(root, s, last),
        f'<span class="state {status}" data-schedule="{esc(s.id)}">{status}</span>',
        _actions(ctx, s),
    ]


def _last(root: str, s: Schedule, last: tuple[str, float, str] | None) -> str:
    if last is None:
        return "-"  # not fired yet, or its job is gone
    job_id, slot, state = last
    href = esc(root + path("jobs", job_id))
    return (
        f'<a href="{href}" data-last-run="{esc(s.id)}">{when(slot)}</a> '
        f'<span class="state {esc(state)}">{esc(state)}</span>'
    )


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
