-- Named queries of the PostgreSQL driver.
--
-- Placeholders filled in once per driver: {schema} (the quoted schema name), {columns}
-- (every job column, as j.<column>; {claimed_columns}: the same in the order of Job's
-- fields) and {channel} (the NOTIFY channel of queue name q).
-- Lists travel as arrays ($n::text[] with unnest), so every statement is static text
-- that asyncpg prepares once per connection, and a batch is one round trip.
--
-- The table's statistics swing between "empty" and "full" as the queue drains and
-- fills, so the worker's statements leave the planner no bad choice: rows are reached
-- through the primary key (id = ANY) or the one partial index meant for the statement,
-- never through a join on jobs, and the driver's connections run with
-- enable_seqscan=off (connection.py).
--
-- Locking rules that keep this deadlock-free: the claim, renew and recover_expired
-- take their rows with SKIP LOCKED (they never wait); settle waits only on rows a
-- single-row statement holds. NOTIFY is transactional: an enqueue inside the caller's
-- transaction wakes workers only when it commits.

-- name: bootstrap
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at double precision NOT NULL
);

-- name: migration_lock
-- one migrator per schema at a time, across every process (released at commit)
SELECT pg_advisory_xact_lock($1::bigint);

-- name: applied_migrations
SELECT version FROM {schema}.migrations ORDER BY version;

-- name: latest_migration
SELECT max(version) FROM {schema}.migrations;

-- name: record_migration
INSERT INTO {schema}.migrations (version, name, applied_at) VALUES ($1, $2, $3);

-- name: vacuum_lock
-- one vacuum of the schema's jobs table at a time, across every process (vacuum.py)
SELECT pg_try_advisory_lock($1::bigint);

-- name: vacuum_unlock
SELECT pg_advisory_unlock($1::bigint);

-- name: vacuum
-- SKIP_LOCKED: never queue behind autovacuum; TRUNCATE false: never take the lock
-- that would stall workers to give trailing empty pages back
VACUUM (SKIP_LOCKED, TRUNCATE false) {schema}.jobs;

-- name: enqueue
-- {on_conflict} makes two statements of this one (sql.py): "enqueue", a plain insert
-- (a fifth quicker), for a batch without unique keys on its first try; and
-- "enqueue_idempotent", with ON CONFLICT DO NOTHING, where a job id may be stored
-- already (a retried call whose first reply was lost) or an unfinished job may hold the
-- same unique_key: those are not stored twice.
WITH registered AS (
    INSERT INTO {schema}.queues (name) SELECT unnest($13::text[]) ON CONFLICT DO NOTHING
), inserted AS (
    INSERT INTO {schema}.jobs (
        id, task, queue, payload, priority, max_attempts, run_at, created_at, timeout,
        unique_key, depends_on, expires_at, state, attempts
    )
    SELECT id, task, queue, payload, priority, max_attempts, run_at, created_at, timeout,
           unique_key, depends_on::jsonb, expires_at, 'pending', 0
    FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::bytea[], $5::integer[], $6::integer[],
        $7::float8[], $8::float8[], $9::float8[], $10::text[], $11::text[], $12::float8[]
    ) AS n(id, task, queue, payload, priority, max_attempts, run_at, created_at, timeout,
           unique_key, depends_on, expires_at)
    {on_conflict}
    RETURNING id, unique_key
), woken AS (
    SELECT pg_notify({channel}, '') FROM unnest($13::text[]) AS q
)
SELECT (SELECT count(*) FROM inserted) AS inserted,
       ARRAY(SELECT id FROM inserted WHERE unique_key IS NOT NULL) AS keyed,
       (SELECT count(*) FROM woken) AS woken;

