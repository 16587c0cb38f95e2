"""Where the Redis driver's Lua lives (``asynctasq/drivers/lua/``) and how its files
are told apart: read by scripts.py (EVALSHA sources) and library.py (the library of
functions)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

__all__ = ["LUA_DIR", "STANDALONE", "prelude_source", "script_sources"]

LUA_DIR = Path(__file__).resolve().parent.parent / "lua"

#: the first line of a script that runs without any of the prelude (its own few
#: constants): the common dispatch, where even the prelude's constants cost per call
STANDALONE = "--! standalone"


@functools.cache
def prelude_source() -> str:
    """``_prelude.lua`` whole (a script gets the part of it it uses)."""
    return (LUA_DIR / "_prelude.lua").read_text("utf-8")


@functools.cache
def script_sources() -> dict[str, str]:
    """Every script's own text by name (not the prelude), each file read once."""
    sources = {}
    with os.scandir(LUA_DIR) as entries:
        for entry in entries:
            name, lua = entry.name[:-4], entry.name.endswith(".lua")
            if lua and not entry.name.startswith(("_", ".")):
                with open(entry.path, encoding="utf-8") as file:
                    sources[name] = file.read()
    return sources
