-- Time and flow control (issue 16). Schedules: repeatable and cron jobs. definition
-- is fixed (JSON, asynctasq/schedules.py), next_at the next slot: firing a slot is a
-- compare-and-set of next_at in the transaction that inserts the slot's jobs.
CREATE TABLE asynctasq_schedules (
    id         TEXT PRIMARY KEY,
    queue      TEXT NOT NULL,
    definition TEXT NOT NULL,
    next_at    REAL NOT NULL,
    paused     INTEGER NOT NULL DEFAULT 0
);
