-- Named queries of the SQLite driver, parameters by name (:name). Lists travel as
-- JSON arrays (json_each), so every statement here is static text.

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS asynctasq_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at REAL NOT NULL
);

-- name: applied_migrations
SELECT version FROM asynctasq_migrations ORDER BY version;

-- name: record_migration
INSERT INTO asynctasq_migrations (version, name, applied_at)
VALUES (:version, :name, :applied_at);

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
WHERE unique_key = :unique_key AND state IN ('pending', 'waiting', 'active');

-- name: register_queue
INSERT OR IGNORE INTO asynctasq_queues (name) VALUES (:queue);

-- name: claim_candidates
-- one queue at a time, so the claim index yields rows already in order
SELECT rowid, id, priority, run_at FROM asynctasq_jobs
WHERE queue = :queue AND state = 'pending' AND run_at <= :now
  AND NOT EXISTS (SELECT 1 FROM asynctasq_queues q WHERE q.name = :queue AND q.paused = 1)
ORDER BY priority, run_at, id
LIMIT :limit;

-- name: claim_rows
-- the candidates as stored, read under the write lock: each is checked before it is
-- claimed (a damaged record is dead-lettered instead; SQLite stores any value anywhere)
SELECT rowid, * FROM asynctasq_jobs
WHERE rowid IN (SELECT value FROM json_each(:rowids)) AND state = 'pending';

-- name: claim
UPDATE asynctasq_jobs
SET state = 'active', worker_id = :worker_id, lease_until = :lease_until, attempts = attempts + 1
WHERE rowid IN (SELECT value FROM json_each(:rowids)) AND state = 'pending';

-- name: dead_letter_corrupt
-- by rowid: a damaged id may not even be text
UPDATE asynctasq_jobs
SET state = 'failed', error = :error, finished_at = :now, lease_until = NULL, worker_id = NULL
WHERE rowid = :rowid;

-- name: unreachable
-- Unfinished records the claim or recovery can never reach: a state nobody knows, a
-- pending job whose run_at is not a finite number (never due), an active one whose
-- lease_until is not (it would never lapse). The condition is the partial index's
-- own (migration 0002): the index is empty while nothing is damaged, so this costs a
-- lookup in an empty index.
SELECT rowid, * FROM asynctasq_jobs INDEXED BY asynctasq_jobs_unreachable
WHERE state NOT IN ('pending', 'waiting', 'active', 'completed', 'failed', 'cancelled', 'expired')
    OR (state = 'pending' AND (typeof(run_at) NOT IN ('integer', 'real') OR abs(run_at) > 1e300))
    OR (state = 'active'
        AND (typeof(lease_until) NOT IN ('integer', 'real') OR abs(lease_until) > 1e300))
