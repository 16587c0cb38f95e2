"""Named statements on one MySQL connection, several per round trip.

On the driver's own connections (opened with multi-statement support) a batch of
statements travels as one request and its results come back together; a transaction
opens with its first batch (``BEGIN`` goes in front) and can close with its last
(``COMMIT`` at the end), so a claim or an outcome batch costs two round trips, not
five. On a caller's connection (transactional enqueue) statements go one by one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import aiomysql

from asynctasq.drivers.mysql.sqltext import Statement, literal

__all__ = ["Result", "Session", "Step"]

#: a statement and its parameters, or SQL text that takes none
Step = str | tuple[Statement, Mapping[str, Any]]


class Result(NamedTuple):
    matched: int  # rows a write matched, or rows a read returned
    rows: list[Any]  # tuples, or dicts when asked


class _Cursor(aiomysql.Cursor):  # type: ignore[misc]
    # aiomysql sends SHOW WARNINGS after any statement with warnings and re-raises them
    # as Python warnings: a round trip per statement for notes nobody reads
    async def _show_warnings(self, conn: Any) -> None:
        return None


class _DictCursor(aiomysql.DictCursor):  # type: ignore[misc]
    async def _show_warnings(self, conn: Any) -> None:
        return None


class Session:
    def __init__(
        self, conn: Any, *, multi: bool = False, begin: bool = False, max_request: int = 4 << 20
    ) -> None:
        self.conn = conn
        self.multi = multi
        self.max_request = max_request  # SQL per round trip: within max_allowed_packet
        self._escape = conn.escape_string
        self._begin = begin  # open a transaction with the first statement
        self.in_transaction = False
        self.committed = False

    def render(self, statement: Statement, params: Mapping[str, Any]) -> str:
        return statement.render(params, self._escape)

    def render_value(self, value: Any) -> str:
        """One value (a row: a tuple) as SQL text, escaped for this connection."""
        return literal(value, self._escape)

    async def batch(self, *steps: Step, dicts: bool = False, commit: bool = False) -> list[Result]:
        """Run ``steps`` in order (then COMMIT, if asked); one result per step."""
        sql = [step if isinstance(step, str) else self.render(*step) for step in steps]
        begin, self._begin = self._begin, False
        if begin:
            sql.insert(0, "BEGIN")
            self.in_transaction = True
        if commit:
            sql.append("COMMIT")
        cursor = _DictCursor if dicts else _Cursor
        requests = _group(sql, self.max_request) if self.multi else [[text] for text in sql]
        results = []
        for request in requests:
            results += await self._run(cursor, ";\n".join(request))
        if commit:
            self.committed = True
            results.pop()
        return results[1:] if begin else results

    async def _run(self, cursor: type, sql: str) -> list[Result]:
        results = []
        async with self.conn.cursor(cursor) as cur:
            await cur.execute(sql)
            while True:
                rows = list(await cur.fetchall() or ()) if cur.description else []
                results.append(Result(int(cur.rowcount), rows))
                if not await cur.nextset():
                    return results

    async def execute(self, statement: Statement, **params: Any) -> int:
        """Run it; returns the rows it matched."""
        return (await self.batch((statement, params)))[0].matched

    async def execute_sql(self, sql: str) -> None:
        """Run SQL text that takes no parameters (migrations)."""
        await self.batch(sql)

    async def rows(self, statement: Statement, **params: Any) -> list[dict[str, Any]]:
        return (await self.batch((statement, params), dicts=True))[0].rows

    async def values(self, statement: Statement, **params: Any) -> list[tuple[Any, ...]]:
        return (await self.batch((statement, params)))[0].rows

    async def scalar(self, statement: Statement, **params: Any) -> Any:
        found = await self.values(statement, **params)
        return found[0][0] if found else None


def _group(statements: list[str], max_chars: int) -> list[list[str]]:
    """Consecutive statements in requests of at most ``max_chars`` (a longer statement
    goes alone)."""
    groups: list[list[str]] = [[]]
    size = 0
    for text in statements:
        if groups[-1] and size + len(text) > max_chars:
            groups.append([])
            size = 0
        groups[-1].append(text)
        size += len(text) + 2
    return groups
