"""Corruptions a SQLite jobs table can hold (SQLite stores any value in any column).

Every column a worker or the driver reads gets a value of a type it never writes
(text where bytes or numbers belong, bytes where text belongs), or a value of the
right type that no driver writes (attempts below zero, an unknown state, a time that
is infinite, a depends_on that is not a list of ids). Not here: NULL in a NOT NULL
column and NaN (SQLite refuses both: it stores NaN as NULL), a damaged id or queue
(the job is then another job, or in another queue: nothing to dead-letter)."""

from __future__ import annotations

from tests.hostile.corruption import Corruption
from tests.hostile.sql_access import SQL_PAYLOADS_AND_TASKS, set_column, wrong

CORRUPTIONS = [
    *SQL_PAYLOADS_AND_TASKS,
    Corruption(
        "payload stored as TEXT",
        set_column("payload", "'not a blob'"),
        "payload is 'not a blob' (text), not bytes",
    ),
    wrong("task", "x'7461736b'", "task is b'task' (bytes), not text"),
    wrong("attempts", "'three'", "attempts is 'three' (text), not an integer"),
    wrong("attempts", "-5", "attempts is -5, below 0"),
    wrong("max_attempts", "0", "max_attempts is 0, below 1"),
    wrong("max_attempts", "'many'", "max_attempts is 'many' (text)"),
    wrong("priority", "'high'", "priority is 'high' (text)"),
    wrong("priority", "2.5", "priority is 2.5 (a real)"),
    # never due: only the partial index of unreachable rows finds these
    wrong("run_at", "'soon'", "run_at is 'soon' (text), not a number"),
    wrong("run_at", "9e999", "run_at is inf, not a finite number"),
    wrong("run_at", "-9e999", "run_at is -inf, not a finite number"),
    wrong("created_at", "'yesterday'", "created_at is 'yesterday' (text)"),
    wrong("timeout", "'a while'", "timeout is 'a while' (text)"),
    wrong("expires_at", "x'00'", "expires_at is b'\\x00' (bytes)"),
    wrong("lease_until", "'later'", "lease_until is 'later' (text)"),
    wrong("state", "'bogus'", "state 'bogus' (text) is not a job state"),
    wrong("state", "x'07'", "state b'\\x07' (bytes) is not a job state"),
    wrong("state", "'scheduled'", "state 'scheduled' (text) is not a job state"),
    wrong("depends_on", "'{[not json'", "depends_on is '{[not json' (text), not a JSON list"),
    wrong("depends_on", "'{\"a\": 1}'", "depends_on is {'a': 1} (dict), not a JSON list"),
    wrong("depends_on", "'[1, 2]'", "depends_on is (1, 2) (tuple), not a JSON list"),
    wrong("unique_key", "CAST(id AS BLOB)", "unique_key is b'"),  # unique per row
    wrong("worker_id", "x'2a'", "worker_id is b'*' (bytes), not text"),
    wrong("error", "x'ff'", "error is b'\\xff' (bytes), not text"),
    wrong("result", "'done'", "result is 'done' (text), not bytes"),
    wrong("progress", "'half'", "progress is 'half' (text)"),
    wrong("finished_at", "'never'", "finished_at is 'never' (text)"),
]
