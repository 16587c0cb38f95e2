-- The whole schema as the migrations leave it (tests check the two agree).

-- The queue in one table; state 'pending' with run_at in the future reads as 'scheduled'.
CREATE TABLE asynctasq_jobs (
    id           TEXT PRIMARY KEY,
    task         TEXT NOT NULL,
    queue        TEXT NOT NULL,
    payload      BLOB NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 1,
    run_at       REAL NOT NULL,
    created_at   REAL NOT NULL,
    timeout      REAL,
    lease_until  REAL,
    worker_id    TEXT,
    state        TEXT NOT NULL,
    error        TEXT,
    result       BLOB,
    unique_key   TEXT,
    depends_on   TEXT,
    expires_at   REAL,
    progress     REAL,
    finished_at  REAL,
    on_parent_failure TEXT NOT NULL DEFAULT 'fail',  -- 0004: dependencies
    blocked_by   INTEGER NOT NULL DEFAULT 0
);

-- serves the claim: equality on queue, then the order jobs are taken in
CREATE INDEX asynctasq_jobs_claim ON asynctasq_jobs (queue, priority, run_at)
    WHERE state = 'pending';

-- serves recovery of expired leases
CREATE INDEX asynctasq_jobs_lease ON asynctasq_jobs (lease_until) WHERE state = 'active';

-- one unfinished job per unique_key
CREATE UNIQUE INDEX asynctasq_jobs_unique ON asynctasq_jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('pending', 'waiting', 'active');

-- serves the expiry sweep: waiting jobs with a ttl, by expires_at (0009)
CREATE INDEX asynctasq_jobs_expiring ON asynctasq_jobs (expires_at)
    WHERE state = 'pending' AND expires_at IS NOT NULL;

-- serves stats, listings and purges
CREATE INDEX asynctasq_jobs_queue_state ON asynctasq_jobs (queue, state, finished_at);

-- the dead letters by queue, task and error type (0013; queries.sql: failed_groups)
CREATE INDEX asynctasq_jobs_failed_kinds ON asynctasq_jobs (
    queue, task,
    substr(error, 1, min(instr(error || ':', ':'), instr(error || char(10), char(10)), 101) - 1)
) WHERE state = 'failed';

-- holds only damaged records the claim and recovery can never reach (0002)
CREATE INDEX asynctasq_jobs_unreachable ON asynctasq_jobs (id)
WHERE state NOT IN ('pending', 'waiting', 'active', 'completed', 'failed', 'cancelled', 'expired')
    OR (state = 'pending' AND (typeof(run_at) NOT IN ('integer', 'real') OR abs(run_at) > 1e300))
    OR (state = 'active'
        AND (typeof(lease_until) NOT IN ('integer', 'real') OR abs(lease_until) > 1e300));

CREATE TABLE asynctasq_queues (
    name   TEXT PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE asynctasq_workers (
    worker_id  TEXT PRIMARY KEY,
    info       TEXT NOT NULL,
    expires_at REAL NOT NULL
);

-- job dependencies (0004): the parents a blocked child (state 'waiting') still waits on
CREATE TABLE asynctasq_dependencies (
    parent_id TEXT NOT NULL,
    child_id  TEXT NOT NULL,
    PRIMARY KEY (parent_id, child_id)
) WITHOUT ROWID;
CREATE INDEX asynctasq_dependencies_child ON asynctasq_dependencies (child_id);

-- completed jobs that were deleted, remembered while a later child may name them
CREATE TABLE asynctasq_completed (
    id          TEXT PRIMARY KEY,
    finished_at REAL NOT NULL,
    result      BLOB
) WITHOUT ROWID;
CREATE INDEX asynctasq_completed_age ON asynctasq_completed (finished_at);

-- the jobs of each flow (FlowProducer, docs/workflows.md)
CREATE TABLE asynctasq_flow_jobs (
    flow_id    TEXT NOT NULL,
    position   INTEGER NOT NULL,
    job_id     TEXT NOT NULL,
    name       TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (flow_id, position)
) WITHOUT ROWID;
CREATE INDEX asynctasq_flow_jobs_age ON asynctasq_flow_jobs (created_at);
-- a job's flow (0013)
CREATE INDEX asynctasq_flow_jobs_job ON asynctasq_flow_jobs (job_id);

-- Time and flow control (issue 16): schedules (repeatable and cron jobs).
CREATE TABLE asynctasq_schedules (
    id         TEXT PRIMARY KEY,
    queue      TEXT NOT NULL,
    definition TEXT NOT NULL,
    next_at    REAL NOT NULL,
    paused     INTEGER NOT NULL DEFAULT 0
);

-- Rate limits (capability RateLimits, docs/flow-control.md): one token bucket per key,
-- taken by compare-and-set of version (asynctasq/drivers/sql/rates.py).
CREATE TABLE asynctasq_rate_buckets (
    key     TEXT PRIMARY KEY,
    tokens  REAL NOT NULL,
    at      REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Queue rate limits stored in the broker (capability RateLimits, docs/flow-control.md):
-- one row per limited queue, read by every worker serving it.
CREATE TABLE asynctasq_rate_limits (
    queue         TEXT PRIMARY KEY,
    rate_limit    INTEGER NOT NULL,
    rate_interval REAL NOT NULL,
    burst         INTEGER
) WITHOUT ROWID;

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
