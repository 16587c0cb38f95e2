-- Queue rate limits stored in the broker (capability RateLimits, docs/flow-control.md):
-- one row per limited queue, read by every worker serving it.
CREATE TABLE IF NOT EXISTS asynctasq_rate_limits (
    queue         VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    rate_limit    BIGINT NOT NULL,
    rate_interval DOUBLE NOT NULL,
    burst         BIGINT NULL,
    PRIMARY KEY (queue)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
