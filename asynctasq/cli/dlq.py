"""``asynctasq dlq list|retry``: the dead letters (jobs in state failed), the
shorthands an operator looks for first."""

from __future__ import annotations

import argparse

from asynctasq.cli.admin import Output, Subparsers, add_broker_options, example, run_operation
from asynctasq.cli.job import print_bulk, print_jobs
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection, require
from asynctasq.jobs import JobState
from asynctasq.operations import (
    BulkResult,
    JobFilter,
    job_summary,
    list_jobs,
    retry_matching,
)

__all__ = ["add_parser"]


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "dlq",
        help="list or retry dead-lettered (failed) jobs",
        description="Dead letters: jobs that used all their attempts (state failed).",
        **example("asynctasq dlq list", "asynctasq dlq retry --all --queue email"),
    )
    sub = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = sub.add_parser(
        "list",
        help="dead letters, newest first",
        description="Failed jobs, newest first: of one queue, or of every queue.",
        **example("asynctasq dlq list --queue email --limit 20"),
    )
    _queue_flags(listing)
    listing.add_argument("--limit", type=int, default=50, help="jobs per queue [default: 50]")
    add_broker_options(listing)
    listing.set_defaults(handler=_list, command_name="dlq list")

    retry = sub.add_parser(
        "retry",
        help="retry every dead letter (of a queue, of a task)",
        description="Put the failed jobs back to pending, attempts reset.",
        **example("asynctasq dlq retry --all --queue email --dry-run"),
    )
    retry.add_argument("--all", action="store_true", required=True, help="every dead letter")
    _queue_flags(retry)
    retry.add_argument("--dry-run", action="store_true", help="count, change nothing")
    add_broker_options(retry)
    retry.set_defaults(handler=_retry, command_name="dlq retry")


def _queue_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", metavar="Q", help="this queue only [default: every queue]")
    parser.add_argument("--task", metavar="NAME", help="only jobs of this task")


async def _queues(driver: Driver, args: argparse.Namespace) -> list[str]:
    if args.queue:
        return [args.queue]
    return await require(driver, Inspection, "the dead-letter commands").queues()


def _list(args: argparse.Namespace) -> int:
    async def go(driver: Driver, out: Output) -> int:
        rows = []
        for queue in await _queues(driver, args):
            where = JobFilter(queue, JobState.FAILED, args.task)
            rows += [
                job_summary(j) for j in (await list_jobs(driver, where, limit=args.limit)).jobs
            ]
        rows.sort(key=lambda r: -(r["finished_at"] or 0.0))
        print_jobs(out, "Dead letters", rows, None)
        return 0

    return run_operation(args, go)


def _retry(args: argparse.Namespace) -> int:
    async def go(driver: Driver, out: Output) -> int:
        total = BulkResult("retry", dry_run=args.dry_run)
        progress = None if args.dry_run else out.progress("retrying")
        for queue in await _queues(driver, args):
            where = JobFilter(queue, JobState.FAILED, args.task)
            one = await retry_matching(driver, where, dry_run=args.dry_run, progress=progress)
            total.matched += one.matched
            total.done += one.done
            total.skipped += one.skipped
        return print_bulk(out, total, "retried", strict=False)

    return run_operation(args, go)
