-- Queue rate limits stored in the broker (capability RateLimits, docs/flow-control.md):
-- one row per limited queue, read by every worker serving it.
CREATE TABLE {schema}.rate_limits (
    queue         text COLLATE "C" PRIMARY KEY,
    rate_limit    bigint NOT NULL,
    rate_interval double precision NOT NULL,
    burst         bigint
);
