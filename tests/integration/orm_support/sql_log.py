"""Which tables the SELECTs run on an SQLAlchemy engine read: proof of one query per
model class."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def selected_table(statement: str) -> str | None:
    """The first table after FROM in a SELECT; None for anything else."""
    if not statement.lstrip().upper().startswith("SELECT") or "FROM" not in statement:
        return None
    return statement.split("FROM", 1)[1].split()[0].strip('"`')


def record_selects(engine: Engine) -> list[str]:
    """A list that fills with the table of every SELECT ``engine`` runs from now on."""
    tables: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        table = selected_table(statement)
        if table is not None:
            tables.append(table)

    event.listen(engine, "before_cursor_execute", record)
    return tables
