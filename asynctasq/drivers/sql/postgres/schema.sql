-- The whole schema as the migrations leave it (a test checks the two agree through the
-- catalog). {schema} is the quoted schema name (ASYNCTASQ_POSTGRES_SCHEMA). The
-- bookkeeping table {schema}.migrations is created by the migrator itself.

-- The queue in one table. A 'pending' job whose run_at is in the future reads as
-- 'scheduled'. Times are epoch seconds from the client clock (double precision), as the
-- driver protocol carries them. Key columns compare bytewise (COLLATE "C"): ids are
-- time-ordered hex, queue names ASCII, and C comparisons are the cheapest there are.
CREATE TABLE {schema}.jobs (
    id           text COLLATE "C" PRIMARY KEY,
    task         text NOT NULL,
    queue        text COLLATE "C" NOT NULL,
    payload      bytea NOT NULL,
    priority     integer NOT NULL DEFAULT 0,
    attempts     integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 1,
    run_at       double precision NOT NULL,
    created_at   double precision NOT NULL,
    timeout      double precision,
    lease_until  double precision,
    worker_id    text,
    state        text NOT NULL DEFAULT 'pending' CONSTRAINT jobs_state_check CHECK (
        state IN ('pending', 'waiting', 'active', 'completed', 'failed', 'cancelled', 'expired')
    ),
    error        text,
    result       bytea,
    unique_key   text COLLATE "C",
    depends_on   jsonb,
    expires_at   double precision,
    progress     double precision,
    finished_at  double precision,
    -- a row no claim or recovery could reach (never due, a lease that never lapses) is
    -- refused; in PostgreSQL 'NaN' equals 'NaN' (0002)
    CONSTRAINT jobs_times_finite CHECK (
        run_at NOT IN ('NaN', 'Infinity', '-Infinity')
        AND created_at NOT IN ('NaN', 'Infinity', '-Infinity')
        AND timeout NOT IN ('NaN', 'Infinity', '-Infinity')
        AND lease_until NOT IN ('NaN', 'Infinity', '-Infinity')
        AND expires_at NOT IN ('NaN', 'Infinity', '-Infinity')
        AND progress NOT IN ('NaN', 'Infinity', '-Infinity')
        AND finished_at NOT IN ('NaN', 'Infinity', '-Infinity')
    ),
    CONSTRAINT jobs_active_leased CHECK (state <> 'active' OR lease_until IS NOT NULL),
    -- dependencies (0004): a blocked job is stored 'waiting' with its unfinished parents
    on_parent_failure text NOT NULL DEFAULT 'fail',
    blocked_by   integer NOT NULL DEFAULT 0,
    -- a child in another transaction linked to it (0011): its settle looks again
    has_dependants boolean NOT NULL DEFAULT false
) WITH (
    -- every row is inserted, updated twice and deleted within seconds: vacuum early so
    -- dead index entries do not slow the claim down
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.05
);

-- serves the claim: equality on queue, then the exact order jobs are taken in, for
-- pending jobs only (active and finished rows never enter it)
CREATE INDEX jobs_claim ON {schema}.jobs (queue, priority, run_at, id) WHERE state = 'pending';

-- serves recovery of expired leases (and the count of active jobs)
CREATE INDEX jobs_lease ON {schema}.jobs (lease_until) WHERE state = 'active';

-- serves the expiry sweep: waiting jobs with a ttl, by expires_at (0009)
CREATE INDEX jobs_expiring ON {schema}.jobs (expires_at)
    WHERE state = 'pending' AND expires_at IS NOT NULL;

-- one unfinished job per unique_key
CREATE UNIQUE INDEX jobs_unique ON {schema}.jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('pending', 'waiting', 'active');

-- serves stats, listings and purges of finished jobs
CREATE INDEX jobs_finished ON {schema}.jobs (queue, state, finished_at)
    WHERE state IN ('completed', 'failed', 'cancelled', 'expired');

