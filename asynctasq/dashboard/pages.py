"""The pages (GET): each reads through asynctasq.operations and renders HTML."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from asynctasq.dashboard.actions import filter_of
from asynctasq.dashboard.bulk import describe
from asynctasq.dashboard.chart import MINUTES, bars
from asynctasq.dashboard.context import Context
from asynctasq.dashboard.html import age, button, esc, link, page, path, table, when
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Removal, WorkerRegistry
from asynctasq.jobs import JobState
from asynctasq.operations import (
    JobFilter,
    job_detail,
    job_summary,
    list_jobs,
    list_workers,
    queue_summaries,
    show_job,
)
from asynctasq.operations.queues import RATE_SCAN

__all__ = ["bulk_run", "job", "overview", "queue", "render", "workers"]

COUNTS = ("pending", "scheduled", "active", "completed", "failed", "cancelled")
#: jobs a page of the queue lists
PAGE_SIZE = 50
#: most jobs one page of a search (task, text) reads before it answers with what it
#: found and a link to search further (a search of a million jobs, a page at a time)
SEARCH_BUDGET = 5000
RETRYABLE = {"failed", "cancelled", "expired"}
CANCELLABLE = {"pending", "scheduled", "blocked"}


def render(
    ctx: Context, request: Request, title: str, body: str, status: int = 200
) -> HTMLResponse:
    html = page(
        Context.root(request),
        title,
        body,
        message=request.query_params.get("message"),
        live=ctx.hub.enabled,
    )
    return HTMLResponse(html, status_code=status)


async def overview(request: Request, ctx: Context) -> HTMLResponse:
    driver = await ctx.driver()
    root = Context.root(request)
    queues = await queue_summaries(driver, estimate=True)
    rows = []
    for q in queues:
        name = q["queue"]
        done = ctx.hub.rates.per_second(name, "task_completed")
        failed = ctx.hub.rates.per_second(name, "task_failed")
        rows.append(
            [
                link(root, name, "queues", name),
                *(count_cell(q, c) for c in COUNTS),
                "paused" if q["paused"] else "running",
                esc(age(q["oldest_pending_age"])),
                esc(_per_minute(q["completed_last_minute"])),
                esc(f"{done:.2f} / {failed:.2f}") if ctx.hub.enabled else "-",
                bars(ctx.hub.throughput.series(name)) if ctx.hub.enabled else "-",
            ]
        )
    headers = [
        "Queue", *COUNTS, "Status", "Oldest waiting", "Done last min", "Done/s / failed/s",
        f"In / out, last {MINUTES} min",
    ]  # fmt: skip
    alive = [w for w in await _workers(driver) if w["status"] == "alive"]
    body = table(headers, rows, "No queues yet.") + (
        f"<p>{link(root, f'{len(alive)} live worker(s)', 'workers')}</p>"
    )
    return render(ctx, request, "Overview", body)


def _per_minute(count: int | None) -> str:
    # counted no further than RATE_SCAN: that many means "at least"
    return "-" if count is None else f"{count:,}+" if count >= RATE_SCAN else str(count)


def _count_text(q: dict[str, Any], state: str) -> str:
    word = q.get("approximate", {}).get(state)
    return f"{word} {q[state]:,}" if word else str(q[state])


def count_cell(q: dict[str, Any], state: str) -> str:
    """A queue's count of ``state``: an estimate (a state of very many jobs, on a
    broker that estimates rather than counts it) reads "about 1,000,000"."""
    n = q[state]
    if state in q.get("approximate", {}):
        tip = "an estimate of the database's planner, not a count"
        return f'<span data-count="{state}" title="{tip}">{esc(_count_text(q, state))}</span>'
    return f'<span data-count="{state}">{esc(n)}</span>'


async def _workers(driver: Driver) -> list[dict[str, Any]]:
    """The workers, or none when the broker keeps no registry (pages still render)."""
    return await list_workers(driver) if isinstance(driver, WorkerRegistry) else []


async def queue(request: Request, ctx: Context) -> HTMLResponse:
    driver = await ctx.driver()
    root = Context.root(request)
    name = request.path_params["name"]
    params = request.query_params
    where = filter_of(name, dict(params))
    state_text = where.state.value if where.state else ""
    search = where.text or ""
    (summary,) = await queue_summaries(driver, [name], estimate=True)

    controls = _queue_actions(ctx, name, summary["paused"])
    counts = " ".join(
        link(root, f"{c}: {_count_text(summary, c)}", "queues", name, state=c) for c in COUNTS
    )
    form = (
        f'<form method="get" class="filters" role="search">'
        f'<label>Search <input name="q" type="search" size="30" value="{esc(search)}" '
        'placeholder="id, task, arguments or error"></label>'
        f'<label>Task <input name="task" value="{esc(where.task)}"></label>'
        f'<label>State <select name="state"><option value="">any</option>'
        + "".join(
            f"<option{' selected' if s.value == state_text else ''}>{esc(s.value)}</option>"
            for s in JobState
        )
        + "</select></label>"
        '<label>Order <select name="order">'
        '<option value="">newest or next first</option>'
        f'<option value="reverse"{" selected" if where.reverse else ""}>'
        "oldest or last first</option>"
        "</select></label><button>Search</button></form>"
    )
    found = await show_job(driver, search) if search else None
    if found is not None and found.queue == name:  # a whole job id: that job
        jobs, next_cursor, note = [found], None, ""
    else:
        try:
            listing = await list_jobs(
                driver, where, limit=PAGE_SIZE, cursor=params.get("cursor") or None,
                scan_budget=SEARCH_BUDGET,
            )  # fmt: skip
        except ValueError as exc:  # a cursor of another listing (a link edited by hand)
            return render(ctx, request, f"Queue {name}", f"<p>{esc(exc)}</p>", 400)
        jobs, next_cursor = listing.jobs, listing.next_cursor
        filtered = where.task is not None or where.text is not None
        short = filtered and next_cursor is not None and len(jobs) < PAGE_SIZE
        note = (
            f'<p class="note">Searched {SEARCH_BUDGET:,} jobs for this page; the rest are '
            "searched a page at a time (Search further).</p>"
            if short
            else ""
        )
    rows = [_job_row(root, job_summary(j)) for j in jobs]
    more = ""
    if next_cursor:
        label = "Search further" if note else "Next page"
        onward = link(
            root, label, "queues", name, state=state_text, task=where.task, q=search,
            order="reverse" if where.reverse else None, cursor=next_cursor,
        )  # fmt: skip
        more = f'<p class="pager">{onward}</p>'
    status = "paused" if summary["paused"] else "running"
    body = (
        f'<p>Status: <strong id="queue-status">{status}</strong></p>{controls}'
        f"<p>{counts}</p>{form}{_bulk_actions(ctx, driver, where)}{note}"
        + table(["Job", "Task", "State", "Attempts", "Created", "Error"], rows, "No jobs match.")
        + more
    )
    return render(ctx, request, f"Queue {name}", body)


def _bulk_actions(ctx: Context, driver: Driver, where: JobFilter) -> str:
    """Retry or remove every job the filter shown matches (a state chosen), in the
    background with its progress on a page of its own."""
    if ctx.read_only or where.state is None:
        return ""
    csrf, state = ctx.guard.csrf_token(), where.state.value
    fields = {"state": state, "task": where.task or "", "q": where.text or ""}
    what = describe(where)
    buttons = []
    if state in RETRYABLE:
        buttons.append(
            button(f"{path(where.queue)}/bulk", "Retry all matching", csrf,
                   confirm=f"Retry every one of the {what}?", fields={**fields, "action": "retry"})
        )  # fmt: skip
    if isinstance(driver, Removal) and state != "active":
        buttons.append(
            button(f"{path(where.queue)}/bulk", "Remove all matching", csrf,
                   confirm=f"Delete every one of the {what} for good?",
                   fields={**fields, "action": "remove"})
        )  # fmt: skip
    return f'<div class="actions bulk">{"".join(buttons)}</div>' if buttons else ""


async def bulk_run(request: Request, ctx: Context) -> HTMLResponse:
    """A bulk action's page: what it acts on, its progress (live), its report."""
    root = Context.root(request)
    run = ctx.bulk.get(request.path_params["id"])
    if run is None:
        gone = "<p>No such bulk action: it never ran here, or the dashboard restarted.</p>"
        return render(ctx, request, "Bulk action not found", gone, 404)
    s = run.snapshot()
    total = run.matched if run.phase != "selecting" else 0
    bar = (
        f'<progress id="bulk-progress" max="{max(total, 1)}" value="{run.done}">'
        f"{run.done}</progress>"
    )
    status = {
        "selecting": f"Selecting: {run.read:,} jobs read, {run.matched:,} match",
        "running": f"{run.done:,} of {run.matched:,} done",
        "done": run.report,
        "failed": run.report,
    }[run.phase]
    stream = "" if run.finished else f' data-stream="{esc(root + path("bulk", run.id, "stream"))}"'
    w = run.where
    shown = link(
        root, describe(w), "queues", w.queue, state=w.state.value if w.state else None,
        task=w.task, q=w.text,
    )  # fmt: skip
    body = (
        f'<section id="bulk" data-phase="{esc(run.phase)}"{stream}>'
        f"<p>{esc(str(s['action']).capitalize())} every one of the {shown}.</p>"
        f'<p>{bar} <span id="bulk-status" role="status">{esc(status)}</span></p>'
        "</section>"
    )
    return render(ctx, request, f"Bulk {run.action}", body)


