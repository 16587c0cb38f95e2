-- Queue rate limits stored in the broker (capability RateLimits, docs/flow-control.md):
-- one row per limited queue, read by every worker serving it.
CREATE TABLE asynctasq_rate_limits (
    queue         TEXT PRIMARY KEY,
    rate_limit    INTEGER NOT NULL,
    rate_interval REAL NOT NULL,
    burst         INTEGER
) WITHOUT ROWID;
