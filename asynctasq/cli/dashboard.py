"""``asynctasq dashboard``: serve the web UI (asynctasq/dashboard) with uvicorn."""

from __future__ import annotations

import argparse
import sys

from asynctasq.cli.admin import Subparsers, add_broker_options, example
from asynctasq.cli.options import add_setting, config_from_args

__all__ = ["add_parser"]


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "dashboard",
        help="serve the live web dashboard",
        description="Serve the dashboard: queues, jobs, workers and dead letters, live, with "
        "retry/cancel/remove and pause/resume/clean. Off the loopback interface it refuses to "
        "start without a token.",
        **example(
            "asynctasq dashboard",
            "ASYNCTASQ_DASHBOARD_TOKEN=s3cret asynctasq dashboard --host 0.0.0.0 --port 8080",
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    add_setting(parser, "--token", "dashboard_token", metavar="TOKEN")
    parser.add_argument("--read-only", action="store_true", help="show everything, allow no action")
    add_broker_options(parser, json=False)  # it prints no records
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    try:  # the dashboard extra: imported only by this command
        from asynctasq.dashboard import create_app, is_loopback
        from asynctasq.dashboard.serve import serve
    except ImportError as exc:
        raise ImportError(
            f"the dashboard needs its extra: pip install 'asynctasq[dashboard]' ({exc})"
        ) from exc

    config = config_from_args(args)
    if not config.dashboard_token and not is_loopback(args.host):
        print(
            f"asynctasq: refusing to serve the dashboard on {args.host} without "
            "authentication: set ASYNCTASQ_DASHBOARD_TOKEN or --token (or listen on 127.0.0.1)",
            file=sys.stderr,
        )
        return 2
    app = create_app(config=config, url=args.url, read_only=args.read_only)
    print(f"asynctasq dashboard on http://{args.host}:{args.port}/", file=sys.stderr)
    serve(app, args.host, args.port)
    return 0