-- name: announce
-- After a COPY of new jobs (driver.py), in the same transaction: what the enqueue
-- statement does besides inserting (register the queues, wake their workers).
WITH registered AS (
    INSERT INTO {schema}.queues (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING
)
SELECT count(*) FROM (SELECT pg_notify({channel}, '') FROM unnest($1::text[]) AS q) AS woken;

-- name: unfinished_by_unique_key
SELECT unique_key, id FROM {schema}.jobs
WHERE unique_key = ANY($1::text[]) AND state IN ('pending', 'waiting', 'active');

-- name: claim
-- Per queue, the first $3 due jobs in claim order straight from jobs_claim, skipping
-- rows another worker is claiming; then the best $3 across the queues.
-- A claim needs no durability, so it commits without waiting for the WAL flush
-- (synchronous_commit off for this transaction only): should the server crash before
-- the flush, the claim is forgotten and the job handed out again, as at-least-once
-- allows. A later outcome's commit flushes the claim with it (WAL is sequential).
WITH live AS MATERIALIZED (
    SELECT q FROM unnest($1::text[]) AS q, set_config('synchronous_commit', 'off', true)
    WHERE NOT EXISTS (SELECT 1 FROM {schema}.queues p WHERE p.name = q AND p.paused)
), picked AS (
    SELECT c.id
    FROM live
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.run_at FROM {schema}.jobs j
        WHERE j.queue = q AND j.state = 'pending' AND j.run_at <= $2
        ORDER BY j.priority, j.run_at, j.id
        LIMIT $3
        FOR UPDATE SKIP LOCKED
    ) AS c
    ORDER BY c.priority, c.run_at, c.id
    LIMIT $3
)
UPDATE {schema}.jobs j
SET state = 'active', worker_id = $4, lease_until = $5, attempts = j.attempts + 1
-- the picked rows are locked by this statement: no need to check their state again
WHERE j.id = ANY(ARRAY(SELECT id FROM picked))
RETURNING {claimed_columns};

-- name: next_due
-- When the earliest scheduled job of these (unpaused) queues comes due. jobs_claim
-- sorts by priority before run_at, so this walks it one priority level at a time (a
-- loose index scan): a few index probes per distinct priority, however many jobs are
-- scheduled (a plain min(run_at) would read every one of them, on every idle poll).
WITH RECURSIVE live AS MATERIALIZED (
    SELECT q FROM unnest($1::text[]) AS q
    WHERE NOT EXISTS (SELECT 1 FROM {schema}.queues p WHERE p.name = q AND p.paused)
), levels AS (
    SELECT q, (
        SELECT min(j.priority) FROM {schema}.jobs j WHERE j.queue = q AND j.state = 'pending'
    ) AS priority
    FROM live
    UNION ALL
    SELECT l.q, (
        SELECT min(j.priority) FROM {schema}.jobs j
        WHERE j.queue = l.q AND j.state = 'pending' AND j.priority > l.priority
    )
    FROM levels l
    WHERE l.priority IS NOT NULL
)
SELECT min((
    SELECT j.run_at FROM {schema}.jobs j
    WHERE j.queue = l.q AND j.state = 'pending' AND j.priority = l.priority AND j.run_at > $2
    ORDER BY j.run_at
    LIMIT 1
))
FROM levels l
WHERE l.priority IS NOT NULL;