LIMIT 100;

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
-- back to pending, due at once or at run_at (a rate limit's next token)
UPDATE asynctasq_jobs
SET state = 'pending', run_at = coalesce(:run_at, :now), attempts = MAX(attempts - 1, 0), lease_until = NULL,
    worker_id = NULL
WHERE id = :id AND state = 'active' AND worker_id = :worker_id AND attempts = :attempt;

-- name: renew
UPDATE asynctasq_jobs SET lease_until = :lease_until
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'active' AND worker_id = :worker_id
RETURNING id;

-- name: any_expired
SELECT 1 FROM asynctasq_jobs WHERE state = 'active' AND lease_until < :now LIMIT 1;

-- name: recover_dead
-- first the jobs whose lapsed lease was their last attempt: dead-lettered, and their
-- records returned, so the worker that recovered them runs their failed() hooks
UPDATE asynctasq_jobs
SET state = 'failed', error = :error, finished_at = :now, lease_until = NULL, worker_id = NULL
WHERE state = 'active' AND lease_until < :now AND attempts >= max_attempts
RETURNING *;

-- name: recover_expired
-- then the rest (in the same transaction): back to pending, the attempt counted
UPDATE asynctasq_jobs
SET state = 'pending', run_at = :now, finished_at = NULL, lease_until = NULL, worker_id = NULL
WHERE state = 'active' AND lease_until < :now;

-- name: stats
-- one read per index: pending jobs (with their run_at) from the claim index, every
-- other state counted on the (queue, state, finished_at) index alone, no row read
SELECT 'pending' AS state, run_at > :now AS future, COUNT(*) FROM asynctasq_jobs
WHERE queue = :queue AND state = 'pending' GROUP BY future
UNION ALL
SELECT state, 0, COUNT(*) FROM asynctasq_jobs
WHERE queue = :queue AND state <> 'pending' GROUP BY state;

-- name: stats_capped
-- stats, each finished state counted no further than :cap index entries (the
-- dashboard's overview on a huge queue: beyond, it says "more than")
SELECT 'pending' AS state, run_at > :now AS future, COUNT(*) FROM asynctasq_jobs
WHERE queue = :queue AND state = 'pending' GROUP BY future
UNION ALL
SELECT state, 0, COUNT(*) FROM asynctasq_jobs
WHERE queue = :queue AND state IN ('waiting', 'active') GROUP BY state
UNION ALL
SELECT 'completed', 0, COUNT(*) FROM (
    SELECT 1 FROM asynctasq_jobs WHERE queue = :queue AND state = 'completed' LIMIT :cap
)
UNION ALL
SELECT 'failed', 0, COUNT(*) FROM (
    SELECT 1 FROM asynctasq_jobs WHERE queue = :queue AND state = 'failed' LIMIT :cap
)
UNION ALL
SELECT 'cancelled', 0, COUNT(*) FROM (
    SELECT 1 FROM asynctasq_jobs WHERE queue = :queue AND state = 'cancelled' LIMIT :cap
)
UNION ALL
SELECT 'expired', 0, COUNT(*) FROM (
    SELECT 1 FROM asynctasq_jobs WHERE queue = :queue AND state = 'expired' LIMIT :cap
);

-- name: estimate_jobs
-- SQLite keeps no row estimate to read: a state beyond the cap shows as "more than"
SELECT 0;

-- name: is_paused
SELECT paused FROM asynctasq_queues WHERE name = :queue;

-- name: queues
SELECT name FROM asynctasq_queues ORDER BY name;

-- name: get
SELECT * FROM asynctasq_jobs WHERE id = :id;

-- name: list_state
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND state = :state
ORDER BY priority, run_at, id LIMIT :limit OFFSET :offset;

-- name: list_finished
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND state = :state
ORDER BY finished_at DESC, id LIMIT :limit OFFSET :offset;

-- name: list_finished_oldest
-- list_finished read from its other end (the dashboard's "oldest first")
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND state = :state
ORDER BY finished_at, id DESC LIMIT :limit OFFSET :offset;

-- name: list_finished_after
-- list_finished from just after the job at (:at, :id): a range read of the
-- (queue, state, finished_at) index from that finish time, whatever the depth
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND state = :state AND finished_at <= :at
    AND (finished_at < :at OR id > :id)
ORDER BY finished_at DESC, id LIMIT :limit;

-- name: list_finished_after_oldest
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND state = :state AND finished_at >= :at
    AND (finished_at > :at OR id < :id)
ORDER BY finished_at, id DESC LIMIT :limit;

-- name: list_pending
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND state = 'pending' AND (run_at > :now) = :future
ORDER BY priority, run_at, id LIMIT :limit OFFSET :offset;

-- name: list_pending_after
-- list_pending from just after the job at (:priority, :run_at, :id): a range read of
-- asynctasq_jobs_claim from that key (a row value the index answers), at any depth
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND state = 'pending' AND (run_at > :now) = :future
    AND (priority, run_at, id) > (:priority, :run_at, :id)
ORDER BY priority, run_at, id LIMIT :limit;

-- name: list_pending_before
-- the same read backwards: last to run first
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND state = 'pending' AND (run_at > :now) = :future
    AND (priority, run_at, id) < (:priority, :run_at, :id)
ORDER BY priority DESC, run_at DESC, id DESC LIMIT :limit;

-- name: list_state_after
-- list_state (blocked or active) from just after the job at (:priority, :run_at, :id)
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND state = :state
    AND (priority, run_at, id) > (:priority, :run_at, :id)
ORDER BY priority, run_at, id LIMIT :limit;

-- name: list_state_before
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND state = :state
    AND (priority, run_at, id) < (:priority, :run_at, :id)
ORDER BY priority DESC, run_at DESC, id DESC LIMIT :limit;

-- name: count_finished_since
-- the dashboard's "completed in the last minute", read from the (queue, state,
-- finished_at) index, at most :cap of them
SELECT COUNT(*) FROM (
    SELECT 1 FROM asynctasq_jobs
    WHERE queue = :queue AND state = :state AND finished_at >= :since
    LIMIT :cap
);

-- name: list_all
-- waiting jobs in reservation order, then finished ones newest first: one read per
-- state through its index, each of at most limit + offset rows, merged (a sort of
-- every job of a million-job queue otherwise); damaged records (a state nobody
-- knows) through the index that holds only them
SELECT * FROM (
    SELECT * FROM (
        SELECT * FROM asynctasq_jobs WHERE queue = :queue AND state = 'pending'
        ORDER BY priority, run_at, id LIMIT :limit + :offset
    )
    UNION ALL
    SELECT * FROM (
        SELECT * FROM asynctasq_jobs WHERE queue = :queue AND state IN ('waiting', 'active')
        ORDER BY priority, run_at, id LIMIT :limit + :offset
    )
    UNION ALL
    SELECT * FROM (
        SELECT * FROM asynctasq_jobs WHERE queue = :queue AND state = 'completed'
        ORDER BY finished_at DESC, priority, run_at, id LIMIT :limit + :offset
    )
    UNION ALL
    SELECT * FROM (
        SELECT * FROM asynctasq_jobs WHERE queue = :queue AND state = 'failed'
        ORDER BY finished_at DESC, priority, run_at, id LIMIT :limit + :offset
    )
    UNION ALL
    SELECT * FROM (
        SELECT * FROM asynctasq_jobs WHERE queue = :queue AND state = 'cancelled'
        ORDER BY finished_at DESC, priority, run_at, id LIMIT :limit + :offset
    )
    UNION ALL
    SELECT * FROM (
        SELECT * FROM asynctasq_jobs WHERE queue = :queue AND state = 'expired'
        ORDER BY finished_at DESC, priority, run_at, id LIMIT :limit + :offset
    )
    UNION ALL
    SELECT * FROM (
        SELECT * FROM asynctasq_jobs INDEXED BY asynctasq_jobs_unreachable
        WHERE state NOT IN
            ('pending', 'waiting', 'active', 'completed', 'failed', 'cancelled', 'expired')
            AND queue = :queue
        ORDER BY id LIMIT :limit + :offset
    )
)
ORDER BY finished_at IS NOT NULL, finished_at DESC, priority, run_at, id
LIMIT :limit OFFSET :offset;

-- name: cancel
UPDATE asynctasq_jobs SET state = 'cancelled', finished_at = :now
WHERE id = :id AND state IN ('pending', 'waiting');

-- name: requeue
UPDATE asynctasq_jobs
SET state = 'pending', attempts = 0, run_at = :now, error = NULL, finished_at = NULL,
    expires_at = NULL  -- the operator wants it run: its ttl is spent
WHERE id = :id AND state IN ('failed', 'cancelled', 'expired')
  AND (unique_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM asynctasq_jobs other
      WHERE other.unique_key = asynctasq_jobs.unique_key
        AND other.state IN ('pending', 'waiting', 'active')));

-- name: requeue_many
-- requeue of a batch (:ids, a JSON array) in one statement, with requeue's rules
UPDATE asynctasq_jobs
SET state = 'pending', attempts = 0, run_at = :now, error = NULL, finished_at = NULL,
    expires_at = NULL  -- the operator wants it run: its ttl is spent
WHERE id IN (SELECT value FROM json_each(:ids)) AND state IN ('failed', 'cancelled', 'expired')
  AND (unique_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM asynctasq_jobs other
      WHERE other.unique_key = asynctasq_jobs.unique_key
        AND other.state IN ('pending', 'waiting', 'active')))
