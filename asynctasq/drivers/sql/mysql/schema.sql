-- The whole schema as the migrations leave it (tests check the two agree).
-- asynctasq_migrations records the versions applied (see queries.sql).

CREATE TABLE asynctasq_jobs (
    id            CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    task          VARCHAR(200) NOT NULL,
    queue         VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    payload       LONGBLOB NOT NULL,
    priority      INT NOT NULL DEFAULT 0,
    attempts      INT NOT NULL DEFAULT 0,
    max_attempts  INT NOT NULL DEFAULT 1,
    run_at        DOUBLE NOT NULL,
    created_at    DOUBLE NOT NULL,
    timeout       DOUBLE NULL,
    lease_until   DOUBLE NULL,
    worker_id     VARCHAR(255) NULL,
    state         VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    error         LONGTEXT NULL,
    result        LONGBLOB NULL,
    unique_key    VARCHAR(255) NULL,
    -- MySQL has no partial indexes: this column holds unique_key only while the job is
    -- unfinished, and its unique index keeps one unfinished job per key
    unique_active VARCHAR(255) AS
        (CASE WHEN state IN ('pending', 'waiting', 'active') THEN unique_key END) STORED,
    depends_on    TEXT NULL,
    expires_at    DOUBLE NULL,
    progress      DOUBLE NULL,
    finished_at   DOUBLE NULL,
    PRIMARY KEY (id),
    -- serves the claim (equality on queue and state, then the order jobs are taken
    -- in), the next due time of a queue, stats and listings of waiting jobs
    KEY asynctasq_jobs_claim (queue, state, priority, run_at),
    -- serves listings of finished jobs newest first and purges by age; a claim leaves
    -- it alone (finished_at stays NULL until the job finishes)
    KEY asynctasq_jobs_finished (queue, finished_at),
    -- serves recovery of expired leases (only active jobs have a lease_until)
    KEY asynctasq_jobs_lease (lease_until),
    -- serves the expiry sweep: waiting jobs by expires_at (0009)
    KEY asynctasq_jobs_expiring (state, expires_at),
    UNIQUE KEY asynctasq_jobs_unique (unique_active),
    -- a row no claim or recovery could reach is refused (0002)
    CONSTRAINT asynctasq_jobs_state CHECK (
        state IN ('pending', 'waiting', 'active', 'completed', 'failed', 'cancelled', 'expired')
    ),
    CONSTRAINT asynctasq_jobs_active_leased CHECK (
        state <> 'active' OR lease_until IS NOT NULL
    )
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE asynctasq_queues (
    name   VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    paused TINYINT NOT NULL DEFAULT 0,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE asynctasq_workers (
    worker_id  VARCHAR(255) NOT NULL,
    info       TEXT NOT NULL,
    expires_at DOUBLE NOT NULL,
    PRIMARY KEY (worker_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- job dependencies (0004): the parents a blocked child (state 'waiting') still waits on
CREATE TABLE asynctasq_dependencies (
    parent_id         CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    child_id          CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    on_parent_failure VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT 'fail',
    PRIMARY KEY (parent_id, child_id),
    KEY asynctasq_dependencies_child (child_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- completed jobs that were deleted, remembered while a later child may name them
CREATE TABLE asynctasq_completed (
    id          CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    finished_at DOUBLE NOT NULL,
    result      LONGBLOB NULL,
    PRIMARY KEY (id),
    KEY asynctasq_completed_age (finished_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- the jobs of each flow (FlowProducer, docs/workflows.md)
CREATE TABLE IF NOT EXISTS asynctasq_flow_jobs (
    flow_id    CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    position   INT NOT NULL,
    job_id     CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name       VARCHAR(200) NULL,
    created_at DOUBLE NOT NULL,
    PRIMARY KEY (flow_id, position),
    KEY asynctasq_flow_jobs_age (created_at),
    -- a job's flow (0013)
    KEY asynctasq_flow_jobs_job (job_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Time and flow control (issue 16): schedules (repeatable and cron jobs).
CREATE TABLE IF NOT EXISTS asynctasq_schedules (
    id         VARCHAR(300) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    queue      VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    definition MEDIUMTEXT NOT NULL,
    next_at    DOUBLE NOT NULL,
    paused     TINYINT NOT NULL DEFAULT 0,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Rate limits (capability RateLimits, docs/flow-control.md): one token bucket per key,
-- taken by compare-and-set of version (asynctasq/drivers/sql/rates.py).
CREATE TABLE IF NOT EXISTS asynctasq_rate_buckets (
    `key`     VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    tokens    DOUBLE NOT NULL,
    at        DOUBLE NOT NULL,
    version   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (`key`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Queue rate limits stored in the broker (capability RateLimits, docs/flow-control.md):
-- one row per limited queue, read by every worker serving it.
CREATE TABLE IF NOT EXISTS asynctasq_rate_limits (
    queue         VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    rate_limit    BIGINT NOT NULL,
    rate_interval DOUBLE NOT NULL,
    burst         BIGINT NULL,
    PRIMARY KEY (queue)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

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
