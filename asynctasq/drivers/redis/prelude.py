"""Each script carries only the parts of ``_prelude.lua`` it uses.

Redis runs a script's whole text on every call: the full prelude defines some sixty
functions and tables each time before the script's own body starts, about 20 µs of
Redis per call on the benchmark machine (a private server: ``return 1`` takes 4 µs,
the prelude and ``return 1`` 23 µs). So each script gets the prelude's statements it
names, and those they name in turn, in the prelude's order.

The prelude is a sequence of top-level ``local`` statements (constants, tables,
``local function``), each starting at column 0; the lines below one (its body, its
closing ``end`` or ``}``, comments) belong to it. A statement is kept when the script
or a kept statement mentions a name it defines: matching every identifier of the
text, comments and strings included, keeps a superset, never fewer.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["prelude_for"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FUNCTION = re.compile(r"local\s+function\s+([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class _Statement:
    """One top-level statement of the prelude: its text, the names it defines and
    every identifier it mentions."""

    text: str
    defines: frozenset[str]
    uses: frozenset[str]


@functools.cache  # one prelude, parsed once for every script
def _statements(prelude: str) -> tuple[_Statement, ...]:
    groups: list[list[str]] = []
    for line in prelude.splitlines():
        if line.startswith("local "):
            groups.append([line])
        elif groups:
            groups[-1].append(line)
        elif line.strip() and not line.startswith("--"):
            raise ValueError(f"_prelude.lua: {line!r} is not inside a local statement")
    statements = []
    for lines in groups:
        head = lines[0]
        function = _FUNCTION.match(head)
        if function is not None:
            defines = {function.group(1)}
        else:
            names = head[len("local ") :].split("=", 1)[0]
            defines = {name.strip() for name in names.split(",")}
        text = "\n".join(lines)
        statements.append(
            _Statement(text, frozenset(defines), frozenset(_IDENTIFIER.findall(text)))
        )
    return tuple(statements)


def prelude_for(prelude: str, body: str) -> str:
    """The statements of ``prelude`` that ``body`` needs, directly or not."""
    statements = _statements(prelude)
    needed = set(_IDENTIFIER.findall(body))
    kept = [False] * len(statements)
    grown = True
    while grown:
        grown = False
        for i, statement in enumerate(statements):
            if not kept[i] and statement.defines & needed:
                kept[i] = True
                needed |= statement.uses
                grown = True
    return "\n".join(s.text for s, keep in zip(statements, kept, strict=True) if keep)