def _queue_actions(ctx: Context, name: str, paused: bool) -> str:
    if ctx.read_only:
        return ""
    csrf = ctx.guard.csrf_token()
    here = path(name)  # the forms post relative to /queues/<name>
    toggle = (
        button(f"{here}/resume", "Resume", csrf, confirm=f"Resume queue {name}?")
        if paused
        else button(f"{here}/pause", "Pause", csrf, confirm=f"Pause queue {name}?")
    )
    clean = (
        f'<form method="post" action="{esc(here)}/clean" class="action" '
        f'data-confirm="{esc(f"Delete old jobs of queue {name}?")}">'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
        '<label>Clean <select name="state"><option>completed</option><option>failed</option>'
        "<option>cancelled</option><option>expired</option></select></label> "
        '<label>older than <input name="older_than" value="1h" size="5"></label> '
        "<button>Clean</button></form>"
    )
    retry_all = button(
        f"{here}/retry-failed", "Retry all failed", csrf,
        confirm=f"Retry every failed job of queue {name}?",
    )  # fmt: skip
    return f'<div class="actions">{toggle}{retry_all}{clean}</div>'


def _job_row(root: str, job: dict[str, Any]) -> list[str]:
    return [
        link(root, job["id"][:8], "jobs", job["id"]),
        esc(job["task"]),
        f'<span class="state {esc(job["state"])}">{esc(job["state"])}</span>',
        esc(f"{job['attempts']}/{job['max_attempts']}"),
        when(job["created_at"]),
        esc(job["error"]),
    ]


