-- Rate limits (capability RateLimits, docs/flow-control.md): one token bucket per key,
-- taken by compare-and-set of version (asynctasq/drivers/sql/rates.py).
CREATE TABLE asynctasq_rate_buckets (
    key     TEXT PRIMARY KEY,
    tokens  REAL NOT NULL,
    at      REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
