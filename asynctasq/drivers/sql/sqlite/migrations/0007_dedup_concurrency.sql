-- Deduplication modes (capability Deduplication, docs/flow-control.md): one lock per
-- key of a job dispatched with unique_mode until_started, throttle or debounce,
-- taken in the enqueue's transaction (asynctasq/drivers/sql/dedup.py).
CREATE TABLE asynctasq_dedup (
    key    TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    mode   TEXT NOT NULL,
    until  REAL
) WITHOUT ROWID;
-- serves the sweep of throttle locks whose window has passed
CREATE INDEX asynctasq_dedup_until ON asynctasq_dedup (until);

-- Concurrency keys (capability ConcurrencyKeys, docs/flow-control.md): the jobs holding
-- the slots of each key, plus one row per key with an empty job_id that the taking
-- transaction locks (asynctasq/drivers/sql/slots.py).
CREATE TABLE asynctasq_slots (
    key    TEXT NOT NULL,
    job_id TEXT NOT NULL,
    PRIMARY KEY (key, job_id)
) WITHOUT ROWID;