-- name: settle
-- Every outcome of a batch in one statement: $1 the ids of completed jobs to delete, $2
-- the ids of the others; $3.. one array per outcome field, and $9 maps each job id to
-- its position in them. A row is reached through the primary key only and finds its
-- outcome in O(log n): no join the planner could turn into "every outcome against every
-- job" on a day the table's statistics say it is empty. The fence: the job is still held
-- by the outcome's worker and attempt (worker_id is set only while a job is active).
-- kind is delete (completed, not kept), complete, retry, fail or release.
WITH deleted AS (
    DELETE FROM {schema}.jobs j
    WHERE j.id = ANY($1::text[])
      AND j.worker_id = ($3::text[])[($9::jsonb ->> j.id)::integer]
      AND j.attempts = ($4::integer[])[($9::jsonb ->> j.id)::integer]
    RETURNING j.id
), updated AS (
    UPDATE {schema}.jobs j SET
        state = CASE ($5::text[])[($9::jsonb ->> j.id)::integer]
            WHEN 'complete' THEN 'completed' WHEN 'fail' THEN 'failed' ELSE 'pending' END,
        result = coalesce(($6::bytea[])[($9::jsonb ->> j.id)::integer], j.result),
        error = coalesce(($8::text[])[($9::jsonb ->> j.id)::integer], j.error),
        run_at = CASE ($5::text[])[($9::jsonb ->> j.id)::integer]
            WHEN 'retry' THEN ($7::float8[])[($9::jsonb ->> j.id)::integer]
            WHEN 'release' THEN $10 ELSE j.run_at END,
        attempts = CASE ($5::text[])[($9::jsonb ->> j.id)::integer]
            WHEN 'release' THEN greatest(j.attempts - 1, 0) ELSE j.attempts END,
        finished_at = CASE ($5::text[])[($9::jsonb ->> j.id)::integer]
            WHEN 'complete' THEN $10 WHEN 'fail' THEN $10 ELSE j.finished_at END,
        lease_until = NULL,
        worker_id = NULL
    WHERE j.id = ANY($2::text[])
      AND j.worker_id = ($3::text[])[($9::jsonb ->> j.id)::integer]
      AND j.attempts = ($4::integer[])[($9::jsonb ->> j.id)::integer]
    RETURNING j.id, j.queue, j.state
), woken AS (
    SELECT pg_notify({channel}, '')
    FROM (SELECT DISTINCT queue FROM updated WHERE state = 'pending') AS u(q)
)
SELECT ARRAY(SELECT id FROM deleted UNION ALL SELECT id FROM updated) AS accepted,
       (SELECT count(*) FROM woken) AS woken;

-- name: renew
-- Reports what the worker holds as of the statement's start; a row locked right now
-- (its outcome is being settled, or it is being recovered) is left as it is. Rows are
-- reached through the primary key (worker_id is set only while a job is active).
WITH held AS (
    SELECT id FROM {schema}.jobs WHERE id = ANY($1::text[]) AND worker_id = $2
), renewed AS (
    UPDATE {schema}.jobs SET lease_until = $3
    WHERE id = ANY(ARRAY(
        SELECT id FROM {schema}.jobs
        WHERE id = ANY($1::text[]) AND worker_id = $2
        FOR UPDATE SKIP LOCKED
    ))
)
SELECT id FROM held;

-- name: recover_expired
-- Every worker runs this each tick: SKIP LOCKED splits the work and never waits. The
-- expired rows are locked here, then updated through the primary key.
WITH expired AS (
    SELECT id FROM {schema}.jobs
    WHERE state = 'active' AND lease_until < $1
    FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE {schema}.jobs j SET
        state = CASE WHEN j.attempts >= j.max_attempts THEN 'failed' ELSE 'pending' END,
        error = CASE WHEN j.attempts >= j.max_attempts THEN $2 ELSE j.error END,
        finished_at = CASE WHEN j.attempts >= j.max_attempts THEN $1 END,
        run_at = CASE WHEN j.attempts >= j.max_attempts THEN j.run_at ELSE $1 END,
        lease_until = NULL,
        worker_id = NULL
    WHERE j.id = ANY(ARRAY(SELECT id FROM expired))
    RETURNING j.queue, j.state
), woken AS (
    SELECT pg_notify({channel}, '')
    FROM (SELECT DISTINCT queue FROM moved WHERE state = 'pending') AS m(q)
)
SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM woken) AS woken;

-- name: stats
-- one branch per partial index, so no branch reads rows of other states
SELECT 'pending' AS state, run_at > $2 AS future, count(*) AS n FROM {schema}.jobs
WHERE queue = $1 AND state = 'pending' GROUP BY 2
UNION ALL
SELECT 'active', false, count(*) FROM {schema}.jobs WHERE state = 'active' AND queue = $1
UNION ALL
SELECT state, false, count(*) FROM {schema}.jobs
WHERE queue = $1 AND state IN ('completed', 'failed', 'cancelled', 'expired')
GROUP BY state;

