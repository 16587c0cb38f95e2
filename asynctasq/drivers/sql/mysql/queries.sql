-- Named queries of the MySQL / MariaDB driver. Parameters are written :name and bound
-- by asynctasq/drivers/mysql/sqltext.py; a list binds as (a, b, c), a list of tuples as
-- the rows of a multi-row VALUES. Every statement runs unchanged on MySQL 8 and
-- MariaDB 10.6+ (SKIP LOCKED and JSON_TABLE are the newest features used).

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS asynctasq_migrations (
    version    INT NOT NULL,
    name       VARCHAR(200) NOT NULL,
    applied_at DOUBLE NOT NULL,
    PRIMARY KEY (version)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- name: applied_migrations
SELECT version FROM asynctasq_migrations ORDER BY version;

-- name: record_migration
INSERT INTO asynctasq_migrations (version, name, applied_at)
VALUES (:version, :name, :applied_at);

-- name: get_lock
SELECT GET_LOCK(:lock, :timeout);

-- name: release_lock
SELECT RELEASE_LOCK(:lock);

-- name: current_database
SELECT DATABASE();

-- name: max_allowed_packet
SELECT @@max_allowed_packet;

-- name: insert_jobs
-- a job id or unique key already taken leaves the row alone (id = id is a no-op)
INSERT INTO asynctasq_jobs (
    id, task, queue, payload, priority, attempts, max_attempts, run_at, created_at,
    timeout, state, unique_key, depends_on, expires_at
) VALUES :rows
ON DUPLICATE KEY UPDATE id = asynctasq_jobs.id;

-- name: unfinished_by_unique_key
SELECT unique_active, id FROM asynctasq_jobs WHERE unique_active IN :keys;

-- name: register_queues
INSERT INTO asynctasq_queues (name) VALUES :rows
ON DUPLICATE KEY UPDATE name = asynctasq_queues.name;

-- name: claim
-- one queue at a time, so the claim index yields rows already in order and the scan
-- stops after :limit rows; rows other workers hold are skipped, not waited for
-- (the columns a pending job can have set: fewer columns, less to parse per row)
SELECT id, task, queue, payload, priority, attempts, max_attempts, run_at, created_at,
    timeout, error, unique_key, depends_on, expires_at, progress
FROM asynctasq_jobs
WHERE queue = :queue AND state = 'pending' AND run_at <= :now
  AND NOT EXISTS (SELECT 1 FROM asynctasq_queues q WHERE q.name = :queue AND q.paused = 1)
ORDER BY priority, run_at, id
LIMIT :limit
FOR UPDATE SKIP LOCKED;

-- name: mark_claimed
UPDATE asynctasq_jobs
SET state = 'active', worker_id = :worker_id, lease_until = :lease_until,
    attempts = attempts + 1
WHERE id IN :ids;

-- name: dead_letter_corrupt
-- a record the claim found damaged (faults.py), dead-lettered with the reason while
-- the claim's transaction holds its row
UPDATE asynctasq_jobs
SET state = 'failed', error = :error, finished_at = :now, lease_until = NULL, worker_id = NULL
WHERE id = :id;

-- name: next_due
-- the earliest run_at of a pending job in the unpaused queues: a loose scan of the
-- claim index, one dive per queue and priority level however many jobs wait
SELECT MIN(d.due) FROM (
    SELECT queue, MIN(run_at) AS due FROM asynctasq_jobs
    WHERE queue IN :queues AND state = 'pending'
    GROUP BY queue, state, priority
) d
LEFT JOIN asynctasq_queues q ON q.name = d.queue
WHERE COALESCE(q.paused, 0) = 0;

-- name: lock_active
-- which outcomes of a batch hold their job, when the fenced statements below did not
-- all match (a worker lost a lease): rare, so not part of every batch
SELECT id, worker_id, attempts FROM asynctasq_jobs
WHERE id IN :ids AND state = 'active'
FOR UPDATE;

-- name: delete_completed
-- completions fenced by state, worker and attempt: the rows it counts were accepted
-- (the row constructor is a range on the primary key)
DELETE FROM asynctasq_jobs
WHERE (id, worker_id, attempts) IN (:fence) AND state = 'active';

-- name: apply_outcomes
-- every outcome but a deleting completion, one row each in :outcomes (a JSON array),
-- fenced like delete_completed. o.id and o.worker_id have the character sets of the
-- columns they meet, or the join cannot use the primary key (a quadratic plan)
UPDATE asynctasq_jobs j
JOIN JSON_TABLE(:outcomes, '$[*]' COLUMNS (
    id        CHAR(36) CHARACTER SET ascii COLLATE ascii_bin PATH '$.id',
    worker_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$.worker_id',
    attempt   INT PATH '$.attempt',
    kind      VARCHAR(8) PATH '$.kind',
    run_at    DOUBLE PATH '$.run_at',
    error     LONGTEXT PATH '$.error',
    result    LONGTEXT PATH '$.result'
)) o ON o.id = j.id AND j.state = 'active' AND j.worker_id = o.worker_id
    AND j.attempts = o.attempt
SET j.state = CASE o.kind
        WHEN 'complete' THEN 'completed' WHEN 'fail' THEN 'failed' ELSE 'pending' END,
    j.result = CASE WHEN o.kind = 'complete' THEN FROM_BASE64(o.result) ELSE j.result END,
    j.error = CASE WHEN o.kind IN ('retry', 'fail') THEN o.error ELSE j.error END,
    j.run_at = CASE o.kind WHEN 'retry' THEN o.run_at WHEN 'release' THEN coalesce(o.run_at, :now)
        ELSE j.run_at END,
    j.attempts = CASE WHEN o.kind = 'release' THEN GREATEST(j.attempts - 1, 0)
        ELSE j.attempts END,
    j.finished_at = CASE WHEN o.kind IN ('complete', 'fail') THEN :now END,
    j.lease_until = NULL,
    j.worker_id = NULL
WHERE j.id IN :ids;

-- name: held_by
-- a plain read: a job whose outcome is being settled right now still counts as held,
-- rather than waiting for the settle to finish and then reading as lost
SELECT id FROM asynctasq_jobs
WHERE id IN :ids AND state = 'active' AND worker_id = :worker_id;

-- name: extend_leases
UPDATE asynctasq_jobs SET lease_until = :lease_until
WHERE id IN :ids AND state = 'active' AND worker_id = :worker_id;

-- name: any_expired
SELECT 1 FROM asynctasq_jobs WHERE lease_until < :now AND state = 'active' LIMIT 1;

-- name: lock_expired
SELECT id FROM asynctasq_jobs
WHERE lease_until < :now AND state = 'active'
ORDER BY lease_until
LIMIT :limit
FOR UPDATE SKIP LOCKED;

-- name: recover_expired
-- MySQL assigns left to right: no assignment here reads a column set before it
UPDATE asynctasq_jobs
SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
    error = CASE WHEN attempts >= max_attempts THEN :error ELSE error END,
    finished_at = CASE WHEN attempts >= max_attempts THEN :now END,
    run_at = CASE WHEN attempts >= max_attempts THEN run_at ELSE :now END,
    lease_until = NULL,
    worker_id = NULL
WHERE id IN :ids AND state = 'active' AND lease_until < :now;

-- name: recovered_dead
-- the records of the jobs recover_expired just dead-lettered (its rows, still locked
-- by this transaction), for their failed() hooks
SELECT * FROM asynctasq_jobs WHERE id IN :ids AND state = 'failed';

-- name: stats
SELECT state, run_at > :now AS future, COUNT(*) AS n FROM asynctasq_jobs
WHERE queue = :queue
GROUP BY state, future;

-- name: stats_capped
-- stats, each finished state counted no further than :cap (at most :cap entries of
-- asynctasq_jobs_claim read): beyond, the dashboard says "more than" (estimate_jobs)
SELECT state, run_at > :now AS future, COUNT(*) AS n FROM asynctasq_jobs
WHERE queue = :queue AND state IN ('pending', 'waiting', 'active')
GROUP BY state, future
UNION ALL
SELECT 'completed', 0, COUNT(*) FROM (
    SELECT 1 FROM asynctasq_jobs WHERE queue = :queue AND state = 'completed' LIMIT :cap
) AS c
UNION ALL
SELECT 'failed', 0, COUNT(*) FROM (
    SELECT 1 FROM asynctasq_jobs WHERE queue = :queue AND state = 'failed' LIMIT :cap
) AS f
UNION ALL
SELECT 'cancelled', 0, COUNT(*) FROM (
    SELECT 1 FROM asynctasq_jobs WHERE queue = :queue AND state = 'cancelled' LIMIT :cap
) AS x
UNION ALL
SELECT 'expired', 0, COUNT(*) FROM (
    SELECT 1 FROM asynctasq_jobs WHERE queue = :queue AND state = 'expired' LIMIT :cap
) AS e;

-- name: estimate_jobs
-- no estimate: InnoDB's row estimate of a range (EXPLAIN) stops at about half the
-- table, so a state holding most of the jobs would read "about" half its size; a state
-- beyond the cap shows as "more than" instead
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
ORDER BY priority, run_at, id
LIMIT :limit OFFSET :offset;

-- name: list_finished
-- newest first, walking asynctasq_jobs_finished backwards (a finished job has its
-- finished_at); ties, jobs finished in the same microsecond, by id
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND finished_at IS NOT NULL AND state = :state
ORDER BY finished_at DESC, id DESC
LIMIT :limit OFFSET :offset;

-- name: list_pending
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND state = 'pending' AND (run_at > :now) = :future
ORDER BY priority, run_at, id
LIMIT :limit OFFSET :offset;

-- name: list_pending_after
-- list_pending from just after the job at (:priority, :run_at, :id): a range read of
-- asynctasq_jobs_claim (queue, state, priority, run_at, and the primary key InnoDB
-- appends) from that key, at any depth. The comparison is spelled out: the optimizer
-- makes index ranges of it, not of a row constructor
SELECT * FROM asynctasq_jobs FORCE INDEX (asynctasq_jobs_claim)
WHERE queue = :queue AND state = 'pending' AND (run_at > :now) = :future
    AND (priority > :priority OR (priority = :priority
        AND (run_at > :run_at OR (run_at = :run_at AND id > :id))))
ORDER BY priority, run_at, id
LIMIT :limit;

-- name: list_pending_before
-- the same read backwards: last to run first
SELECT * FROM asynctasq_jobs FORCE INDEX (asynctasq_jobs_claim)
WHERE queue = :queue AND state = 'pending' AND (run_at > :now) = :future
    AND (priority < :priority OR (priority = :priority
        AND (run_at < :run_at OR (run_at = :run_at AND id < :id))))
ORDER BY priority DESC, run_at DESC, id DESC
LIMIT :limit;

-- name: list_state_after
-- list_state (blocked or active) from just after the job at (:priority, :run_at, :id),
-- through the same index
SELECT * FROM asynctasq_jobs FORCE INDEX (asynctasq_jobs_claim)
WHERE queue = :queue AND state = :state
    AND (priority > :priority OR (priority = :priority
        AND (run_at > :run_at OR (run_at = :run_at AND id > :id))))
ORDER BY priority, run_at, id
LIMIT :limit;

-- name: list_state_before
SELECT * FROM asynctasq_jobs FORCE INDEX (asynctasq_jobs_claim)
WHERE queue = :queue AND state = :state
    AND (priority < :priority OR (priority = :priority
        AND (run_at < :run_at OR (run_at = :run_at AND id < :id))))
ORDER BY priority DESC, run_at DESC, id DESC
LIMIT :limit;

-- name: count_finished_since
-- the dashboard's "completed in the last minute", read from asynctasq_jobs_finished
-- (queue, finished_at), at most :cap of them
SELECT COUNT(*) FROM (
    SELECT 1 FROM asynctasq_jobs
    WHERE queue = :queue AND finished_at IS NOT NULL AND finished_at >= :since
        AND state = :state
    LIMIT :cap
) AS recent;

-- name: list_finished_oldest
-- list_finished read from its other end (the dashboard's "oldest first")
SELECT * FROM asynctasq_jobs
WHERE queue = :queue AND finished_at IS NOT NULL AND state = :state
ORDER BY finished_at, id
LIMIT :limit OFFSET :offset;

-- name: list_finished_after
-- list_finished from just after the job at (:at, :id): a range read of
-- asynctasq_jobs_finished from that finish time, whatever the depth (forced: left to
-- itself the optimizer reads the index by queue alone, from its newest end)
SELECT * FROM asynctasq_jobs FORCE INDEX (asynctasq_jobs_finished)
WHERE queue = :queue AND finished_at IS NOT NULL AND finished_at <= :at
    AND (finished_at < :at OR id < :id) AND state = :state
ORDER BY finished_at DESC, id DESC
LIMIT :limit;

-- name: list_finished_after_oldest
SELECT * FROM asynctasq_jobs FORCE INDEX (asynctasq_jobs_finished)
WHERE queue = :queue AND finished_at IS NOT NULL AND finished_at >= :at
    AND (finished_at > :at OR id > :id) AND state = :state
ORDER BY finished_at, id
LIMIT :limit;

-- name: list_all
-- waiting jobs first in reservation order, then finished ones newest first: one read
-- per state through its index, each of at most :span (limit + offset) rows, merged (a
-- sort of every job of a million-job queue otherwise)
SELECT * FROM (
    (SELECT * FROM asynctasq_jobs WHERE queue = :queue AND state = 'pending'
     ORDER BY priority, run_at, id LIMIT :span)
    UNION ALL
    (SELECT * FROM asynctasq_jobs WHERE queue = :queue AND state IN ('waiting', 'active')
     ORDER BY priority, run_at, id LIMIT :span)
    UNION ALL
    (SELECT * FROM asynctasq_jobs
     WHERE queue = :queue AND finished_at IS NOT NULL AND state = 'completed'
     ORDER BY finished_at DESC, id DESC LIMIT :span)
    UNION ALL
    (SELECT * FROM asynctasq_jobs
     WHERE queue = :queue AND finished_at IS NOT NULL AND state = 'failed'
     ORDER BY finished_at DESC, id DESC LIMIT :span)
    UNION ALL
    (SELECT * FROM asynctasq_jobs
     WHERE queue = :queue AND finished_at IS NOT NULL AND state = 'cancelled'
     ORDER BY finished_at DESC, id DESC LIMIT :span)
    UNION ALL
    (SELECT * FROM asynctasq_jobs
     WHERE queue = :queue AND finished_at IS NOT NULL AND state = 'expired'
     ORDER BY finished_at DESC, id DESC LIMIT :span)
) AS j
ORDER BY finished_at IS NOT NULL,
    CASE WHEN finished_at IS NULL THEN priority END,
    CASE WHEN finished_at IS NULL THEN run_at ELSE -finished_at END,
    CASE WHEN finished_at IS NULL THEN id END,
    id DESC
LIMIT :limit OFFSET :offset;

-- name: cancel
UPDATE asynctasq_jobs SET state = 'cancelled', finished_at = :now
WHERE id = :id AND state IN ('pending', 'waiting');

-- name: requeue
-- another unfinished job holding the unique key makes this fail on asynctasq_jobs_unique
UPDATE asynctasq_jobs
SET state = 'pending', attempts = 0, run_at = :now, error = NULL, finished_at = NULL,
    expires_at = NULL  -- the operator wants it run: its ttl is spent
WHERE id = :id AND state IN ('failed', 'cancelled', 'expired');

-- name: requeueable
-- the jobs of a batch requeue_many moves, locked until it commits: what requeue would
-- move, less those whose unique key an unfinished job holds (a whole batch is not
-- refused for one of them; a key taken meanwhile still fails requeue_many)
SELECT id FROM asynctasq_jobs j
WHERE id IN :ids AND state IN ('failed', 'cancelled', 'expired')
  AND (unique_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM asynctasq_jobs other WHERE other.unique_active = j.unique_key))
FOR UPDATE;

-- name: requeue_many
UPDATE asynctasq_jobs
SET state = 'pending', attempts = 0, run_at = :now, error = NULL, finished_at = NULL,
    expires_at = NULL  -- the operator wants it run: its ttl is spent
WHERE id IN :ids AND state IN ('failed', 'cancelled', 'expired');

-- name: remove
-- an active job is its worker's until settled; the row goes, and its unique key with it
DELETE FROM asynctasq_jobs WHERE id = :id AND state <> 'active';

-- name: purge_finished
-- in slices, so a large purge never holds many locks at once
DELETE FROM asynctasq_jobs
WHERE queue = :queue AND finished_at IS NOT NULL
  AND (:older_than IS NULL OR finished_at < :older_than) AND state = :state
LIMIT :limit;

-- name: purge_pending
DELETE FROM asynctasq_jobs
WHERE queue = :queue AND state = 'pending' AND (run_at > :now) = :future
  AND (:older_than IS NULL OR created_at < :older_than)
LIMIT :limit;

-- name: set_paused
INSERT INTO asynctasq_queues (name, paused) VALUES (:queue, :paused)
ON DUPLICATE KEY UPDATE paused = :paused;

-- name: set_progress
UPDATE asynctasq_jobs SET progress = :progress
WHERE id = :id AND state = 'active' AND worker_id = :worker_id;

-- name: heartbeat
INSERT INTO asynctasq_workers (worker_id, info, expires_at)
VALUES (:worker_id, :info, :expires_at)
ON DUPLICATE KEY UPDATE info = :info, expires_at = :expires_at;

-- name: forget_dead_workers
DELETE FROM asynctasq_workers WHERE expires_at <= :now;

-- name: remove_worker
DELETE FROM asynctasq_workers WHERE worker_id = :worker_id;

-- name: live_workers
SELECT info FROM asynctasq_workers WHERE expires_at > :now ORDER BY worker_id;

-- -- job dependencies (sql/dependencies.py) ---------------------------------------------
-- A blocked job (state 'waiting') is released when no edge names it as a child; the
-- failure policy travels on each edge (migration 0004).

-- name: dep_parent_state
-- the parent's state; 'completed' when it was deleted on completion; NULL: unknown. A
-- locking read: a parent being settled is read once its settle commits, and a parent
-- read first waits to be settled until this child's edge is committed, which the
-- settle's next statement sees (READ COMMITTED). :mark is not needed here.
SELECT coalesce(
    (SELECT state FROM asynctasq_jobs WHERE id = :id LOCK IN SHARE MODE),
    (SELECT 'completed' FROM asynctasq_completed WHERE id = :id));

-- name: dep_policy
-- a no-op here: the policy is stored on each edge (dep_link)
DO :policy;

-- name: dep_link
INSERT IGNORE INTO asynctasq_dependencies (parent_id, child_id, on_parent_failure)
VALUES (:parent_id, :child_id, :policy);

-- name: dep_block
UPDATE asynctasq_jobs SET state = 'waiting' WHERE id = :id AND state = 'pending' AND :blocked_by > 0;

-- name: dep_end
UPDATE asynctasq_jobs SET state = :state, error = :error, finished_at = :now
WHERE id = :id AND state IN ('pending', 'waiting');

-- name: dep_children
SELECT d.child_id, d.on_parent_failure FROM asynctasq_dependencies d
JOIN asynctasq_jobs j ON j.id = d.child_id
WHERE d.parent_id = :parent_id AND j.state = 'waiting'
ORDER BY d.child_id FOR UPDATE;

-- name: dep_children_of
SELECT child_id FROM asynctasq_dependencies WHERE parent_id IN :ids;

-- name: dep_unlink_parents
DELETE FROM asynctasq_dependencies WHERE parent_id IN :ids;

-- name: dep_lock_children
SELECT id FROM asynctasq_jobs WHERE id IN :ids ORDER BY id FOR UPDATE;

-- name: dep_still_blocked
-- children some edge still names (through the child index); a locking read: the
-- latest committed edges, not this transaction's snapshot (see release_by_edges)
SELECT DISTINCT child_id FROM asynctasq_dependencies WHERE child_id IN :ids LOCK IN SHARE MODE;

-- name: dep_unblock
UPDATE asynctasq_jobs SET state = 'pending' WHERE id IN :ids AND state = 'waiting';

-- name: dep_remember_many
INSERT INTO asynctasq_completed (id, finished_at, result) VALUES :rows
ON DUPLICATE KEY UPDATE finished_at = VALUES(finished_at), result = VALUES(result);

-- name: dep_parent_done
-- after dep_unlink_parent (policy 'run'): released when no edge is left
UPDATE asynctasq_jobs SET state = 'pending'
WHERE id = :id AND state = 'waiting'
  AND NOT EXISTS (SELECT 1 FROM asynctasq_dependencies d WHERE d.child_id = :id);

-- name: dep_unlink_parent
DELETE FROM asynctasq_dependencies WHERE parent_id = :parent_id;

-- name: dep_unlink_child
DELETE FROM asynctasq_dependencies WHERE child_id = :child_id;

-- name: dep_forget_completed
DELETE FROM asynctasq_completed WHERE finished_at < :horizon;

-- name: dep_lock_state
SELECT state FROM asynctasq_jobs WHERE id = :id FOR UPDATE;

-- name: dep_orphans
-- parents deleted before they finished (purged) that children still wait on
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
ON DUPLICATE KEY UPDATE
    next_at = IF(definition = VALUES(definition), next_at, VALUES(next_at)),
    paused = IF(definition = VALUES(definition), paused, VALUES(paused)),
    queue = VALUES(queue),
    definition = VALUES(definition);

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
-- the expiry sweep (capability Expiry): waiting jobs whose ttl ran out, oldest first,
-- locked for the sweep's transaction; SKIP LOCKED: a row a claim holds is left to it
SELECT id, expires_at FROM asynctasq_jobs
WHERE state = 'pending' AND expires_at <= :now
ORDER BY expires_at LIMIT :limit
FOR UPDATE SKIP LOCKED;

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
SELECT tokens, at, version FROM asynctasq_rate_buckets WHERE `key` = :key;

-- name: rate_bucket_add
INSERT IGNORE INTO asynctasq_rate_buckets (`key`, tokens, at) VALUES (:key, :tokens, :at);

-- name: rate_bucket_set
UPDATE asynctasq_rate_buckets SET tokens = :tokens, at = :at, version = version + 1
WHERE `key` = :key AND version = :version;

-- name: rate_limits
SELECT queue, rate_limit, rate_interval, burst FROM asynctasq_rate_limits;

-- name: rate_limit_put
INSERT INTO asynctasq_rate_limits (queue, rate_limit, rate_interval, burst)
VALUES (:queue, :rate_limit, :rate_interval, :burst)
ON DUPLICATE KEY UPDATE rate_limit = :rate_limit, rate_interval = :rate_interval,
    burst = :burst;

-- name: rate_limit_drop
DELETE FROM asynctasq_rate_limits WHERE queue = :queue;

-- Deduplication modes (asynctasq/drivers/sql/dedup.py): run inside one transaction
-- per job; the lock row is held FOR UPDATE until it commits.

-- name: dedup_reserve
-- an update on a duplicate, not INSERT IGNORE: it takes the row's exclusive lock at
-- once, where IGNORE's shared lock would deadlock two producers upgrading it
INSERT INTO asynctasq_dedup (`key`, job_id, mode) VALUES (:key, '', '')
ON DUPLICATE KEY UPDATE job_id = asynctasq_dedup.job_id;

-- name: dedup_lock
SELECT job_id, mode, until FROM asynctasq_dedup WHERE `key` = :key FOR UPDATE;

-- name: dedup_take
UPDATE asynctasq_dedup SET job_id = :job_id, mode = :mode, until = :until WHERE `key` = :key;

-- name: dedup_replace
-- a debounced duplicate: the waiting holder (locked by dep_lock_state) takes its payload
UPDATE asynctasq_jobs SET payload = :payload, run_at = :run_at, expires_at = :expires_at
WHERE id = :id AND state = 'pending';

-- name: dedup_sweep
-- throttle locks whose window has passed (a take that meets one replaces it anyway)
DELETE FROM asynctasq_dedup WHERE mode = 'throttle' AND until <= :now;

-- name: dedup_register
INSERT INTO asynctasq_queues (name) VALUES (:queue) ON DUPLICATE KEY UPDATE name = asynctasq_queues.name;

-- name: dedup_insert
INSERT INTO asynctasq_jobs (
    id, task, queue, payload, priority, attempts, max_attempts, run_at, created_at,
    timeout, state, unique_key, depends_on, expires_at
) VALUES (
    :id, :task, :queue, :payload, :priority, 0, :max_attempts, :run_at, :created_at,
    :timeout, 'pending', NULL, :depends_on, :expires_at
) ON DUPLICATE KEY UPDATE id = asynctasq_jobs.id;

-- Concurrency keys (asynctasq/drivers/sql/slots.py): one transaction per take, the
-- key's row (job_id '') held FOR UPDATE until it commits.

-- name: slot_reserve
-- an update on a duplicate: the row's exclusive lock at once (see dedup_reserve)
INSERT INTO asynctasq_slots (`key`, job_id) VALUES (:key, '')
ON DUPLICATE KEY UPDATE job_id = asynctasq_slots.job_id;

-- name: slot_lock
SELECT job_id FROM asynctasq_slots WHERE `key` = :key AND job_id = '' FOR UPDATE;

-- name: slot_holders
SELECT s.job_id, j.state FROM asynctasq_slots s
LEFT JOIN asynctasq_jobs j ON j.id = s.job_id
WHERE s.`key` = :key AND s.job_id <> '';

-- name: slot_take
INSERT INTO asynctasq_slots (`key`, job_id) VALUES (:key, :job_id)
ON DUPLICATE KEY UPDATE job_id = asynctasq_slots.job_id;

-- name: slot_give
DELETE FROM asynctasq_slots WHERE `key` = :key AND job_id = :job_id;

-- name: job_outcomes
-- Results (0008): how each job of a batch stands (source 0); a deleted completed job
-- from completed (source 1)
SELECT id, state, result, error, 0 FROM asynctasq_jobs WHERE id IN :ids
UNION ALL
SELECT id, 'completed', result, NULL, 1 FROM asynctasq_completed WHERE id IN :ids;

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
-- asynctasq_flow_jobs_age (its entries end with the table's key: flow id, position);
-- a flow's rows share its time, DISTINCT keeps one
SELECT DISTINCT created_at, flow_id FROM asynctasq_flow_jobs
WHERE created_at <= :at AND (created_at < :at OR flow_id < :id)
ORDER BY created_at DESC, flow_id DESC LIMIT :limit;

-- name: flow_of
-- the flow a job belongs to, and its name there (0013: asynctasq_flow_jobs_job)
SELECT flow_id, name FROM asynctasq_flow_jobs WHERE job_id = :id LIMIT 1;

-- name: failed_groups
-- the dead letters of a queue by task and error type (overviews.error_kind), every
-- one counted: the range of queue and state 'failed' in asynctasq_jobs_claim (MySQL
-- has neither partial nor expression indexes: the rows are read for their error)
SELECT task, LEFT(SUBSTRING_INDEX(SUBSTRING_INDEX(error, CHAR(10 USING utf8mb4), 1), ':', 1), 100),
    COUNT(*)
FROM asynctasq_jobs FORCE INDEX (asynctasq_jobs_claim)
WHERE queue = :queue AND state = 'failed'
GROUP BY 1, 2;

-- name: flow_states
-- a flow's jobs counted by stored state (NULL: forgotten), in one step: the flows
-- list pages through many flows, some of many jobs
SELECT COALESCE(j.state, CASE WHEN c.id IS NOT NULL THEN 'completed' END), COUNT(*)
FROM asynctasq_flow_jobs f
LEFT JOIN asynctasq_jobs j ON j.id = f.job_id
LEFT JOIN asynctasq_completed c ON c.id = f.job_id
WHERE f.flow_id = :flow_id
GROUP BY 1;
