"""``asynctasq queue list|stats|pause|resume|clean|rate-limit``."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from asynctasq.cli.admin import (
    Output,
    Subparsers,
    add_broker_options,
    example,
    format_age,
    parse_state,
    run_operation,
)
from asynctasq.drivers.base import Driver
from asynctasq.operations import (
    clean_queue,
    parse_duration,
    pause_queue,
    queue_summaries,
    resume_queue,
    set_queue_rate_limit,
)
from asynctasq.operations.rate_limits import rate_limit_record

__all__ = ["add_parser", "print_queues"]

COUNTS = ("pending", "active", "scheduled", "completed", "failed", "cancelled")


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "queue",
        help="list, inspect, pause, resume or clean queues",
        description="Every queue with its counts; pause, resume, and clean old jobs.",
        **example("asynctasq queue list", "asynctasq queue pause email"),
    )
    sub = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = sub.add_parser(
        "list",
        help="every queue: counts per state, paused, oldest waiting, completed last minute",
        description="Every queue the broker knows: jobs per state, whether it is paused, "
        "how long its next pending job has waited, and jobs completed in the last minute "
        "(counted from kept completed jobs: ASYNCTASQ_KEEP_COMPLETED_TASKS).",
        **example("asynctasq queue list --json"),
    )
    add_broker_options(listing)
    listing.set_defaults(handler=_list, command_name="queue list", only=None)

    stats = sub.add_parser(
        "stats", help="one queue's numbers", description="The numbers of one queue.",
        **example("asynctasq queue stats email"),
    )  # fmt: skip
    stats.add_argument("only", metavar="QUEUE")
    add_broker_options(stats)
    stats.set_defaults(handler=_list, command_name="queue stats")

    for name, text in (("pause", "stop workers claiming the queue's jobs"),
                       ("resume", "let workers claim the queue's jobs again")):  # fmt: skip
        action = sub.add_parser(
            name, help=text, description=f"{text[0].upper()}{text[1:]}.",
            **example(f"asynctasq queue {name} email"),
        )  # fmt: skip
        action.add_argument("queue", metavar="QUEUE")
        add_broker_options(action)
        action.set_defaults(handler=_pause, verb=name, command_name=f"queue {name}")

    clean = sub.add_parser(
        "clean",
        help="delete old jobs of a state, in batches",
        description="Delete the queue's jobs in a state that finished (waiting ones: were "
        "created) more than --older-than ago, a batch at a time so the broker is never "
        "held for long.",
        **example("asynctasq queue clean email --state completed --older-than 7d --dry-run"),
    )
    clean.add_argument("queue", metavar="QUEUE")
    clean.add_argument("--state", type=parse_state, required=True, help="completed, failed, ...")
    clean.add_argument(
        "--older-than", required=True, metavar="AGE", type=parse_duration, help="e.g. 7d, 12h"
    )
    clean.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    add_broker_options(clean)
    clean.set_defaults(handler=_clean, command_name="queue clean")

    rate = sub.add_parser(
        "rate-limit",
        help="store a queue's rate limit in the broker (every worker honours it)",
        description="Store the queue's rate limit in the broker: at most --limit job starts "
        "per --interval seconds across every worker serving it (0 blocks the queue), a "
        "bucket of --burst tokens (default: the limit). Workers pick it up within seconds, "
        "however they were started. --clear removes it.",
        **example(
            "asynctasq queue rate-limit email --limit 20 --interval 1",
            "asynctasq queue rate-limit email --clear",
        ),
    )
    rate.add_argument("queue", metavar="QUEUE")
    what = rate.add_mutually_exclusive_group(required=True)
    what.add_argument("--limit", type=int, metavar="N", help="starts per interval (0 blocks)")
    what.add_argument("--clear", action="store_true", help="remove the queue's limit")
    rate.add_argument("--interval", type=float, default=1.0, metavar="SECONDS")
    rate.add_argument("--burst", type=int, default=None, metavar="N")
    add_broker_options(rate)
    rate.set_defaults(handler=_rate_limit, command_name="queue rate-limit")


def _list(args: argparse.Namespace) -> int:
    async def go(driver: Driver, out: Output) -> int:
        rows = await queue_summaries(driver, [args.only] if args.only else [])
        print_queues(out, rows)
        return 0

    return run_operation(args, go)


def print_queues(out: Output, rows: list[dict[str, Any]]) -> None:
    if out.json:
        out.data({"queues": rows, "next_cursor": None})
        return
    cells = [
        [
            r["queue"], *(str(r[c]) for c in COUNTS), "paused" if r["paused"] else "",
            format_age(r["oldest_pending_age"]), str(r["completed_last_minute"]),
            format_rate(r.get("rate_limit")),
        ]
        for r in rows
    ]  # fmt: skip
    headings = ["queue", *COUNTS, "paused", "waited", "done/min", "rate limit"]
    out.table("Queues", headings, cells)


def format_rate(limit: dict[str, Any] | None) -> str:
    """``20/1s``, ``20/1s burst 5``, ``blocked``, or empty (no limit)."""
    if limit is None:
        return ""
    if limit["limit"] == 0:
        return "blocked"
    burst = "" if limit["burst"] is None else f" burst {limit['burst']}"
    return f"{limit['limit']}/{limit['interval']:g}s{burst}"


def _rate_limit(args: argparse.Namespace) -> int:
    async def go(driver: Driver, out: Output) -> int:
        limit = None if args.clear else args.limit
        stored = await set_queue_rate_limit(
            driver, args.queue, limit, args.interval, burst=args.burst
        )
        record = rate_limit_record(stored)
        if out.json:
            out.data({"queue": args.queue, "rate_limit": record})
        elif record is None:
            out.line(f"queue {args.queue}: no rate limit")
        else:
            out.line(f"queue {args.queue}: rate limit {format_rate(record)}")
        return 0

    return run_operation(args, go)


def _pause(args: argparse.Namespace) -> int:
    act = pause_queue if args.verb == "pause" else resume_queue

    async def go(driver: Driver, out: Output) -> int:
        await act(driver, args.queue)
        done = "paused" if args.verb == "pause" else "resumed"
        if out.json:
            out.data({"queue": args.queue, "paused": args.verb == "pause"})
        else:
            out.line(f"{done} queue {args.queue}")
        return 0

    return run_operation(args, go)


def _clean(args: argparse.Namespace) -> int:
    async def go(driver: Driver, out: Output) -> int:
        result = await clean_queue(
            driver,
            args.queue,
            args.state,
            older_than=args.older_than,
            dry_run=args.dry_run,
            progress=None if args.dry_run else out.progress("cleaning"),
        )
        if out.json:
            out.data(dataclasses.asdict(result))
        elif result.dry_run:
            out.line(f"would delete {result.matched} {result.state} jobs (dry run)")
        else:
            out.line(f"deleted {result.deleted} {result.state} jobs of queue {result.queue}")
        return 0

    return run_operation(args, go)
