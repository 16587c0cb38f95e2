"""``asynctasq job list|show|retry|cancel|remove``: find jobs, read why one failed,
replay, cancel or delete them. Every action is a function of asynctasq.operations."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from asynctasq.cli.admin import (
    Output,
    Subparsers,
    add_broker_options,
    ago,
    example,
    parse_state,
    run_operation,
)
from asynctasq.cli.options import add_setting, config_from_args
from asynctasq.drivers.base import Driver
from asynctasq.operations import (
    BulkResult,
    JobFilter,
    cancel_jobs,
    job_detail,
    job_summary,
    list_jobs,
    parse_duration,
    remove_jobs,
    remove_matching,
    retry_jobs,
    retry_matching,
    show_job,
)

__all__ = ["add_parser", "print_bulk", "print_jobs"]


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "job",
        help="list, show, retry, cancel or remove jobs",
        description="Find jobs, read why one failed, replay, cancel or delete them.",
        **example(
            "asynctasq job list --queue email --state failed",
            "asynctasq job retry --all --queue email --state failed",
        ),
    )
    sub = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    listing = sub.add_parser(
        "list",
        help="jobs of a queue, filtered, a page at a time",
        description="Jobs of a queue: waiting ones in the order workers take them, finished "
        "ones newest first. Prints next_cursor when more follow.",
        **example(
            "asynctasq job list --queue email --state failed --since 1h",
            "asynctasq job list --queue email --cursor <next_cursor> --json",
        ),
    )
    add_filters(listing)
    listing.add_argument("--limit", type=int, default=50, help="jobs per page [default: 50]")
    listing.add_argument("--cursor", help="continue from the next_cursor of a previous page")
    listing.add_argument(
        "--reverse", action="store_true", help="from the other end (with --state): finished "
        "jobs oldest first, waiting ones last to run first"
    )  # fmt: skip
    add_broker_options(listing)
    listing.set_defaults(handler=_list, command_name="job list")

    show = sub.add_parser(
        "show",
        help="everything about one job, with its traceback",
        description="State, attempts, times, worker, arguments (credentials hidden), last "
        "error and traceback, progress, result, parents.",
        **example("asynctasq job show 0190f1c2-...-4b7e"),
    )
    show.add_argument("job_id", metavar="ID")
    add_broker_options(show)
    show.set_defaults(handler=_show, command_name="job show")

    retry = sub.add_parser(
        "retry",
        help="put failed jobs back to pending, attempts reset",
        description="Retry the jobs named, or with --all every job of a queue in a state "
        "(default failed: the dead letters). A retried job keeps its id, arguments and "
        "creation time; its attempts start again from zero.",
        **example(
            "asynctasq job retry 0190f1c2-...-4b7e --queue email",
            "asynctasq job retry --all --queue email --state failed --task app.send --dry-run",
        ),
    )
    retry.add_argument("job_ids", nargs="*", metavar="ID")
    retry.add_argument("--all", action="store_true", help="every job the filters match")
    add_filters(retry)
    retry.add_argument("--dry-run", action="store_true", help="count, change nothing")
    add_broker_options(retry)
    retry.set_defaults(handler=_retry, command_name="job retry")

    for name, verb, text in (
        ("cancel", "cancel", "cancel jobs: waiting ones, and running ones where the broker can"),
        ("remove", "remove", "delete jobs (not active ones), records and all"),
    ):
        action = sub.add_parser(
            name, help=text, description=f"{text[0].upper()}{text[1:]}.",
            **example(f"asynctasq job {name} 0190f1c2-...-4b7e 0190f1c2-...-9a01"),
        )  # fmt: skip
        if name == "remove":
            action.add_argument("job_ids", nargs="*", metavar="ID")
            action.add_argument(
                "--all", action="store_true", help="every job the filters match (--state needed)"
            )
            add_filters(action)
            action.add_argument("--dry-run", action="store_true", help="count, change nothing")
        else:
            action.add_argument("job_ids", nargs="+", metavar="ID")
        add_broker_options(action)
        action.set_defaults(handler=_by_id, verb=verb, command_name=f"job {name}")


def add_filters(parser: argparse.ArgumentParser, *, state: bool = True) -> None:
    add_setting(parser, "--queue", "default_queue", metavar="Q", help="the queue")
    if state:
        parser.add_argument(
            "--state",
            type=parse_state,
            help="pending (alias waiting), scheduled, blocked, active, completed, failed, "
            "cancelled or expired",
        )
    parser.add_argument("--task", metavar="NAME", help="only jobs of this task")
    parser.add_argument(
        "--search", metavar="TEXT", help="only jobs whose id starts with TEXT, or whose task "
        "name or arguments contain it (any case)"
    )  # fmt: skip
    parser.add_argument(
        "--since", type=_duration, metavar="AGE", help="only jobs finished (else created) "
        "within AGE: 90s, 15m, 1h, 7d"
    )  # fmt: skip


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def filter_of(args: argparse.Namespace) -> JobFilter:
    """The --queue (else the default queue setting), --state, --task and --since."""
    queue = config_from_args(args).default_queue
    state = getattr(args, "state", None)
    reverse = getattr(args, "reverse", False)
    if reverse and state is None:
        raise SystemExit("asynctasq job list: --reverse needs --state")
    return JobFilter(queue, state, args.task, args.since, getattr(args, "search", None), reverse)


def _list(args: argparse.Namespace) -> int:
    where = filter_of(args)

    async def go(driver: Driver, out: Output) -> int:
        page = await list_jobs(driver, where, limit=args.limit, cursor=args.cursor)
        rows = [job_summary(job) for job in page.jobs]
        print_jobs(out, f"Jobs of queue {where.queue}", rows, page.next_cursor)
        return 0

    return run_operation(args, go)


def print_jobs(
    out: Output, title: str, rows: list[dict[str, Any]], next_cursor: str | None
) -> None:
    if out.json:
        out.data({"jobs": rows, "next_cursor": next_cursor})
        return
    cells = [
        [
            r["id"], r["task"].rsplit(".", 1)[-1], r["state"],
            f"{r['attempts']}/{r['max_attempts']}", ago(r["finished_at"] or r["created_at"]),
            (r["error"] or "")[:120],
        ]
        for r in rows
    ]  # fmt: skip
    # the task's last name and one time keep a row on one line of a terminal; --json
    # and `job show` have the rest
    headings = ["id", "task", "state", "tries", "when", "error"]
    out.table(f"{title} ({len(rows)} shown)", headings, cells)
    if next_cursor:
        out.line(f"more: --cursor {next_cursor}")


def _show(args: argparse.Namespace) -> int:
    async def go(driver: Driver, out: Output) -> int:
        job = await show_job(driver, args.job_id)
        if job is None:
            raise LookupError(f"no job {args.job_id!r} (unknown, or removed)")
        detail = job_detail(job)
        if out.json:
            out.data(detail)
            return 0
        for key, value in detail.items():
            if key in ("traceback",) or value is None:
                continue
            shown = ago(value) if key.endswith("_at") or key == "lease_until" else value
            out.line(f"{key:>14}: {shown}")
        if detail["traceback"]:
            out.line("")
            out.line(detail["traceback"])
        return 0

    return run_operation(args, go)


def _retry(args: argparse.Namespace) -> int:
    if bool(args.all) == bool(args.job_ids):
        raise SystemExit("asynctasq job retry: name job ids, or pass --all (with filters)")
    where = filter_of(args) if args.all else None

    async def go(driver: Driver, out: Output) -> int:
        progress = None if args.dry_run else out.progress("retrying")
        if where is not None:
            result = await retry_matching(driver, where, dry_run=args.dry_run, progress=progress)
        else:
            result = await retry_jobs(driver, args.job_ids, progress=progress)
        return print_bulk(out, result, "retried", strict=where is None)

    return run_operation(args, go)


def _by_id(args: argparse.Namespace) -> int:
    act = {"cancel": cancel_jobs, "remove": remove_jobs}[args.verb]
    every = getattr(args, "all", False)
    if args.verb == "remove" and bool(every) == bool(args.job_ids):
        raise SystemExit("asynctasq job remove: name job ids, or pass --all (with filters)")
    where = filter_of(args) if every else None

    async def go(driver: Driver, out: Output) -> int:
        if where is not None:
            progress = None if args.dry_run else out.progress("removing")
            result = await remove_matching(driver, where, dry_run=args.dry_run, progress=progress)
            return print_bulk(out, result, "removed", strict=False)
        result = await act(driver, args.job_ids, progress=None)
        return print_bulk(out, result, "cancelled" if args.verb == "cancel" else "removed")

    return run_operation(args, go)


def print_bulk(out: Output, result: BulkResult, done: str, *, strict: bool = True) -> int:
    """The count at the end; exit 1 (when ``strict``: the ids were named) if some
    could not be changed."""
    if out.json:
        out.data(dataclasses.asdict(result))
    elif result.dry_run:
        out.line(f"would {result.action} {result.matched} jobs (dry run: nothing changed)")
    else:
        out.line(f"{done} {result.done} jobs")
        if result.skipped:
            shown = ", ".join(result.skipped[:10]) + (" ..." if len(result.skipped) > 10 else "")
            out.line(f"not {done} ({len(result.skipped)}: unknown or in another state): {shown}")
    return 1 if strict and result.skipped else 0
