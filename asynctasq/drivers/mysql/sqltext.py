"""Bind ``:name`` parameters into SQL text, as literals.

aiomysql interpolates parameters client-side anyway (the text protocol); binding them
here instead lets one statement take a list (``IN :ids``) or many rows (``VALUES
:rows``), writes bytes as hex literals, and keeps the driver independent of how
PyMySQL's escaping helpers change between releases. Strings go through the
connection's own ``escape_string``, which follows the server's
``NO_BACKSLASH_ESCAPES`` mode.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Raw", "Statement", "chunk_rows", "compile_queries", "literal"]

# a quoted literal (skipped) or a :name parameter outside one
_TOKEN = re.compile(r"'(?:[^'\\]|\\.|'')*'|(?<![:\w]):([A-Za-z_]\w*)")

Escape = Callable[[str], str]


class Raw(str):
    """SQL text bound as is (rows rendered beforehand)."""


def _float(value: float, escape: Escape) -> str:
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be stored: MySQL has no NaN or infinity")
    return repr(value)


_BY_TYPE: dict[type, Callable[[Any, Escape], str]] = {
    type(None): lambda value, escape: "NULL",
    bool: lambda value, escape: "1" if value else "0",
    int: lambda value, escape: str(value),
    float: _float,
    str: lambda value, escape: "'" + escape(value) + "'",
    bytes: lambda value, escape: "X'" + value.hex() + "'",
    Raw: lambda value, escape: str(value),
}


def literal(value: Any, escape: Escape) -> str:
    """One value as SQL text; a list or tuple of values becomes ``(a, b, ...)``."""
    render = _BY_TYPE.get(type(value))
    if render is not None:
        return render(value, escape)
    if isinstance(value, list | tuple):
        if not value:
            return "(NULL)"  # IN (NULL) matches nothing, as an empty list should
        if isinstance(value[0], tuple):  # rows of a multi-row VALUES
            return ",".join([_row(row, escape) for row in value])
        return _row(value, escape)
    if isinstance(value, bytearray | memoryview):
        return "X'" + bytes(value).hex() + "'"
    for kind in (bool, int, float, str):  # subclasses: IntEnum, StrEnum, ...
        if isinstance(value, kind):
            return _BY_TYPE[kind](kind(value), escape)
    raise TypeError(f"cannot bind {type(value).__name__} into SQL")


def _row(values: Sequence[Any], escape: Escape) -> str:
    # the hot path of a bulk enqueue: the common types inline, the rest via literal()
    parts = []
    for value in values:
        kind = type(value)
        if kind is str:
            parts.append("'" + escape(value) + "'")
        elif value is None:
            parts.append("NULL")
        elif kind is int:
            parts.append(str(value))
        elif kind is bytes:
            parts.append("X'" + value.hex() + "'")
        else:
            parts.append(literal(value, escape))
    return "(" + ",".join(parts) + ")"


@dataclass(frozen=True, slots=True)
class Statement:
    """A query split around its parameters: text, name, text, name, ..., text."""

    name: str
    parts: tuple[str, ...]
    params: tuple[str, ...]

    def render(self, values: Mapping[str, Any], escape: Escape) -> str:
        missing = set(self.params) - set(values)
        if missing:
            raise KeyError(f"query {self.name!r} needs {', '.join(sorted(missing))}")
        out = [self.parts[0]]
        for param, text in zip(self.params, self.parts[1:], strict=True):
            out.append(literal(values[param], escape))
            out.append(text)
        return "".join(out)


def _compile(name: str, sql: str) -> Statement:
    # comments may mention parameters; they are not sent
    sql = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    parts: list[str] = []
    params: list[str] = []
    start = 0
    for match in _TOKEN.finditer(sql):
        if match.group(1) is None:
            continue
        parts.append(sql[start : match.start()])
        params.append(match.group(1))
        start = match.end()
    parts.append(sql[start:])
    return Statement(name, tuple(parts), tuple(params))


def compile_queries(queries: Mapping[str, str]) -> dict[str, Statement]:
    return {name: _compile(name, sql) for name, sql in queries.items()}


def chunk_rows(rows: Sequence[str], *, max_bytes: int) -> list[Raw]:
    """Join rendered rows into the VALUES of multi-row INSERTs that each stay under
    ``max_bytes`` of SQL (a row larger than that goes alone)."""
    chunks: list[Raw] = []
    current: list[str] = []
    size = 0
    for row in rows:
        if current and size + len(row) > max_bytes:
            chunks.append(Raw(",".join(current)))
            current, size = [], 0
        current.append(row)
        size += len(row) + 1
    if current:
        chunks.append(Raw(",".join(current)))
    return chunks
