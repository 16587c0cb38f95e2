"""Corruptions a MySQL / MariaDB jobs table can hold: only what its column types and
constraints allow.

LONGBLOB holds any bytes, TEXT any text (depends_on need not be JSON), INT any 32-bit
number (attempts below zero). Not here, because the table refuses them: a state
outside the known ones and an active job without a lease (CHECK constraints:
tests/hostile/test_sql_bad_rows.py shows the refusals), NaN or infinity (DOUBLE has
neither), text outside the column's character set, NULL in a NOT NULL column."""

from __future__ import annotations

from tests.hostile.sql_access import SQL_PAYLOADS_AND_TASKS, wrong

CORRUPTIONS = [
    *SQL_PAYLOADS_AND_TASKS,
    wrong("attempts", "-5", "attempts is -5, below 0"),
    wrong("max_attempts", "0", "max_attempts is 0, below 1"),
    wrong("depends_on", "'{[not json'", "depends_on is '{[not json' (text), not a JSON list"),
    wrong("depends_on", "'{\"a\": 1}'", "depends_on is {'a': 1} (dict), not a JSON list"),
    wrong("depends_on", "'[1, 2]'", "depends_on is (1, 2) (tuple), not a JSON list"),
    wrong("depends_on", "''", "depends_on is '' (text), not a JSON list"),
]
