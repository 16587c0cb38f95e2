"""Flags that mirror settings: each flag's help names the variable behind it, and a
flag given on the command line overrides that variable."""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

from asynctasq.config import Config, env_var

__all__ = ["add_setting", "config_from_args"]

_FIELDS = {f.name: f for f in dataclasses.fields(Config)}


def add_setting(
    parser: argparse.ArgumentParser, flag: str, setting: str, help: str | None = None, **kw: Any
) -> None:
    """``--flag`` for a Config field; its value stays a string until Config parses it."""
    field = _FIELDS[setting]
    default = field.default if field.default is not dataclasses.MISSING else None
    if isinstance(default, tuple):
        default = ",".join(default)
    text = help or field.metadata["help"]
    parser.add_argument(
        flag,
        dest=f"setting__{setting}",
        metavar=kw.pop("metavar", setting.upper()),
        help=f"{text} [env: {env_var(setting)}; default: {default}]",
        **kw,
    )


def config_from_args(args: argparse.Namespace) -> Config:
    """Environment (and .env) first, then the flags given on the command line."""
    given = {
        env_var(key.removeprefix("setting__")): str(value)
        for key, value in vars(args).items()
        if key.startswith("setting__") and value is not None
    }
    return Config.from_env({**os.environ, **given})
