"""Where the Redis driver's Lua lives (``asynctasq/drivers/lua/``) and how its files
are told apart: read by scripts.py (EVALSHA sources) and library.py (the library of
functions)."""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["LUA_DIR", "STANDALONE", "prelude_source"]

LUA_DIR = Path(__file__).resolve().parent.parent / "lua"

#: the first line of a script that runs without any of the prelude (its own few
#: constants): the common dispatch, where even the prelude's constants cost per call
STANDALONE = "--! standalone"


@functools.cache
def prelude_source() -> str:
    """``_prelude.lua`` whole (a script gets the part of it it uses)."""
    return (LUA_DIR / "_prelude.lua").read_text("utf-8")
