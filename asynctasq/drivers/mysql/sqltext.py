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

__all__ = ["Statement", "chunk_rows", "compile_queries", "literal"]

# a quoted literal (skipped) or a :name parameter outside one
_TOKEN = re.compile(r"'(?:[^'\\]|\\.|'')*'|(?<![:\w]):([A-Za-z_]\w*)")

Escape = Callable[[str], str]


def literal(value: Any, escape: Escape) -> str:
    """One value as SQL text; a list or tuple of values becomes ``(a, b, ...)``."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be stored: MySQL has no NaN or infinity")
        return repr(value)
    if isinstance(value, str):
        return "'" + escape(value) + "'"
    if isinstance(value, bytes | bytearray | memoryview):
        return "X'" + bytes(value).hex() + "'"
    if isinstance(value, list | tuple):
        if not value:
            return "(NULL)"  # IN (NULL) matches nothing, as an empty list should
        if isinstance(value[0], tuple):  # rows of a multi-row VALUES
            return ",".join(literal(row, escape) for row in value)
        return "(" + ",".join(literal(item, escape) for item in value) + ")"
    raise TypeError(f"cannot bind {type(value).__name__} into SQL")


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


def chunk_rows(rows: Sequence[tuple[Any, ...]], *, max_bytes: int) -> list[list[tuple[Any, ...]]]:
    """Split rows for multi-row INSERTs that each stay under ``max_bytes`` of SQL
    (roughly: bytes count twice, as hex)."""
    chunks: list[list[tuple[Any, ...]]] = [[]]
    size = 0
    for row in rows:
        row_size = 16 + sum(_size(v) for v in row)
        if chunks[-1] and size + row_size > max_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += row_size
    return chunks


def _size(value: Any) -> int:
    if isinstance(value, bytes | bytearray | memoryview):
        return 2 * len(value) + 3
    if isinstance(value, str):
        return len(value) * 4 + 2  # worst case: every character escaped or multi-byte
    return 24
