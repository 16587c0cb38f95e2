"""The Lua scripts as one Redis Functions library (Redis 7+: ``FUNCTION LOAD``, ``FCALL``).

A script called by EVALSHA runs its prelude's top level again on every call: some
forty closures over the prelude's constants and functions, built and dropped, about
24 µs of Redis per call on the benchmark machine where the whole of an empty claim's
own work is 6 (docs/benchmarks.md, "where the rest of the time goes"). A batch pays it
once for hundreds of jobs; a single call (an idle worker's claim, one job's settle, a
renewal, a delayed or unique dispatch) pays it whole. In a library the prelude is
built once per server, and each script is a function over it.

How the library is made from the same files (nothing is written twice):

- Redis 7.0 runs a library's top level with no standard library (``type`` and
  ``math`` are not there yet), so the prelude and the scripts are the body of
  ``build()``, which the first call of any of the library's functions runs;
- a script's ``KEYS`` and ``ARGV`` become locals of ``build()`` that each call sets
  (``begin``), with the prelude's per-call state (``declared``, ``built``,
  ``indexed``: caches of one call) fresh, as a script's new run has them;
- each script's body becomes ``function(keys, args) begin(keys, args) <body> end``,
  registered as ``<library>_<script>``. Lua 5.1 allows a function 60 upvalues and 200
  locals: the bodies use at most about 30 of the prelude's names
  (tests/drivers/test_redis_functions.py loads the library on a real server).

The library's name carries a hash of its text, so two versions of asynctasq on one
server each call their own. Not in it: the standalone script (nothing to save) and
the inspection scripts (INSPECTION: they must answer a server out of memory).
"""

from __future__ import annotations

import functools
import hashlib

from asynctasq.drivers.redis.lua_files import STANDALONE, prelude_source, script_sources

__all__ = ["INSPECTION", "PER_CALL_STATE", "Library", "library", "library_scripts"]

#: the prelude's tables that hold one call's state (a script's run starts with them
#: empty): made anew by every function call of the library
PER_CALL_STATE = ("declared", "built", "indexed")

#: scripts that read for an operator or a result waiter (stats, listings, a job, its
#: outcome, the live workers) and stay on EVALSHA: a server out of memory refuses a
#: function without flags before it starts, but lets a script read (and free). They
#: must answer most when the server is full; a flag of "no-writes" would not do, as
#: any of them may dead-letter a corrupt record it meets
INSPECTION = frozenset({"get", "list", "list_from", "stats", "outcomes", "peek", "workers"})


class Library:
    """The library's name, its source (for ``FUNCTION LOAD``) and its functions (script
    name -> the name of its function). A plain class: a dataclass is compiled from
    source when defined, about 4 M instructions of a worker's start-up."""

    __slots__ = ("functions", "name", "source")

    def __init__(self, name: str, source: str, functions: dict[str, str]) -> None:
        self.name, self.source, self.functions = name, source, functions


@functools.cache
def library_scripts() -> frozenset[str]:
    """The scripts of the library: those that use the prelude, but INSPECTION. A
    standalone one (``--! standalone``: the common dispatch) has no prelude to save,
    and its EVALSHA is a few µs cheaper than a function call, which also makes the
    per-call state anew."""
    return frozenset(
        name
        for name, own in script_sources().items()  # (SCRIPTS would also cut and hash each)
        if name not in INSPECTION and not own.startswith(STANDALONE)
    )


@functools.cache
def library() -> Library:
    names = sorted(library_scripts())
    parts = [
        "local function build()",
        "local KEYS, ARGV",
        prelude_source(),
        "local function begin(keys, args)",
        "  KEYS, ARGV = keys, args",
        f"  {', '.join(PER_CALL_STATE)} = {', '.join('{}' for _ in PER_CALL_STATE)}",
        "end",
        "local scripts = {}",
    ]
    for name in names:
        own = script_sources()[name]
        parts += [f'scripts["{name}"] = function(keys, args)', "begin(keys, args)", own, "end"]
    parts += ["return scripts", "end", "local scripts"]
    body = "\n".join(parts)
    name = "asynctasq_" + hashlib.sha1(body.encode()).hexdigest()[:16]
    functions = {script: f"{name}_{script}" for script in names}
    registrations = [
        f'redis.register_function("{function}", function(keys, args)\n'
        f"  scripts = scripts or build()\n"
        f'  return scripts["{script}"](keys, args)\n'
        "end)"
        for script, function in functions.items()
    ]
    source = "\n".join([f"#!lua name={name}", body, *registrations]) + "\n"
    return Library(name, source, functions)
