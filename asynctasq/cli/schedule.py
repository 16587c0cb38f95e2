"""``asynctasq schedule list|pause|resume|remove|run-now``: the schedules (repeatable
and cron jobs) stored in the broker."""

from __future__ import annotations

import argparse

from asynctasq.cli.admin import Output, Subparsers, add_broker_options, example, run_operation
from asynctasq.drivers.base import Driver
from asynctasq.operations.schedules import (
    list_schedules,
    pause_schedule,
    remove_schedule,
    resume_schedule,
    run_schedule_now,
    schedule_record,
)

__all__ = ["add_parser"]

_ACTIONS = {
    "pause": ("stop firing a schedule", pause_schedule, "paused"),
    "resume": ("fire a paused schedule again", resume_schedule, "resumed"),
    "remove": ("delete a schedule (jobs it enqueued stay)", remove_schedule, "removed"),
}


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "schedule",
        help="list, pause, resume, remove or run now the repeatable and cron schedules",
        description="The schedules stored in the broker, with their next fire times.",
        **example("asynctasq schedule list", "asynctasq schedule run-now nightly-report"),
    )
    sub = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = sub.add_parser(
        "list", help="every schedule and its next fire time (UTC)",
        description="Every schedule: task, queue, cron or interval, paused, next fire time.",
        **example("asynctasq schedule list --json"),
    )  # fmt: skip
    add_broker_options(listing)
    listing.set_defaults(handler=_list, command_name="schedule list")
    for name, (text, _, _) in _ACTIONS.items():
        action = sub.add_parser(
            name, help=text, description=f"{text[0].upper()}{text[1:]}.",
            **example(f"asynctasq schedule {name} nightly-report"),
        )  # fmt: skip
        action.add_argument("schedule", metavar="SCHEDULE")
        add_broker_options(action)
        action.set_defaults(handler=_act, verb=name, command_name=f"schedule {name}")
    now = sub.add_parser(
        "run-now", help="enqueue one job of a schedule now (its next slot is unchanged)",
        description="Enqueue one job of the schedule now, outside its slots.",
        **example("asynctasq schedule run-now nightly-report"),
    )  # fmt: skip
    now.add_argument("schedule", metavar="SCHEDULE")
    add_broker_options(now)
    now.set_defaults(handler=_run_now, command_name="schedule run-now")


def _list(args: argparse.Namespace) -> int:
    async def go(driver: Driver, out: Output) -> int:
        rows = [schedule_record(s) for s in await list_schedules(driver)]
        if out.json:
            out.data({"schedules": rows})
            return 0
        cells = [
            [r["id"], r["task"], r["queue"], r["cron"] or f"every {r['every']:g}s",
             r["timezone"], "paused" if r["paused"] else "", r["next_run"]]
            for r in rows
        ]  # fmt: skip
        headings = ["schedule", "task", "queue", "when", "timezone", "paused", "next run (UTC)"]
        out.table("Schedules", headings, cells)
        return 0

    return run_operation(args, go)


def _act(args: argparse.Namespace) -> int:
    _, act, done = _ACTIONS[args.verb]

    async def go(driver: Driver, out: Output) -> int:
        await act(driver, args.schedule)
        if out.json:
            out.data({"schedule": args.schedule, "action": args.verb})
        else:
            out.line(f"{done} schedule {args.schedule}")
        return 0

    return run_operation(args, go)


def _run_now(args: argparse.Namespace) -> int:
    async def go(driver: Driver, out: Output) -> int:
        job_id = await run_schedule_now(driver, args.schedule)
        if out.json:
            out.data({"schedule": args.schedule, "job_id": job_id})
        else:
            out.line(f"enqueued job {job_id} of schedule {args.schedule}")
        return 0

    return run_operation(args, go)