RETURNING id;

-- name: remove
-- an active job is its worker's until settled; the row goes, and its unique key with it
DELETE FROM asynctasq_jobs WHERE id = :id AND state <> 'active';

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
DELETE FROM asynctasq_workers WHERE worker_id = :worker_id;

-- name: live_workers
SELECT info FROM asynctasq_workers WHERE expires_at > :now ORDER BY worker_id;

-- name: forget_dead_workers
DELETE FROM asynctasq_workers WHERE expires_at <= :now;

-- -- job dependencies (sql/dependencies.py) ---------------------------------------------

-- name: dep_parent_state
-- the parent's state; 'completed' when it was deleted on completion; NULL: unknown
SELECT coalesce(
    (SELECT state FROM asynctasq_jobs WHERE id = :id),
    (SELECT 'completed' FROM asynctasq_completed WHERE id = :id));

-- name: dep_policy
UPDATE asynctasq_jobs SET on_parent_failure = :policy WHERE id = :id;

-- name: dep_link
INSERT OR IGNORE INTO asynctasq_dependencies (parent_id, child_id) VALUES (:parent_id, :child_id);

-- name: dep_block
UPDATE asynctasq_jobs SET state = 'waiting', blocked_by = :blocked_by
WHERE id = :id AND state = 'pending';

