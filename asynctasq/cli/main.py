"""Entry point: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from asynctasq import early_gc, early_signals
from asynctasq.config import ConfigError
from asynctasq.redaction import redact

__all__ = ["console", "main"]

#: each module has add_parser(commands) and the handler it sets
COMMANDS = (
    "worker", "migrate", "publish", "events", "stats",
    "job", "queue", "dlq", "workers", "health", "watch", "completion", "dashboard",
    "schedule", "flow",
)  # fmt: skip


def _spelled(argv: list[str]) -> list[str]:
    """``worker list`` is the ``workers`` command (``worker`` alone runs a worker)."""
    if argv[:2] == ["worker", "list"]:
        return ["workers", *argv[2:]]
    return argv


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the command line, with only the command it names (a worker
    starts without importing what ``stats`` or ``events`` need)."""
    from asynctasq import __version__

    parser = argparse.ArgumentParser(
        prog="asynctasq",
        description="asynctasq: async-first background task queue. Every flag can also be set "
        "by the ASYNCTASQ_* variable shown in its help (or a .env file).",
    )
    parser.add_argument("--version", action="version", version=f"asynctasq {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    named = [a for a in (sys.argv[1:] if argv is None else argv) if a in COMMANDS][:1]
    for name in named or COMMANDS:
        importlib.import_module(f"asynctasq.cli.{name}").add_parser(commands)
    return parser


def console() -> int:
    """The ``asynctasq`` console script: ``main()`` as a process's entry point, the
    collector paused for its start-up (early_gc.py; ``python -m asynctasq`` pauses it
    in ``__main__``). A program that calls ``main()`` itself keeps its collector as it
    is."""
    early_gc.pause()
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    early_signals.install()  # the console script enters here (python -m enters earlier)
    words = _spelled(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser(words)
    args = parser.parse_args(words)
    args.argv = words  # what --processes repeats
    handler = getattr(args, "handler", None)
    if not getattr(args, "keeps_early_signals", False):
        early_signals.release()  # only a worker stops gracefully on a signal
        early_gc.resume()  # a worker resumes it at its first claim
    if handler is None:
        parser.print_help()
        return 2
    try:
        code: int = handler(args)
        return code
    except ConfigError as exc:
        print(redact(f"asynctasq: configuration error: {exc}"), file=sys.stderr)
        return 2
    except ImportError as exc:
        print(redact(f"asynctasq: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a crash prints its traceback, without the secrets in it
        print(redact("".join(traceback.format_exception(exc))), file=sys.stderr, end="")
        return 1
