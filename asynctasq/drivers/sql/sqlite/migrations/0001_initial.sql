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
    finished_at  REAL
);

-- serves the claim: equality on queue, then the order jobs are taken in
CREATE INDEX asynctasq_jobs_claim ON asynctasq_jobs (queue, priority, run_at)
    WHERE state = 'pending';

-- serves recovery of expired leases
CREATE INDEX asynctasq_jobs_lease ON asynctasq_jobs (lease_until) WHERE state = 'active';

-- one unfinished job per unique_key
CREATE UNIQUE INDEX asynctasq_jobs_unique ON asynctasq_jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('pending', 'waiting', 'active');

-- serves stats, listings and purges
CREATE INDEX asynctasq_jobs_queue_state ON asynctasq_jobs (queue, state, finished_at);

CREATE TABLE asynctasq_queues (
    name   TEXT PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE asynctasq_workers (
    worker_id  TEXT PRIMARY KEY,
    info       TEXT NOT NULL,
    expires_at REAL NOT NULL
);
