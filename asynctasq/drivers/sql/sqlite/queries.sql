-- Named queries of the SQLite driver. Lists travel as JSON arrays (json_each), so
-- every statement here is static text.

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS asynctasq_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at REAL NOT NULL
);

-- name: applied_migrations
SELECT version FROM asynctasq_migrations ORDER BY version;

-- name: record_migration
INSERT INTO asynctasq_migrations (version, name, applied_at) VALUES (?, ?, ?);

-- name: insert_job
INSERT OR IGNORE INTO asynctasq_jobs (
    id, task, queue, payload, priority, attempts, max_attempts, run_at, created_at,
    timeout, state, unique_key, depends_on, expires_at
) VALUES (
    :id, :task, :queue, :payload, :priority, 0, :max_attempts, :run_at, :created_at,
    :timeout, 'pending', :unique_key, :depends_on, :expires_at
);

-- name: unfinished_by_unique_key
SELECT id FROM asynctasq_jobs
WHERE unique_key = ? AND state IN ('pending', 'waiting', 'active');

-- name: register_queue
INSERT OR IGNORE INTO asynctasq_queues (name) VALUES (?);

-- name: claim_candidates
-- one queue at a time, so the claim index yields rows already in order
SELECT id, priority, run_at FROM asynctasq_jobs
WHERE queue = :queue AND state = 'pending' AND run_at <= :now
  AND NOT EXISTS (SELECT 1 FROM asynctasq_queues q WHERE q.name = :queue AND q.paused = 1)
ORDER BY priority, run_at, id
LIMIT :limit;

-- name: claim
UPDATE asynctasq_jobs
SET state = 'active', worker_id = :worker_id, lease_until = :lease_until, attempts = attempts + 1
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'pending'
RETURNING *;

-- name: next_due
SELECT MIN(run_at) FROM asynctasq_jobs
WHERE state = 'pending' AND queue IN (SELECT value FROM json_each(:queues));

-- name: complete_delete
DELETE FROM asynctasq_jobs
WHERE id = :id AND state = 'active' AND worker_id = :worker_id AND attempts = :attempt;

-- name: complete_keep
UPDATE asynctasq_jobs
SET state = 'completed', result = :result, finished_at = :now, lease_until = NULL,
    worker_id = NULL
WHERE id = :id AND state = 'active' AND worker_id = :worker_id AND attempts = :attempt;

-- name: retry
UPDATE asynctasq_jobs
SET state = 'pending', run_at = :run_at, error = :error, lease_until = NULL, worker_id = NULL
WHERE id = :id AND state = 'active' AND worker_id = :worker_id AND attempts = :attempt;

-- name: fail
UPDATE asynctasq_jobs
SET state = 'failed', error = :error, finished_at = :now, lease_until = NULL, worker_id = NULL
WHERE id = :id AND state = 'active' AND worker_id = :worker_id AND attempts = :attempt;

-- name: release
UPDATE asynctasq_jobs
SET state = 'pending', run_at = :now, attempts = MAX(attempts - 1, 0), lease_until = NULL,
    worker_id = NULL
WHERE id = :id AND state = 'active' AND worker_id = :worker_id AND attempts = :attempt;

-- name: renew
UPDATE asynctasq_jobs SET lease_until = :lease_until
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'active' AND worker_id = :worker_id
RETURNING id;

-- name: any_expired
SELECT 1 FROM asynctasq_jobs WHERE state = 'active' AND lease_until < :now LIMIT 1;

-- name: recover_expired
UPDATE asynctasq_jobs
SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
    error = CASE WHEN attempts >= max_attempts THEN :error ELSE error END,
    finished_at = CASE WHEN attempts >= max_attempts THEN :now ELSE NULL END,
    run_at = CASE WHEN attempts >= max_attempts THEN run_at ELSE :now END,
    lease_until = NULL, worker_id = NULL
WHERE state = 'active' AND lease_until < :now;

-- name: stats
SELECT state, run_at > :now AS future, COUNT(*) FROM asynctasq_jobs
WHERE queue = :queue GROUP BY state, future;

-- name: is_paused
SELECT paused FROM asynctasq_queues WHERE name = ?;

-- name: queues
SELECT name FROM asynctasq_queues ORDER BY name;

-- name: get
SELECT * FROM asynctasq_jobs WHERE id = ?;

-- name: list_state
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND state = :state
ORDER BY priority, run_at, id LIMIT :limit OFFSET :offset;

-- name: list_finished
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND state = :state
ORDER BY finished_at DESC, id LIMIT :limit OFFSET :offset;

-- name: list_pending
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND state = 'pending' AND (run_at > :now) = :future
ORDER BY priority, run_at, id LIMIT :limit OFFSET :offset;

-- name: list_all
SELECT * FROM asynctasq_jobs
WHERE queue = :queue
ORDER BY state IN ('completed', 'failed', 'cancelled', 'expired'), priority, run_at, id
LIMIT :limit OFFSET :offset;

-- name: cancel
UPDATE asynctasq_jobs SET state = 'cancelled', finished_at = :now
WHERE id = :id AND state IN ('pending', 'waiting');

-- name: requeue
UPDATE asynctasq_jobs
SET state = 'pending', attempts = 0, run_at = :now, error = NULL, finished_at = NULL
WHERE id = :id AND state IN ('failed', 'cancelled', 'expired')
  AND (unique_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM asynctasq_jobs other
      WHERE other.unique_key = asynctasq_jobs.unique_key
        AND other.state IN ('pending', 'waiting', 'active')));

-- name: purge_finished
DELETE FROM asynctasq_jobs
WHERE queue = :queue AND state = :state AND (:older_than IS NULL OR finished_at < :older_than);

-- name: purge_pending
DELETE FROM asynctasq_jobs
WHERE queue = :queue AND state = 'pending' AND (run_at > :now) = :future
  AND (:older_than IS NULL OR created_at < :older_than);

-- name: set_paused
INSERT INTO asynctasq_queues (name, paused) VALUES (:queue, :paused)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused;

-- name: set_progress
UPDATE asynctasq_jobs SET progress = :progress
WHERE id = :id AND state = 'active' AND worker_id = :worker_id;

-- name: heartbeat
INSERT INTO asynctasq_workers (worker_id, info, expires_at) VALUES (:worker_id, :info, :expires_at)
ON CONFLICT (worker_id) DO UPDATE SET info = excluded.info, expires_at = excluded.expires_at;

-- name: remove_worker
DELETE FROM asynctasq_workers WHERE worker_id = ?;

-- name: live_workers
SELECT info FROM asynctasq_workers WHERE expires_at > ? ORDER BY worker_id;

-- name: forget_dead_workers
DELETE FROM asynctasq_workers WHERE expires_at <= ?;
