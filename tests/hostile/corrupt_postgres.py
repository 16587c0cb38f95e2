"""Corruptions a PostgreSQL jobs table can hold: only what its column types and
constraints allow.

bytea holds any bytes (NUL included), jsonb any JSON (not only a list of ids), integer
any 32-bit number (attempts below zero). Not here, because the table refuses them: a
state outside the known ones, NaN or infinity in a time column, an active job without
a lease (CHECK constraints: tests/hostile/test_sql_bad_rows.py shows the refusals),
text with NUL or invalid UTF-8 (the text type), NULL in a NOT NULL column."""

from __future__ import annotations

from tests.hostile.sql_access import SQL_PAYLOADS_AND_TASKS, wrong

CORRUPTIONS = [
    *SQL_PAYLOADS_AND_TASKS,
    wrong("attempts", "-5", "attempts is -4, below 1"),
    wrong("max_attempts", "0", "max_attempts is 0, below 1"),
    wrong("max_attempts", "-1", "max_attempts is -1, below 1"),
    wrong("depends_on", "'{\"a\": 1}'", "depends_on is {'a': 1} (dict), not a JSON list"),
    wrong("depends_on", "'[1, null]'", "depends_on is (1, None) (tuple), not a JSON list"),
    wrong("depends_on", "'\"one id\"'", "depends_on is 'one id' (text), not a JSON list"),
    wrong("depends_on", "'42'", "depends_on is 42 (an integer), not a JSON list"),
]
