"""Each Redis script carries only the parts of _prelude.lua it uses (prelude.py):
Redis runs a script's whole text on every call."""

from __future__ import annotations

import re

from asynctasq.drivers.redis.prelude import prelude_for
from asynctasq.drivers.redis.scripts import LUA_DIR, SCRIPTS

PRELUDE = (LUA_DIR / "_prelude.lua").read_text("utf-8")
DEFINED = re.compile(r"^local\s+(?:function\s+)?([A-Za-z_][\w, ]*?)\s*(?:=|\()", re.MULTILINE)


def _defined(lua: str) -> set[str]:
    return {n.strip() for names in DEFINED.findall(lua) for n in names.split(",")}


def test_a_script_carries_only_the_prelude_it_uses() -> None:
    pause = SCRIPTS["pause"].source.decode()
    assert "local function parents_ended" not in pause
    assert "local function promote" not in pause
    reserve = SCRIPTS["reserve"].source.decode()
    for needed in ("promote", "read", "decode", "bury", "finish", "wake", "parents_ended"):
        assert f"local function {needed}(" in reserve, needed
    assert len(reserve) < len(PRELUDE) + len((LUA_DIR / "reserve.lua").read_text("utf-8"))


def test_every_prelude_name_a_script_mentions_is_defined_in_it() -> None:
    in_prelude = _defined(PRELUDE)
    assert {"block", "decode", "NKEYS", "STORED", "ltype", "floor"} <= in_prelude
    for name, script in SCRIPTS.load_all().items():  # (standalone ones too: nothing of it)
        source = script.source.decode()
        mentioned = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source)) & in_prelude
        assert mentioned <= _defined(source), (name, sorted(mentioned - _defined(source)))


def test_statements_keep_the_prelude_order_and_what_they_need() -> None:
    prelude = (
        "-- header\n"
        "local A, B = 1, 2\n"
        "local function f(x)\n  return x + A\nend\n"
        "local T = {\n  f = true,\n}\n"
        "local function g() return B end\n"
    )
    assert prelude_for(prelude, "return f(1)") == (
        "local A, B = 1, 2\nlocal function f(x)\n  return x + A\nend"
    )
    assert prelude_for(prelude, "return 1") == ""
    assert "local T" in prelude_for(prelude, "return T")
