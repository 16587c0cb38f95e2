"""``asynctasq flow list``: the flows stored in the broker (FlowProducer, canvas),
newest first, each with its jobs counted by state."""

from __future__ import annotations

import argparse

from asynctasq.cli.admin import Output, Subparsers, add_broker_options, ago, example, run_operation
from asynctasq.drivers.base import Driver
from asynctasq.operations import list_flows

__all__ = ["add_parser"]


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "flow",
        help="list the flows (FlowProducer, chain, group, chord)",
        description="The flows stored in the broker.",
        **example("asynctasq flow list", "asynctasq flow list --json"),
    )
    sub = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = sub.add_parser(
        "list", help="flows newest first, with their jobs counted by state",
        description="Flows newest first: id, name (its first named job's), jobs, their "
        "states, when added. Prints next_cursor when more follow.",
        **example("asynctasq flow list --limit 20", "asynctasq flow list --cursor <next_cursor>"),
    )  # fmt: skip
    listing.add_argument("--limit", type=int, default=50, help="flows per page [default: 50]")
    listing.add_argument("--cursor", help="continue from the next_cursor of a previous page")
    add_broker_options(listing)
    listing.set_defaults(handler=_list, command_name="flow list")


def _list(args: argparse.Namespace) -> int:
    async def go(driver: Driver, out: Output) -> int:
        page = await list_flows(driver, limit=args.limit, cursor=args.cursor)
        if out.json:
            out.data({"flows": page.flows, "next_cursor": page.next_cursor})
            return 0
        cells = [
            [
                f["flow_id"], f["name"] or "", str(f["jobs"]),
                " ".join(f"{state}:{n}" for state, n in f["states"].items()),
                ago(f["created_at"]),
            ]
            for f in page.flows
        ]  # fmt: skip
        headings = ["flow", "name", "jobs", "states", "added"]
        out.table(f"Flows ({len(page.flows)} shown)", headings, cells)
        if page.next_cursor:
            out.line(f"more: --cursor {page.next_cursor}")
        return 0

    return run_operation(args, go)