-- name: dep_end
UPDATE asynctasq_jobs SET state = :state, error = :error, finished_at = :now
WHERE id = :id AND state IN ('pending', 'waiting');

-- name: dep_children
SELECT j.id, j.on_parent_failure FROM asynctasq_dependencies d
JOIN asynctasq_jobs j ON j.id = d.child_id
WHERE d.parent_id = :parent_id AND j.state = 'waiting';

-- name: dep_release_children
-- a child whose last unfinished parent this was becomes pending (due by its run_at)
UPDATE asynctasq_jobs
SET state = CASE WHEN blocked_by <= 1 THEN 'pending' ELSE state END,
    blocked_by = blocked_by - 1
WHERE state = 'waiting'
  AND id IN (SELECT child_id FROM asynctasq_dependencies WHERE parent_id = :parent_id);

-- name: dep_parent_done
UPDATE asynctasq_jobs
SET state = CASE WHEN blocked_by <= 1 THEN 'pending' ELSE state END,
    blocked_by = blocked_by - 1
WHERE id = :id AND state = 'waiting';

-- name: dep_unlink_parent
DELETE FROM asynctasq_dependencies WHERE parent_id = :parent_id;

-- name: dep_unlink_child
DELETE FROM asynctasq_dependencies WHERE child_id = :child_id;

-- name: dep_remember
INSERT OR REPLACE INTO asynctasq_completed (id, finished_at, result)
VALUES (:id, :now, :result);

-- name: dep_forget_completed
DELETE FROM asynctasq_completed WHERE finished_at < :horizon;

-- name: dep_lock_state
SELECT state FROM asynctasq_jobs WHERE id = :id;

-- name: dep_orphans
-- parents deleted before they finished (purged, removed) that children still wait on
SELECT DISTINCT d.parent_id FROM asynctasq_dependencies d
WHERE NOT EXISTS (SELECT 1 FROM asynctasq_jobs j WHERE j.id = d.parent_id)
  AND NOT EXISTS (SELECT 1 FROM asynctasq_completed c WHERE c.id = d.parent_id);

-- name: dep_leftover_completed
-- completed parents still linked to a child (a repair: the settle unlinks them)
SELECT DISTINCT d.parent_id FROM asynctasq_dependencies d
WHERE EXISTS (SELECT 1 FROM asynctasq_completed c WHERE c.id = d.parent_id)
   OR EXISTS (SELECT 1 FROM asynctasq_jobs p WHERE p.id = d.parent_id AND p.state = 'completed');

-- name: dep_leftover_ended
SELECT DISTINCT d.parent_id, p.state FROM asynctasq_dependencies d
JOIN asynctasq_jobs p ON p.id = d.parent_id
WHERE p.state IN ('failed', 'cancelled', 'expired');

-- -- time and flow control (issue 16): schedules -------------------------------------

-- name: schedule_definition
SELECT definition FROM asynctasq_schedules WHERE id = :id;

-- name: schedule_save
INSERT INTO asynctasq_schedules (id, queue, definition, next_at, paused)
VALUES (:id, :queue, :definition, :next_at, :paused)
ON CONFLICT (id) DO UPDATE SET queue = excluded.queue, definition = excluded.definition,
    next_at = excluded.next_at, paused = excluded.paused
