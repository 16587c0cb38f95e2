"""The driver's SQL (asynctasq/drivers/sql/postgres/), bound to one schema.

Every statement names its tables schema-qualified rather than relying on
``search_path``, so the same text runs on a caller's own connection (transactional
enqueue) whatever that connection's settings are.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

from asynctasq.drivers.postgres.batches import CLAIMED_COLUMNS
from asynctasq.drivers.sql.loader import load_migrations, load_queries, load_signatures
from asynctasq.drivers.sql.rows import JOB_COLUMNS

__all__ = ["SchemaSQL", "channel_name", "finished_channel", "validate_schema"]

_SCHEMA = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def validate_schema(schema: str) -> str:
    if not isinstance(schema, str) or not _SCHEMA.match(schema):
        raise ValueError(
            f"invalid PostgreSQL schema name {schema!r} (ASYNCTASQ_POSTGRES_SCHEMA): use 1-63 "
            "letters, digits and _, not starting with a digit"
        )
    return schema


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _channel_prefix(schema: str) -> str:
    # channels are per database, so the schema is part of the name; hashed, because a
    # channel name is an identifier (63 bytes at most) and queue names can be longer
    return f"asynctasq_{_md5(schema)[:10]}_"


def channel_name(schema: str, queue: str) -> str:
    """The NOTIFY channel of a queue; the SQL side computes the same name."""
    return _channel_prefix(schema) + _md5(queue)[:20]


def finished_channel(schema: str) -> str:
    """The NOTIFY channel told when a settle ended jobs (result waiters LISTEN)."""
    return _channel_prefix(schema) + "finished"


#: statements made from another one by filling a placeholder (see queries.sql);
#: the base statement itself gets the placeholder removed
_VARIANTS = {
    "enqueue_idempotent": ("enqueue", "{on_conflict}", "ON CONFLICT DO NOTHING"),
    "enqueue": ("enqueue", "{on_conflict}", ""),
}


#: statements made from another one by putting a named query's text in its
#: placeholder, in this order (settle_bounded: settle with settle_later as its later;
#: then settle itself, which leaves none)
_COMPOSED = {
    "settle_bounded": ("settle", "{later}", "settle_later"),
    "settle": ("settle", "{later}", "settle_no_later"),
}


class SchemaSQL:
    """Named queries, schema.sql and migrations with their placeholders filled in."""

    def __init__(self, schema: str) -> None:
        self.schema = validate_schema(schema)
        self._fills = {
            "{schema}": f'"{schema}"',
            "{columns}": ", ".join(f"j.{column}" for column in JOB_COLUMNS),
            "{claimed_columns}": ", ".join(f"j.{column}" for column in CLAIMED_COLUMNS),
            # q is the queue name in every statement that notifies
            "{channel}": f"'{_channel_prefix(schema)}' || left(md5(q), 20)",
            "{finished_channel}": f"'{finished_channel(schema)}'",
        }
        self.queries = {name: self._bind(text) for name, text in load_queries("postgres").items()}
        for name, (base, placeholder, value) in _VARIANTS.items():
            self.queries[name] = self.queries[base].replace(placeholder, value)
        for name, (base, placeholder, part) in _COMPOSED.items():
            self.queries[name] = self.queries[base].replace(placeholder, self.queries[part])
        self.signatures = load_signatures("postgres")
        self.migrations = [
            dataclasses.replace(m, sql=self._bind(m.sql)) for m in load_migrations("postgres")
        ]
        # one advisory lock key per schema: concurrent migrators of one schema queue up
        self.migration_lock_key = int(_md5(f"asynctasq-migrate:{schema}")[:15], 16)
        self.vacuum_lock_key = int(_md5(f"asynctasq-vacuum:{schema}")[:15], 16)

    def _bind(self, text: str) -> str:
        for placeholder, value in self._fills.items():
            text = text.replace(placeholder, value)
        return text

    def __getitem__(self, name: str) -> str:
        return self.queries[name]

    def positional(self, name: str, params: Mapping[str, Any]) -> list[Any]:
        """Named parameters in the order the query declares them (``$1``, ``$2``...)."""
        try:
            order = self.signatures[name]
        except KeyError:
            raise KeyError(f"postgres query {name!r} declares no parameter names") from None
        return [params[param] for param in order]

    def schema_sql(self) -> str:
        """The whole schema in one script (what applying every migration gives)."""
        path = resources.files("asynctasq.drivers.sql").joinpath("postgres", "schema.sql")
        return self._bind(path.read_text("utf-8"))

    def channel(self, queue: str) -> str:
        return channel_name(self.schema, queue)

    @property
    def latest_version(self) -> int:
        return self.migrations[-1].version if self.migrations else 0
