-- Deduplication modes (capability Deduplication, docs/flow-control.md): one lock per
-- key of a job dispatched with unique_mode until_started, throttle or debounce,
-- taken in the enqueue's transaction (asynctasq/drivers/sql/dedup.py).
CREATE TABLE IF NOT EXISTS asynctasq_dedup (
    `key`   VARCHAR(255) NOT NULL,
    job_id  CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    mode    VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    until   DOUBLE NULL,
    PRIMARY KEY (`key`),
    -- serves the sweep of throttle locks whose window has passed
    KEY asynctasq_dedup_until (until)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Concurrency keys (capability ConcurrencyKeys, docs/flow-control.md): the jobs holding
-- the slots of each key, plus one row per key with an empty job_id that the taking
-- transaction locks (asynctasq/drivers/sql/slots.py).
CREATE TABLE IF NOT EXISTS asynctasq_slots (
    `key`   VARCHAR(255) NOT NULL,
    job_id  VARCHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    PRIMARY KEY (`key`, job_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