WHERE asynctasq_schedules.definition <> excluded.definition;

-- name: schedule_list
SELECT definition, next_at, paused FROM asynctasq_schedules ORDER BY id;

-- name: schedule_remove
DELETE FROM asynctasq_schedules WHERE id = :id;

-- name: schedule_pause
UPDATE asynctasq_schedules SET paused = :paused WHERE id = :id;

-- the compare-and-set that fires a slot (in the transaction inserting its jobs)
-- name: schedule_advance
UPDATE asynctasq_schedules SET next_at = :next_at WHERE id = :id AND next_at = :expected;

-- -- flow control (issue 16, docs/flow-control.md) ------------------------------------

-- name: expire_claimed
-- A job the claim just took although its ttl ran out (expires_at <= now): it moves to
-- expired, never handed out, while the claim still holds it; its attempt is not counted.
UPDATE asynctasq_jobs SET
    state = 'expired', error = :error, finished_at = :now, lease_until = NULL,
    worker_id = NULL, attempts = attempts - 1
WHERE id = :id AND state = 'active' AND worker_id = :worker_id;

-- name: expire_candidates
-- the expiry sweep (capability Expiry): waiting jobs whose ttl ran out, oldest first;
-- read in the sweep's write transaction (SQLite: one writer)
SELECT id, expires_at FROM asynctasq_jobs
WHERE state = 'pending' AND expires_at IS NOT NULL AND expires_at <= :now
ORDER BY expires_at LIMIT :limit;

-- name: expire_waiting
-- one of them moves to expired, never started: attempts unchanged, unique key freed
UPDATE asynctasq_jobs SET state = 'expired', error = :error, finished_at = :now
WHERE id = :id AND state = 'pending';

-- name: cancel_running
-- An active job cancelled (capability RunningCancellation): its lease goes, so its
-- worker's next renewal does not hold it and its outcome is refused.
UPDATE asynctasq_jobs SET
    state = 'cancelled', finished_at = :now, lease_until = NULL, worker_id = NULL
WHERE id = :id AND state = 'active';

-- name: rate_bucket
SELECT tokens, at, version FROM asynctasq_rate_buckets WHERE key = :key;

-- name: rate_bucket_add
INSERT OR IGNORE INTO asynctasq_rate_buckets (key, tokens, at) VALUES (:key, :tokens, :at);

-- name: rate_bucket_set
UPDATE asynctasq_rate_buckets SET tokens = :tokens, at = :at, version = version + 1
WHERE key = :key AND version = :version;

-- name: rate_limits
SELECT queue, rate_limit, rate_interval, burst FROM asynctasq_rate_limits;

-- name: rate_limit_put
INSERT INTO asynctasq_rate_limits (queue, rate_limit, rate_interval, burst)
VALUES (:queue, :rate_limit, :rate_interval, :burst)
ON CONFLICT (queue) DO UPDATE SET rate_limit = excluded.rate_limit,
    rate_interval = excluded.rate_interval, burst = excluded.burst;

-- name: rate_limit_drop
DELETE FROM asynctasq_rate_limits WHERE queue = :queue;

-- Deduplication modes (asynctasq/drivers/sql/dedup.py): run inside one write
-- transaction per job, so the lock read, the decision and the writes are one step.

-- name: dedup_reserve
INSERT OR IGNORE INTO asynctasq_dedup (key, job_id, mode) VALUES (:key, '', '');

-- name: dedup_lock
SELECT job_id, mode, until FROM asynctasq_dedup WHERE key = :key;

-- name: dedup_take
UPDATE asynctasq_dedup SET job_id = :job_id, mode = :mode, until = :until WHERE key = :key;

-- name: dedup_replace
-- a debounced duplicate: the waiting holder (locked by dep_lock_state) takes its payload
UPDATE asynctasq_jobs SET payload = :payload, run_at = :run_at, expires_at = :expires_at
WHERE id = :id AND state = 'pending';

-- name: dedup_sweep
-- throttle locks whose window has passed (a take that meets one replaces it anyway)
DELETE FROM asynctasq_dedup WHERE mode = 'throttle' AND until <= :now;

-- name: dedup_register
INSERT OR IGNORE INTO asynctasq_queues (name) VALUES (:queue);

