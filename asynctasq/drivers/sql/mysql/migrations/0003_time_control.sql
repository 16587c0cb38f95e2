-- Time and flow control (issue 16). Schedules: repeatable and cron jobs. definition
-- is fixed (JSON, asynctasq/schedules.py), next_at the next slot: firing a slot is a
-- compare-and-set of next_at in the transaction that inserts the slot's jobs.
CREATE TABLE IF NOT EXISTS asynctasq_schedules (
    id         VARCHAR(300) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    queue      VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    definition MEDIUMTEXT NOT NULL,
    next_at    DOUBLE NOT NULL,
    paused     TINYINT NOT NULL DEFAULT 0,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
