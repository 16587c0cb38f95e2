"""The flows page (GET ``/flows``): stored flows newest first, a page at a time, each
with its jobs counted by state, linking to its own page.

The flow page (GET ``/flows/{id}``): a flow's DAG drawn as an SVG, each job a box in
the colour of its state linking to its page, arrows from parents to children; and
the same jobs as a table (keyboard and screen readers).

Layout: a job's column is its depth (the longest path from a job of the flow without
parents in it), its row the order it was added among that column's jobs. The edges
are each job's ``depends_on`` read from the broker; a parent outside the flow is
listed in the table, not drawn.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import HTMLResponse

from asynctasq.dashboard.context import Context
from asynctasq.dashboard.html import esc, link, path, table, when
from asynctasq.dashboard.pages import render
from asynctasq.drivers.capabilities import CapabilityMissing, Inspection, require
from asynctasq.flow import FlowJob, get_flow
from asynctasq.jobs import Job
from asynctasq.operations import list_flows

__all__ = ["flow_page", "flows_page", "layout"]

#: most jobs drawn: a bigger flow is listed as a table only
DRAWN = 300
BOX_W, BOX_H, GAP_X, GAP_Y = 170, 40, 60, 16
HEADERS = ["Job", "Name", "State", "Parents", "Error"]
#: flows a page of the flows list shows
FLOWS_PAGE = 50
LIST_HEADERS = ["Flow", "Name", "Jobs", "States", "Created"]


async def flows_page(request: Request, ctx: Context) -> HTMLResponse:
    driver = await ctx.driver()
    root = Context.root(request)
    try:
        listing = await list_flows(
            driver, limit=FLOWS_PAGE, cursor=request.query_params.get("cursor") or None
        )
    except CapabilityMissing as exc:
        # a page, not an error: the nav links here whatever the broker
        note = (
            '<p class="empty" id="unsupported">'
            f"Flows are not supported by the {esc(exc.driver)} driver.</p>"
        )
        return render(ctx, request, "Flows", note)
    except ValueError as exc:  # a cursor edited by hand
        return render(ctx, request, "Flows", f"<p>{esc(exc)}</p>", 400)
    rows = [
        [
            link(root, f["flow_id"], "flows", f["flow_id"]),
            esc(f["name"] or ""),
            f'<span data-jobs="{esc(f["flow_id"])}">{esc(f["jobs"])}</span>',
            " ".join(
                f'<span class="state {esc(state)}">{esc(state)}: {esc(n)}</span>'
                for state, n in f["states"].items()
            ),
            when(f["created_at"]),
        ]
        for f in listing.flows
    ]
    body = table(LIST_HEADERS, rows, "No flows (or all were forgotten after the retention).")
    if listing.next_cursor:
        onward = link(root, "Next page", "flows", cursor=listing.next_cursor)
        body += f'<p class="pager">{onward}</p>'
    return render(ctx, request, "Flows", body)


async def flow_page(request: Request, ctx: Context) -> HTMLResponse:
    driver = await ctx.driver()
    root = Context.root(request)
    flow_id = request.path_params["id"]
    members = await get_flow(flow_id, backend=driver)
    title = f"Flow {flow_id}"
    if not members:
        note = (
            '<p class="empty" id="unknown-flow">No such flow (or it was forgotten after '
            "the result retention).</p>"
        )
        return render(ctx, request, title, note, status=404)
    inspect = require(driver, Inspection, "the flow page")
    jobs = await asyncio.gather(*(inspect.get(m.job_id) for m in members))
    parents = {m.job_id: _parents(job) for m, job in zip(members, jobs, strict=True)}
    label = {m.job_id: m.name or m.job_id[:13] for m in members}
    counts: dict[str, int] = {}
    for m in members:
        state = _state(m)
        counts[state] = counts.get(state, 0) + 1
    summary = ", ".join(f"{n} {esc(state)}" for state, n in sorted(counts.items()))
    body = f'<p id="flow-summary">{len(members)} jobs: {summary}.</p>'
    if len(members) <= DRAWN:
        body += _svg(root, members, parents, label)
    else:
        body += f'<p class="empty">{len(members)} jobs: too many to draw; the table lists them.</p>'
    rows = [
        [
            link(root, m.job_id, "jobs", m.job_id),
            esc(m.name or ""),
            f'<span class="state {esc(_state(m))}">{esc(_state(m))}</span>',
            ", ".join(esc(label.get(p, p)) for p in parents[m.job_id]),
            esc((m.error or "").splitlines()[0] if m.error else ""),
        ]
        for m in members
    ]
    return render(ctx, request, title, body + table(HEADERS, rows, "No jobs."))


def _state(member: FlowJob) -> str:
    return "forgotten" if member.state is None else member.state.value


def _parents(job: Job | None) -> list[str]:
    return [] if job is None else list(job.depends_on)


def layout(order: list[str], parents: dict[str, list[str]]) -> dict[str, tuple[int, int]]:
    """job id -> (column, row): column = depth among the flow's jobs, row = order of
    addition within the column. Parents outside ``order`` are ignored; a parent named
    later than its child (it cannot be: add_flow refuses cycles) counts as depth 0."""
    inside = set(order)
    depth: dict[str, int] = {}
    for job_id in order:  # a flow's jobs are stored parents first
        depth[job_id] = 1 + max(
            (depth.get(p, 0) for p in parents.get(job_id, []) if p in inside), default=-1
        )
    rows: dict[int, int] = {}
    placed = {}
    for job_id in order:
        column = depth[job_id]
        placed[job_id] = (column, rows.get(column, 0))
        rows[column] = rows.get(column, 0) + 1
    return placed


def _svg(
    root: str, members: list[FlowJob], parents: dict[str, list[str]], label: dict[str, str]
) -> str:
    order = [m.job_id for m in members]
    at = layout(order, parents)
    width = (max(c for c, _ in at.values()) + 1) * (BOX_W + GAP_X)
    height = (max(r for _, r in at.values()) + 1) * (BOX_H + GAP_Y)

    def box(job_id: str) -> tuple[int, int]:
        column, row = at[job_id]
        return column * (BOX_W + GAP_X), row * (BOX_H + GAP_Y)

    lines = []
    for job_id in order:
        cx, cy = box(job_id)
        for parent in parents.get(job_id, []):
            if parent in at:
                px, py = box(parent)
                lines.append(
                    f'<line x1="{px + BOX_W}" y1="{py + BOX_H // 2}" x2="{cx}" '
                    f'y2="{cy + BOX_H // 2}" marker-end="url(#arrow)"/>'
                )
    nodes = []
    for m in members:
        x, y = box(m.job_id)
        state = _state(m)
        href = esc(root + path("jobs", m.job_id))
        name = label[m.job_id]
        nodes.append(
            f'<a href="{href}" class="node {esc(state)}" data-job="{esc(m.job_id)}">'
            f"<title>{esc(name)}: {esc(state)}</title>"
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
            f'<text x="{x + 8}" y="{y + 17}">{esc(name[:22])}</text>'
            f'<text x="{x + 8}" y="{y + 33}" class="sub">{esc(state)}</text></a>'
        )
    return (
        f'<div class="scroll"><svg class="dag" role="img" aria-label="the flow\'s jobs and '
        f'their dependencies" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
        f'<g class="edges">{"".join(lines)}</g>{"".join(nodes)}</svg></div>'
    )
