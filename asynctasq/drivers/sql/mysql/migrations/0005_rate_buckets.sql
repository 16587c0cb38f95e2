-- Rate limits (capability RateLimits, docs/flow-control.md): one token bucket per key,
-- taken by compare-and-set of version (asynctasq/drivers/sql/rates.py).
CREATE TABLE IF NOT EXISTS asynctasq_rate_buckets (
    `key`     VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    tokens    DOUBLE NOT NULL,
    at        DOUBLE NOT NULL,
    version   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (`key`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
