"""Read SQL from the files next to each driver.

``queries.sql`` holds named queries, each introduced by a ``-- name: <name>`` line;
``migrations/NNNN_description.sql`` are applied in order and recorded by number.

A dialect whose parameters are positional (PostgreSQL's ``$1``) declares their names
in that line, ``-- name: cancel(id, now)``, so the shared driver passes parameters by
name to every dialect (:func:`load_signatures`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Migration",
    "load_migrations",
    "load_queries",
    "load_signatures",
    "split_statements",
]

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*(?:\(([\w,\s]*)\))?\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{4})_(\w+)\.sql$")


#: the dialects' folders are beside this module (read as files, as the Redis driver
#: reads its Lua: importlib.resources.files() loads zipfile and its readers for a
#: package that is never zipped, 1% of a worker's start-up)
_HERE = Path(__file__).resolve().parent


def _dialect_dir(dialect: str) -> Path:
    return _HERE / dialect


def _parse(dialect: str) -> list[tuple[str, str | None, str]]:
    """(name, declared parameters or None, text) of each query, in file order."""
    text = _dialect_dir(dialect).joinpath("queries.sql").read_text("utf-8")
    parts = _NAME.split(text)
    names, declared, bodies = parts[1::3], parts[2::3], parts[3::3]
    return list(zip(names, declared, bodies, strict=True))


def load_queries(dialect: str) -> dict[str, str]:
    queries = {}
    for name, _, body in _parse(dialect):
        if name in queries:
            raise ValueError(f"{dialect}/queries.sql defines {name!r} twice")
        queries[name] = body.strip().rstrip(";").strip()
    return queries


def load_signatures(dialect: str) -> dict[str, tuple[str, ...]]:
    """The parameter names each query declares, in the order it takes them."""
    return {
        name: tuple(p.strip() for p in declared.split(",") if p.strip())
        for name, declared, _ in _parse(dialect)
        if declared is not None
    }


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema migration: its version, its name and its SQL."""

    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        """How migrate() reports it: ``0002_reachable_rows``."""
        return f"{self.version:04d}_{self.name}"

    def script(self, now: float) -> str:
        """The SQL to run, ``{now}`` filled in with the clock's time (``now``): a
        migration that dates rows never asks the server for the time."""
        return self.sql.replace("{now}", repr(float(now)))


def load_migrations(dialect: str) -> list[Migration]:
    folder = _dialect_dir(dialect).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    # applied by number (a set of done versions), so a gap is harmless: features built
    # side by side reserve their numbers and may land in any order
    if len(set(versions)) != len(versions) or (versions and versions[0] < 1):
        raise ValueError(f"{dialect} migrations must have distinct numbers from 0001")
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
