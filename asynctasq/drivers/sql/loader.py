"""Read SQL from the files next to each driver.

``queries.sql`` holds named queries, each introduced by a ``-- name: <name>`` line;
``migrations/NNNN_description.sql`` are applied in order and recorded by number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

__all__ = ["Migration", "load_migrations", "load_queries", "split_statements"]

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{4})_(\w+)\.sql$")


def _dialect_dir(dialect: str) -> resources.abc.Traversable:
    return resources.files("asynctasq.drivers.sql").joinpath(dialect)


def load_queries(dialect: str) -> dict[str, str]:
    text = _dialect_dir(dialect).joinpath("queries.sql").read_text("utf-8")
    parts = _NAME.split(text)
    queries = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{dialect}/queries.sql defines {name!r} twice")
        queries[name] = body.strip().rstrip(";").strip()
    return queries


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(dialect: str) -> list[Migration]:
    folder = _dialect_dir(dialect).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"{dialect} migrations must be numbered 0001, 0002, ... without gaps")
    return found


def split_statements(sql: str) -> list[str]:
    """Split a migration into statements on ';' at line ends (no procedures here)."""
    statements: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        if line.strip().startswith("--") and not current:
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(current).strip().rstrip(";").strip()
            if statement:
                statements.append(statement)
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return statements
