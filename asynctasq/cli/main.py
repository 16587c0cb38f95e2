"""Entry point: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from asynctasq.config import ConfigError

__all__ = ["main"]

#: each module has add_parser(commands) and the handler it sets
COMMANDS = ("worker", "migrate", "publish", "events", "stats")


def build_parser() -> argparse.ArgumentParser:
    from asynctasq import __version__

    parser = argparse.ArgumentParser(
        prog="asynctasq",
        description="asynctasq: async-first background task queue. Every flag can also be set "
        "by the ASYNCTASQ_* variable shown in its help (or a .env file).",
    )
    parser.add_argument("--version", action="version", version=f"asynctasq {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"asynctasq.cli.{name}").add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        code: int = handler(args)
        return code
    except ConfigError as exc:
        print(f"asynctasq: configuration error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"asynctasq: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
