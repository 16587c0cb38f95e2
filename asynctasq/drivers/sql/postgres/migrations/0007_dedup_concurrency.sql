-- Deduplication modes (capability Deduplication, docs/flow-control.md): one lock per
-- key of a job dispatched with unique_mode until_started, throttle or debounce,
-- taken in the enqueue's transaction (asynctasq/drivers/sql/dedup.py).
CREATE TABLE {schema}.dedup (
    key    text COLLATE "C" PRIMARY KEY,
    job_id text COLLATE "C" NOT NULL,
    mode   text NOT NULL,
    until  double precision
);
-- serves the sweep of throttle locks whose window has passed
CREATE INDEX dedup_until ON {schema}.dedup (until);

-- Concurrency keys (capability ConcurrencyKeys, docs/flow-control.md): the jobs holding
-- the slots of each key, plus one row per key with an empty job_id that the taking
-- transaction locks (asynctasq/drivers/sql/slots.py).
CREATE TABLE {schema}.slots (
    key    text COLLATE "C" NOT NULL,
    job_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (key, job_id)
);
