"""The actions (POST): each checks the CSRF token, calls one asynctasq.operations
function, and sends the browser back to the page with a one-line report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from asynctasq.dashboard.bulk import ACTIONS
from asynctasq.dashboard.context import Context
from asynctasq.dashboard.html import path
from asynctasq.drivers.base import Driver, DriverError
from asynctasq.errors import AsyncTasqError
from asynctasq.jobs import JobState
from asynctasq.operations import (
    BulkResult,
    JobFilter,
    cancel_jobs,
    clean_queue,
    parse_duration,
    pause_queue,
    remove_jobs,
    resume_queue,
    retry_jobs,
    retry_matching,
    show_job,
)
from asynctasq.operations.schedules import pause_schedule, resume_schedule, run_schedule_now
from asynctasq.redaction import redact

__all__ = ["bulk_action", "job_action", "queue_action", "schedule_action"]

Action = Callable[[Driver, dict[str, str]], Awaitable[str]]
#: a form of a few short fields: anything larger is no form of ours
MAX_FORM = 4096


async def _form(request: Request) -> dict[str, str]:
    """The page's url-encoded form (parsed here: no multipart library needed)."""
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


async def _run(request: Request, ctx: Context, back: str, act: Action) -> Response:
    if ctx.read_only:
        return PlainTextResponse("the dashboard is read-only", status_code=403)
    form = await _form(request)
    if not ctx.guard.csrf_ok(request, form.get("csrf")):
        return PlainTextResponse("missing or wrong CSRF token: reload the page", 403)
    try:
        report = await act(await ctx.driver(), form)
    except (AsyncTasqError, DriverError, LookupError, ValueError) as exc:
        report = redact(f"failed: {exc}")
    target = Context.root(request) + path(*back.split("/"), message=report)
    return RedirectResponse(target, status_code=303)


def _calls(operation: Callable[[Driver, str], Awaitable[None]], target: str, report: str) -> Action:
    """The action that applies ``operation`` to ``target`` and says ``report``."""

    async def act(driver: Driver, _: dict[str, str]) -> str:
        await operation(driver, target)
        return report

    return act


def _bulk(result: BulkResult, verb: str) -> str:
    text = f"{verb} {result.done} of {result.matched} job(s)"
    return text + (f"; {len(result.skipped)} refused" if result.skipped else "")


async def job_action(request: Request, ctx: Context) -> Response:
    job_id, verb = request.path_params["id"], request.path_params["action"]
    operations = {"retry": (retry_jobs, "Retried"), "cancel": (cancel_jobs, "Cancelled"),
                  "remove": (remove_jobs, "Removed")}  # fmt: skip
    if verb not in operations:
        return PlainTextResponse("unknown action", status_code=404)
    operation, past = operations[verb]

    async def act(driver: Driver, _: dict[str, str]) -> str:
        return _bulk(await operation(driver, [job_id]), past)

    # a removed job has no page left: report on its queue's
    back = f"jobs/{job_id}"
    if verb == "remove":
        found = await show_job(await ctx.driver(), job_id)
        back = f"queues/{found.queue}" if found is not None else ""
    return await _run(request, ctx, back, act)


async def queue_action(request: Request, ctx: Context) -> Response:
    name, verb = request.path_params["name"], request.path_params["action"]
    if verb == "bulk":
        return await bulk_action(request, ctx, name)

    async def retry_failed(driver: Driver, _: dict[str, str]) -> str:
        return _bulk(await retry_matching(driver, JobFilter(name, JobState.FAILED)), "Retried")

    async def clean(driver: Driver, form: dict[str, str]) -> str:
        state = JobState(form.get("state", "completed"))
        older = parse_duration(form.get("older_than", "1h"))
        result = await clean_queue(driver, name, state, older_than=older)
        return f"Deleted {result.deleted} {state.value} job(s) of queue {name}"

    actions: dict[str, Action] = {
        "pause": _calls(pause_queue, name, f"Paused queue {name}"),
        "resume": _calls(resume_queue, name, f"Resumed queue {name}"),
        "retry-failed": retry_failed, "clean": clean,
    }  # fmt: skip
    act = actions.get(verb)
    if act is None:
        return PlainTextResponse("unknown action", status_code=404)
    return await _run(request, ctx, f"queues/{name}", act)


async def schedule_action(request: Request, ctx: Context) -> Response:
    schedule_id, verb = request.path_params["id"], request.path_params["action"]

    async def run_now(driver: Driver, _: dict[str, str]) -> str:
        job_id = await run_schedule_now(driver, schedule_id)
        return f"Enqueued job {job_id} of schedule {schedule_id}"

    actions: dict[str, Action] = {
        "pause": _calls(pause_schedule, schedule_id, f"Paused schedule {schedule_id}"),
        "resume": _calls(resume_schedule, schedule_id, f"Resumed schedule {schedule_id}"),
        "run-now": run_now,
    }
    act = actions.get(verb)
    if act is None:
        return PlainTextResponse("unknown action", status_code=404)
    return await _run(request, ctx, "schedules", act)


def filter_of(queue: str, fields: dict[str, str]) -> JobFilter:
    """The queue page's filter (state, task, search, order), from its query or a
    form. The order reverses a listing of one state only (every state at once is
    read in one order: waiting jobs, then finished ones)."""
    state_text = fields.get("state") or ""
    state = JobState(state_text) if state_text in {s.value for s in JobState} else None
    text = (fields.get("q") or "").strip()
    reverse = state is not None and fields.get("order") == "reverse"
    return JobFilter(queue, state, fields.get("task") or None, text=text or None, reverse=reverse)


async def bulk_action(request: Request, ctx: Context, queue: str) -> Response:
    """Start "retry/remove every job matching the filter" in the background; answer
    with the run's page, which shows its progress live."""
    if ctx.read_only:
        return PlainTextResponse("the dashboard is read-only", status_code=403)
    form = await _form(request)
    if not ctx.guard.csrf_ok(request, form.get("csrf")):
        return PlainTextResponse("missing or wrong CSRF token: reload the page", 403)
    action, where = form.get("action", ""), filter_of(queue, form)
    if action not in ACTIONS:
        return PlainTextResponse("unknown bulk action", status_code=404)
    if where.state is None:
        report = "choose a state first: a bulk action acts on the jobs of one state"
        back = path("queues", queue, message=report)
        return RedirectResponse(Context.root(request) + back, status_code=303)
    run = ctx.bulk.start(await ctx.driver(), action, where)
    return RedirectResponse(Context.root(request) + path("bulk", run.id), status_code=303)