-- name: is_paused
SELECT paused FROM {schema}.queues WHERE name = $1;

-- name: queues
SELECT name FROM {schema}.queues ORDER BY name;

-- name: get
SELECT {columns} FROM {schema}.jobs j WHERE j.id = $1;

-- name: list_state
SELECT {columns} FROM {schema}.jobs j
WHERE j.queue = $1 AND j.state = $2
ORDER BY j.priority, j.run_at, j.id LIMIT $3 OFFSET $4;

-- name: list_finished
SELECT {columns} FROM {schema}.jobs j
WHERE j.queue = $1 AND j.state = $2
ORDER BY j.finished_at DESC, j.id LIMIT $3 OFFSET $4;

-- name: list_pending
SELECT {columns} FROM {schema}.jobs j
WHERE j.queue = $1 AND j.state = 'pending' AND (j.run_at > $4) = $5
ORDER BY j.priority, j.run_at, j.id LIMIT $2 OFFSET $3;

-- name: list_all
-- waiting jobs in reservation order, then finished ones newest first
SELECT {columns} FROM {schema}.jobs j
WHERE j.queue = $1
ORDER BY j.finished_at IS NOT NULL, j.finished_at DESC, j.priority, j.run_at, j.id
LIMIT $2 OFFSET $3;

-- name: cancel
UPDATE {schema}.jobs SET state = 'cancelled', finished_at = $2
WHERE id = $1 AND state IN ('pending', 'waiting');

-- name: requeue
-- jobs_unique refuses a second unfinished holder of a key: check first, so a taken key
-- is a plain "no" rather than an error
WITH moved AS (
    UPDATE {schema}.jobs j
    SET state = 'pending', attempts = 0, run_at = $2, error = NULL, finished_at = NULL
    WHERE j.id = $1 AND j.state IN ('failed', 'cancelled', 'expired')
      AND (j.unique_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM {schema}.jobs other
          WHERE other.unique_key = j.unique_key
            AND other.state IN ('pending', 'waiting', 'active')))
    RETURNING j.queue AS q
), woken AS (
    SELECT pg_notify({channel}, '') FROM moved
)
SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM woken) AS woken;

-- name: purge_finished
DELETE FROM {schema}.jobs
WHERE queue = $1 AND state = $2 AND ($3::float8 IS NULL OR finished_at < $3);

-- name: purge_pending
DELETE FROM {schema}.jobs
WHERE queue = $1 AND state = 'pending' AND (run_at > $3) = $4
  AND ($2::float8 IS NULL OR created_at < $2);

-- name: set_paused
WITH saved AS (
    INSERT INTO {schema}.queues (name, paused) VALUES ($1, $2)
    ON CONFLICT (name) DO UPDATE SET paused = excluded.paused
), woken AS (
    SELECT pg_notify({channel}, '') FROM (SELECT $1::text) AS r(q) WHERE NOT $2
)
SELECT count(*) FROM woken;

-- name: set_progress
UPDATE {schema}.jobs SET progress = $3 WHERE id = $1 AND worker_id = $2;

-- name: heartbeat
WITH beat AS (
    INSERT INTO {schema}.workers (worker_id, info, expires_at) VALUES ($1, $2::jsonb, $3)
    ON CONFLICT (worker_id) DO UPDATE SET info = excluded.info, expires_at = excluded.expires_at
)
-- never the row upserted above: one statement must not change a row twice
DELETE FROM {schema}.workers WHERE expires_at <= $4 AND worker_id <> $1;

-- name: remove_worker
DELETE FROM {schema}.workers WHERE worker_id = $1;

-- name: live_workers
SELECT info::text FROM {schema}.workers WHERE expires_at > $1 ORDER BY worker_id;
