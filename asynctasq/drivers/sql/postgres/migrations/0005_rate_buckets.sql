-- Rate limits (capability RateLimits, docs/flow-control.md): one token bucket per key,
-- taken by compare-and-set of version (asynctasq/drivers/sql/rates.py).
CREATE TABLE {schema}.rate_buckets (
    key     text COLLATE "C" PRIMARY KEY,
    tokens  double precision NOT NULL,
    at      double precision NOT NULL,
    version bigint NOT NULL DEFAULT 0
);