-- serves listings of a queue's blocked and running jobs (0010)
CREATE INDEX jobs_unfinished ON {schema}.jobs (queue, state)
    WHERE state IN ('waiting', 'active');

-- serves pages of a queue's blocked jobs from a position, in their order (0012)
CREATE INDEX jobs_blocked_order ON {schema}.jobs (queue, priority, run_at, id)
    WHERE state = 'waiting';

-- the dead letters by queue, task and error type (0013; queries.sql: failed_groups)
CREATE INDEX jobs_failed_kinds ON {schema}.jobs (
    queue, task, (left(split_part(split_part(error, E'\n', 1), ':', 1), 100))
) WHERE state = 'failed';

-- the planner's estimate of one queue's jobs in one state, for the dashboard's counts
-- of a state holding very many jobs (0010; Inspection.estimated_stats)
CREATE FUNCTION {schema}.estimated_jobs(queue_name text, job_state text) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE format(
        'EXPLAIN (FORMAT JSON) SELECT 1 FROM {schema}.jobs WHERE queue = %L AND state = %L',
        queue_name, job_state
    ) INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint;
END
$$;
CREATE STATISTICS {schema}.jobs_queue_state (mcv) ON queue, state FROM {schema}.jobs;

CREATE TABLE {schema}.queues (
    name   text COLLATE "C" PRIMARY KEY,
    paused boolean NOT NULL DEFAULT false
);

CREATE TABLE {schema}.workers (
    worker_id  text COLLATE "C" PRIMARY KEY,
    info       jsonb NOT NULL,
    expires_at double precision NOT NULL
);

-- job dependencies (0004): the parents a blocked child (state 'waiting') still waits on
CREATE TABLE {schema}.dependencies (
    parent_id text COLLATE "C" NOT NULL,
    child_id  text COLLATE "C" NOT NULL,
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX dependencies_child ON {schema}.dependencies (child_id);

-- completed jobs that were deleted, remembered while a later child may name them
CREATE TABLE {schema}.completed (
    id          text COLLATE "C" PRIMARY KEY,
    finished_at double precision NOT NULL,
    result      bytea
);
CREATE INDEX completed_age ON {schema}.completed (finished_at);

-- the jobs of each flow (FlowProducer, docs/workflows.md)
CREATE TABLE {schema}.flow_jobs (
    flow_id    text COLLATE "C" NOT NULL,
    position   integer NOT NULL,
    job_id     text COLLATE "C" NOT NULL,
    name       text,
    created_at double precision NOT NULL,
    PRIMARY KEY (flow_id, position)
);
CREATE INDEX flow_jobs_age ON {schema}.flow_jobs (created_at);
-- a job's flow, and flows newest first (0013)
CREATE INDEX flow_jobs_job ON {schema}.flow_jobs (job_id);
CREATE INDEX flow_jobs_newest ON {schema}.flow_jobs (created_at, flow_id);

-- Time and flow control (issue 16): schedules (repeatable and cron jobs).
CREATE TABLE {schema}.schedules (
    id         text COLLATE "C" PRIMARY KEY,
    queue      text COLLATE "C" NOT NULL,
    definition text NOT NULL,
    next_at    double precision NOT NULL,
    paused     boolean NOT NULL DEFAULT false
);

-- Rate limits (capability RateLimits, docs/flow-control.md): one token bucket per key,
-- taken by compare-and-set of version (asynctasq/drivers/sql/rates.py).
CREATE TABLE {schema}.rate_buckets (
    key     text COLLATE "C" PRIMARY KEY,
    tokens  double precision NOT NULL,
    at      double precision NOT NULL,
    version bigint NOT NULL DEFAULT 0
);

-- Queue rate limits stored in the broker (capability RateLimits, docs/flow-control.md):
-- one row per limited queue, read by every worker serving it.
CREATE TABLE {schema}.rate_limits (
    queue         text COLLATE "C" PRIMARY KEY,
    rate_limit    bigint NOT NULL,
    rate_interval double precision NOT NULL,
    burst         bigint
);

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