async def job(request: Request, ctx: Context) -> HTMLResponse:
    driver = await ctx.driver()
    root = Context.root(request)
    job_id = request.path_params["id"]
    found = await show_job(driver, job_id)
    if found is None:
        gone = (
            f"<p>No job {esc(job_id)}: it never existed, was removed, or finished on a broker "
            "that keeps no finished jobs (ASYNCTASQ_KEEP_COMPLETED_TASKS).</p>"
        )
        return render(ctx, request, "Job not found", gone, 404)
    d = job_detail(found)
    progress, state = d["progress"], esc(d["state"])
    facts = [
        ("Id", esc(d["id"])),
        ("Task", esc(d["task"])),
        ("Queue", link(root, d["queue"], "queues", d["queue"])),
        ("State", f'<strong id="job-state" class="state {state}">{state}</strong>'),
        ("Attempts", esc(f"{d['attempts']}/{d['max_attempts']}")),
        ("Priority", esc(d["priority"])),
        ("Created", when(d["created_at"])),
        ("Runs at", when(d["run_at"])),
        ("Finished", when(d["finished_at"])),
        ("Worker", esc(d["worker_id"])),
        (
            "Progress",
            "-" if progress is None
            else f'<progress max="1" value="{esc(progress)}">{esc(progress)}</progress>',
        ),
        ("Parents", " ".join(link(root, p[:8], "jobs", p) for p in d["parents"]) or "-"),
        ("Flow", _flow_link(root, d)),
    ]  # fmt: skip
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in facts)
    sections = [f"<dl>{dl}</dl>", _job_actions(ctx, d, removable=isinstance(driver, Removal))]
    sections.append(f"<h2>Arguments</h2><pre>{esc(_pretty(d['args']))}</pre>")
    if d["options"]:
        sections.append(f"<h2>Options</h2><pre>{esc(_pretty(d['options']))}</pre>")
    if d["payload_error"]:
        sections.append(f"<p>Undecodable payload: {esc(d['payload_error'])}</p>")
    if d["error"]:
        sections.append(f'<h2>Error</h2><p id="job-error">{esc(d["error"])}</p>')
    if d["traceback"]:
        sections.append(f'<h2>Traceback</h2><pre id="traceback">{esc(d["traceback"])}</pre>')
    if d["result"] is not None:
        sections.append(f"<h2>Result</h2><pre>{esc(_pretty(d['result']))}</pre>")
    return render(ctx, request, f"Job {d['task']}", "".join(sections))


