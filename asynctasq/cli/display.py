"""How the monitoring commands print: rich tables and colours at a terminal, JSON
when piped (or with --json), plain text at a terminal without rich."""

from __future__ import annotations

import json
import sys
from typing import Any, Literal, TextIO

__all__ = ["Mode", "choose_mode", "print_json", "rich_console"]

Mode = Literal["json", "rich", "plain"]


def choose_mode(force_json: bool, stream: TextIO | None = None) -> Mode:
    stream = stream or sys.stdout
    if force_json or not stream.isatty():
        return "json"
    try:
        import rich  # noqa: F401
    except ImportError:
        return "plain"
    return "rich"


def print_json(value: Any, stream: TextIO | None = None) -> None:
    """One JSON document on one line, flushed: a reader sees it at once."""
    stream = stream or sys.stdout
    stream.write(json.dumps(value, default=str, separators=(",", ":")) + "\n")
    stream.flush()


def rich_console() -> Any:
    from rich.console import Console

    return Console(highlight=False)
