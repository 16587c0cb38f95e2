"""``asynctasq publish``: write .env.example, every setting with its default."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from asynctasq.config import Config

__all__ = ["add_parser", "env_example", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "publish",
        help="write .env.example listing every setting",
        description="Write a .env.example that lists every ASYNCTASQ_* variable with its "
        "default and meaning; copy it to .env and edit.",
    )
    parser.add_argument(
        "--output", default=".env.example", help="file to write (default: %(default)s)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.set_defaults(handler=run)


def env_example() -> str:
    lines = ["# asynctasq settings. Copy to .env; the environment wins over this file.", ""]
    for field in dataclasses.fields(Config):
        meta = field.metadata
        default = field.default
        if isinstance(default, tuple):
            value = ",".join(default)
        elif default is None:
            value = ""
        elif isinstance(default, bool):
            value = str(default).lower()
        else:
            value = str(default)
        lines.append(f"# {meta['help']}")
        lines.append(f"{meta['env']}={value}")
        lines.append("")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    target = Path(args.output)
    if target.exists() and not args.force:
        print(f"{target} exists; pass --force to overwrite it")
        return 1
    target.write_text(env_example(), "utf-8")
    print(f"wrote {target} ({len(dataclasses.fields(Config))} settings)")
    return 0