-- name: dedup_insert
INSERT OR IGNORE INTO asynctasq_jobs (
    id, task, queue, payload, priority, attempts, max_attempts, run_at, created_at,
    timeout, state, unique_key, depends_on, expires_at
) VALUES (
    :id, :task, :queue, :payload, :priority, 0, :max_attempts, :run_at, :created_at,
    :timeout, 'pending', NULL, :depends_on, :expires_at
);

-- Concurrency keys (asynctasq/drivers/sql/slots.py): one write transaction per take.

-- name: slot_reserve
INSERT OR IGNORE INTO asynctasq_slots (key, job_id) VALUES (:key, '');

-- name: slot_lock
SELECT job_id FROM asynctasq_slots WHERE key = :key AND job_id = '';

-- name: slot_holders
SELECT s.job_id, j.state FROM asynctasq_slots s
LEFT JOIN asynctasq_jobs j ON j.id = s.job_id
WHERE s.key = :key AND s.job_id <> '';

-- name: slot_take
INSERT OR IGNORE INTO asynctasq_slots (key, job_id) VALUES (:key, :job_id);

-- name: slot_give
DELETE FROM asynctasq_slots WHERE key = :key AND job_id = :job_id;

-- name: job_outcomes
-- Results (0008): how each job of a batch stands (source 0); a deleted completed job
-- from completed (source 1)
SELECT id, state, result, error, 0 FROM asynctasq_jobs WHERE id IN (SELECT value FROM json_each(:ids))
UNION ALL
SELECT id, 'completed', result, NULL, 1 FROM asynctasq_completed WHERE id IN (SELECT value FROM json_each(:ids));

-- name: flow_jobs
SELECT job_id, name FROM asynctasq_flow_jobs WHERE flow_id = :flow_id ORDER BY position;

-- name: flow_forget
-- flows whose jobs are all gone (finished and forgotten), past the retention
DELETE FROM asynctasq_flow_jobs WHERE created_at < :horizon
  AND NOT EXISTS (SELECT 1 FROM asynctasq_jobs j WHERE j.id = asynctasq_flow_jobs.job_id)
  AND NOT EXISTS (SELECT 1 FROM asynctasq_completed c WHERE c.id = asynctasq_flow_jobs.job_id);

-- name: flow_add
INSERT INTO asynctasq_flow_jobs (flow_id, position, job_id, name, created_at)
VALUES (:flow_id, :position, :job_id, :name, :now);

-- name: flows_newest
-- Flows.list_flows: flow ids newest first from just after (:at, :id), a range read of
-- asynctasq_flow_jobs_age (time, then the table's key: flow id, position); a flow's
-- rows share its time, DISTINCT keeps one
SELECT DISTINCT created_at, flow_id FROM asynctasq_flow_jobs
WHERE created_at <= :at AND (created_at < :at OR flow_id < :id)
ORDER BY created_at DESC, flow_id DESC LIMIT :limit;

-- name: flow_of
-- the flow a job belongs to, and its name there (0013: asynctasq_flow_jobs_job)
SELECT flow_id, name FROM asynctasq_flow_jobs WHERE job_id = :id LIMIT 1;

-- name: failed_groups
-- the dead letters of a queue by task and error type, every one counted from
-- asynctasq_jobs_failed_kinds (0013: the same expression; overviews.error_kind)
SELECT task,
    substr(error, 1, min(instr(error || ':', ':'), instr(error || char(10), char(10)), 101) - 1),
    COUNT(*)
FROM asynctasq_jobs WHERE queue = :queue AND state = 'failed'
GROUP BY task,
    substr(error, 1, min(instr(error || ':', ':'), instr(error || char(10), char(10)), 101) - 1);

-- name: flow_states
-- a flow's jobs counted by stored state (NULL: forgotten), in one step: the flows
-- list pages through many flows, some of many jobs
SELECT COALESCE(j.state, CASE WHEN c.id IS NOT NULL THEN 'completed' END), COUNT(*)
FROM asynctasq_flow_jobs f
LEFT JOIN asynctasq_jobs j ON j.id = f.job_id
LEFT JOIN asynctasq_completed c ON c.id = f.job_id
WHERE f.flow_id = :flow_id
GROUP BY 1;