def _flow_link(root: str, d: dict[str, Any]) -> str:
    """The job's flow (and its name there), linking to the flow's page."""
    if not d["flow_id"]:
        return "-"
    href = esc(root + path("flows", d["flow_id"]))
    text = d["flow_id"] + (f" ({d['flow_name']})" if d["flow_name"] else "")
    return f'<a href="{href}" id="job-flow">{esc(text)}</a>'


def _job_actions(ctx: Context, d: dict[str, Any], *, removable: bool) -> str:
    if ctx.read_only:
        return ""
    csrf, job_id, state = ctx.guard.csrf_token(), path(d["id"]), d["state"]
    buttons = []
    if state in RETRYABLE:
        buttons.append(button(f"{job_id}/retry", "Retry", csrf, confirm="Retry this job?"))
    if state in CANCELLABLE:
        buttons.append(button(f"{job_id}/cancel", "Cancel", csrf, confirm="Cancel this job?"))
    if removable and state != "active":
        buttons.append(
            button(f"{job_id}/remove", "Remove", csrf, confirm="Delete this job for good?")
        )
    return f'<div class="actions">{"".join(buttons)}</div>'


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=repr)


async def workers(request: Request, ctx: Context) -> HTMLResponse:
    driver = await ctx.driver()
    rows = [
        [
            esc(w["worker_id"]),
            esc(w["host"]),
            esc(w["pid"]),
            esc(", ".join(w["queues"])),
            esc(f"{w['active']}/{w['concurrency']}"),
            esc(age(w["uptime"])),
            f'<span class="state {esc(w["status"])}">{esc(w["status"])}</span>',
        ]
        for w in await _workers(driver)
    ]
    headers = ["Worker", "Host", "PID", "Queues", "Running", "Uptime", "Status"]
    return render(ctx, request, "Workers", table(headers, rows, "No workers have reported."))
