-- Named queries of the PostgreSQL driver.
--
-- A statement the shared SQL driver runs (sql/admin.py) names its parameters in order
-- after its name: "-- name: cancel(id, now)" takes id as $1 and now as $2.
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

-- name: register_queues
-- before a transactional enqueue, on the driver's own connection (see the driver)
INSERT INTO {schema}.queues (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING;

-- name: enqueue
-- {on_conflict} makes two statements of this one (sql.py): "enqueue", a plain insert
-- (a fifth quicker), for a batch without unique keys on its first try; and
-- "enqueue_idempotent", with ON CONFLICT DO NOTHING, where a job id may be stored
-- already (a retried call whose first reply was lost) or an unfinished job may hold the
-- same unique_key: those are not stored twice.
-- A job with parents is stored blocked on all of them ('waiting', blocked_by: their
-- number); the link that follows in this transaction (sql/dependencies.py: link_jobs)
-- writes the row again only when some parent has already finished. Stored pending and
-- then blocked, each child of a fan-out left a dead version and dead entries in the
-- claim's index, read again by every claim and settle of the drain that follows.
WITH registered AS (
    INSERT INTO {schema}.queues (name) SELECT unnest($13::text[]) ON CONFLICT DO NOTHING
), inserted AS (
    INSERT INTO {schema}.jobs (
        id, task, queue, payload, priority, max_attempts, run_at, created_at, timeout,
        unique_key, depends_on, expires_at, state, attempts, blocked_by
    )
    SELECT id, task, queue, payload, priority, max_attempts, run_at, created_at, timeout,
           unique_key, depends_on::jsonb, expires_at,
           CASE WHEN depends_on IS NULL THEN 'pending' ELSE 'waiting' END, 0,
           coalesce(jsonb_array_length(depends_on::jsonb), 0)
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

-- name: dead_letter_claimed
-- Jobs a claim found damaged (faults.py: a value no driver writes), dead-lettered with
-- their reasons ($2) while the claim still holds them ($3: the claiming worker).
UPDATE {schema}.jobs j SET
    state = 'failed', error = r.error, finished_at = $4, lease_until = NULL, worker_id = NULL
FROM unnest($1::text[], $2::text[]) AS r(id, error)
WHERE j.id = r.id AND j.state = 'active' AND j.worker_id = $3;

-- name: settle
-- Every outcome of a batch in one statement: $1 the ids of completed jobs to delete, $2
-- the ids of the others; $3.. one array per outcome field, and $9 maps each job id to
-- its position in them; $10 now. $11..$14 (queues, room, worker, lease_until; no queues:
-- nothing claimed) ask that the children this settle releases be claimed in it for the
-- worker reporting (Driver.settle_and_claim; see taken). A row is reached through the
-- primary key only and finds its outcome in O(log n): no join the planner could turn
-- into "every outcome against every job" on a day the table's statistics say it is
-- empty. The fence: the job is still held by the outcome's worker and attempt
-- (worker_id is set only while a job is active).
-- kind is delete (completed, not kept), complete, retry, fail or release.
-- Durability: the commit does not wait for the WAL flush (synchronous_commit off for this
-- transaction only, set in the last SELECT). A server crash in the fraction of a second
-- before the flush forgets the outcome, never a job: the job is active again under its
-- lease, recovered when the lease lapses and run again, as at-least-once allows (and as
-- a worker that dies before it reports does). A later commit that waits for the flush
-- (any enqueue) makes this one durable with it: the WAL is written in order. What it
-- saves is the flush on the path from a parent's end to its child's start.
-- later: the completions this statement leaves for a later call: none here
-- (settle_no_later), and in settle_bounded, which is this statement with
-- settle_later's text in its place (sql.py composes both).
WITH later AS MATERIALIZED (
    {later}
), deleted AS (
    DELETE FROM {schema}.jobs j
    WHERE j.id = ANY($1::text[]) AND j.id <> ALL(ARRAY(SELECT id FROM later))
      AND j.worker_id = ($3::text[])[($9::jsonb ->> j.id)::integer]
      AND j.attempts = ($4::integer[])[($9::jsonb ->> j.id)::integer]
    RETURNING j.id, j.has_dependants, j.xmin AS version
), updated AS (
    UPDATE {schema}.jobs j SET
        state = CASE ($5::text[])[($9::jsonb ->> j.id)::integer]
            WHEN 'complete' THEN 'completed' WHEN 'fail' THEN 'failed' ELSE 'pending' END,
        result = coalesce(($6::bytea[])[($9::jsonb ->> j.id)::integer], j.result),
        error = coalesce(($8::text[])[($9::jsonb ->> j.id)::integer], j.error),
        run_at = CASE ($5::text[])[($9::jsonb ->> j.id)::integer]
            WHEN 'retry' THEN ($7::float8[])[($9::jsonb ->> j.id)::integer]
            WHEN 'release' THEN coalesce(($7::float8[])[($9::jsonb ->> j.id)::integer], $10)
            ELSE j.run_at END,
        attempts = CASE ($5::text[])[($9::jsonb ->> j.id)::integer]
            WHEN 'release' THEN greatest(j.attempts - 1, 0) ELSE j.attempts END,
        finished_at = CASE ($5::text[])[($9::jsonb ->> j.id)::integer]
            WHEN 'complete' THEN $10 WHEN 'fail' THEN $10 ELSE j.finished_at END,
        lease_until = NULL,
        worker_id = NULL
    WHERE j.id = ANY($2::text[]) AND j.id <> ALL(ARRAY(SELECT id FROM later))
      AND j.worker_id = ($3::text[])[($9::jsonb ->> j.id)::integer]
      AND j.attempts = ($4::integer[])[($9::jsonb ->> j.id)::integer]
    RETURNING j.id, j.queue, j.state, j.has_dependants
),
-- dependencies (0004): the children of completed parents move on in this statement,
-- released when it was their last unfinished parent; a deleted completion is
-- remembered for children dispatched later (sql/dependencies.py)
done AS (
    SELECT id FROM deleted UNION ALL SELECT id FROM updated WHERE state = 'completed'
), unlinked AS (
    DELETE FROM {schema}.dependencies d WHERE d.parent_id = ANY(ARRAY(SELECT id FROM done))
    RETURNING d.child_id
), counted AS (
    -- the children that lost more than one parent here: {child id: n}, read by key (no
    -- join); every other one lost one (a fan-out's thousands of children build no map)
    SELECT coalesce(jsonb_object_agg(child_id, n), '{}') AS n FROM (
        SELECT child_id, count(*) AS n FROM unlinked GROUP BY child_id HAVING count(*) > 1
    ) AS per_child
), locked AS (
    -- in id order: two settles releasing the same children never deadlock. Through the
    -- primary key alone, the state read after the lock: a filter on it in the scan
    -- lets the planner read all of jobs_blocked_order, whose dead entries a large
    -- fan-out leaves by the thousand until the next vacuum
    SELECT r.id, r.queue, r.priority, r.run_at, r.freed FROM (
        SELECT j.id, j.state, j.queue, j.priority, j.run_at,
               j.blocked_by <= coalesce(((SELECT n FROM counted) ->> j.id)::integer, 1)
                   AS freed
        FROM {schema}.jobs j
        WHERE j.id = ANY(ARRAY(SELECT child_id FROM unlinked))
        ORDER BY j.id OFFSET 0 FOR UPDATE  -- (OFFSET 0: the state filter stays outside)
    ) AS r
    WHERE r.state = 'waiting'
), open_queues AS (
    -- the reporting worker's queues ($11) that are not paused, each looked up once
    -- (not once per released child); read only when this settle released a child
    SELECT coalesce(array_agg(q), '{}') AS names FROM unnest($11::text[]) AS q
    WHERE EXISTS (SELECT 1 FROM locked)
      AND (SELECT p.paused FROM {schema}.queues p WHERE p.name = q) IS NOT TRUE
), candidates AS (
    -- released children the reporting worker may claim ($11: its queues, $12: its free
    -- slots) as its own claim would take them: due, of unpaused queues, in claim order
    SELECT l.id FROM locked l
    WHERE l.freed AND l.queue = ANY((SELECT names FROM open_queues)::text[]) AND l.run_at <= $10
    ORDER BY l.priority, l.run_at, l.id
    LIMIT $12::integer
), taken AS (
    -- claimed, unless another due job waits in those queues (the claim would take it
    -- first); looked for only when there is a candidate (a settle that releases nothing
    -- reads no index for it). Each look a subquery of its own, never a join the
    -- planner could run as a scan.
    SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM candidates) THEN '{}'::jsonb
        WHEN EXISTS (
            SELECT 1 FROM unnest((SELECT names FROM open_queues)) AS q
            WHERE (SELECT true FROM {schema}.jobs w
                   WHERE w.queue = q AND w.state = 'pending' AND w.run_at <= $10 LIMIT 1)
        ) THEN '{}'::jsonb
        ELSE (SELECT jsonb_object_agg(id, true) FROM candidates)
    END AS ids
), released AS (
    UPDATE {schema}.jobs j
    SET state = CASE WHEN (SELECT ids FROM taken) ? j.id THEN 'active'
            WHEN j.blocked_by <= coalesce(((SELECT n FROM counted) ->> j.id)::integer, 1)
            THEN 'pending' ELSE j.state END,
        blocked_by = j.blocked_by - coalesce(((SELECT n FROM counted) ->> j.id)::integer, 1),
        worker_id = CASE WHEN (SELECT ids FROM taken) ? j.id THEN $13::text ELSE j.worker_id END,
        lease_until = CASE WHEN (SELECT ids FROM taken) ? j.id THEN $14::float8 ELSE j.lease_until END,
        attempts = CASE WHEN (SELECT ids FROM taken) ? j.id THEN j.attempts + 1
            ELSE j.attempts END
    -- Through the primary key, not the ctid the lock returned: a child another settle
    -- released after this statement's snapshot is locked at its new version, which a
    -- TID scan under that snapshot cannot see (the child would stay blocked); a key
    -- lookup finds the version it sees and follows the update chain to the new one.
    WHERE j.id = ANY(ARRAY(SELECT id FROM locked))
    -- a claimed child's columns as the claim returns them (the others: NULL, no copy)
    RETURNING j.queue, j.state,
        CASE WHEN j.state = 'active' THEN ROW({claimed_columns}) END AS job
), remembered AS (
    -- with its result (0008: the Results capability)
    INSERT INTO {schema}.completed (id, finished_at, result)
    SELECT id, $10, ($6::bytea[])[($9::jsonb ->> id)::integer] FROM deleted
    ON CONFLICT (id) DO UPDATE SET finished_at = excluded.finished_at, result = excluded.result
), woken AS (
    SELECT pg_notify({channel}, '')
    FROM (SELECT queue FROM updated WHERE state = 'pending'
          UNION SELECT queue FROM released WHERE state = 'pending') AS u(q)
), finished AS (
    -- result waiters (0008): one notice per settle that ended jobs
    SELECT pg_notify({finished_channel}, '')
    WHERE EXISTS (SELECT 1 FROM done) OR EXISTS (SELECT 1 FROM updated WHERE state = 'failed')
)
SELECT ARRAY(SELECT id FROM deleted UNION ALL SELECT id FROM updated) AS accepted,
       (SELECT count(*) FROM woken) AS woken,
       -- completed parents a child in another transaction linked to (0011): this
       -- statement's snapshot may miss that edge, dep_release_marked looks again. A
       -- deleted parent can have been linked to meanwhile only if the row deleted is a
       -- later version than the one this snapshot sees (the delete waited for the
       -- linking transaction and re-read the row): its xmin differs. An updated row
       -- (kept completed) returns its new version: always looked at again.
       ARRAY(SELECT d.id FROM deleted d
             WHERE d.has_dependants
               AND d.version IS DISTINCT FROM
                   (SELECT s.xmin FROM {schema}.jobs s WHERE s.id = d.id)
             UNION ALL SELECT id FROM updated WHERE state = 'completed' AND has_dependants)
           AS marked,
       ARRAY(SELECT job FROM released WHERE state = 'active') AS claimed,
       (SELECT count(*) FROM finished) AS finished,
       ARRAY(SELECT id FROM later) AS later,
       set_config('synchronous_commit', 'off', true) AS durability;

-- name: settle_later
-- (settle_bounded's later, see settle; $15: the most children one statement releases)
-- The completions with children after the batch's first one, once their children
-- (edges, counted in the batch's order) pass $15: not applied (the job stays active,
-- its children blocked: a parent and the release of its children stay one
-- statement), left for a later call, which the worker makes beside its other
-- settles: a fan-out's first children run while the next are released. Counted by
-- the dependencies' primary key.
SELECT h.id FROM (
    SELECT e.id, row_number() OVER w AS k, sum(e.n) OVER w AS total FROM (
        SELECT d.parent_id AS id, count(*) AS n FROM {schema}.dependencies d
        WHERE d.parent_id = ANY(ARRAY(
            SELECT c FROM unnest($1::text[]) AS c
            UNION ALL
            SELECT c FROM unnest($2::text[]) AS c
            WHERE ($5::text[])[($9::jsonb ->> c)::integer] = 'complete'))
        GROUP BY d.parent_id
    ) AS e
    WINDOW w AS (ORDER BY ($9::jsonb ->> e.id)::integer)
) AS h
WHERE h.k > 1 AND h.total > $15::integer;

-- name: settle_no_later
-- (settle's later: it leaves nothing for a later call)
SELECT NULL::text AS id WHERE false;

-- name: dep_release_marked(ids)
-- The children of completed parents $1 still linked (see settle: marked), released as
-- settle releases them, in a statement of its own (a snapshot that sees their edges).
WITH unlinked AS (
    DELETE FROM {schema}.dependencies d WHERE d.parent_id = ANY($1::text[])
    RETURNING d.child_id
), counted AS (
    SELECT coalesce(jsonb_object_agg(child_id, n), '{}') AS n FROM (
        SELECT child_id, count(*) AS n FROM unlinked GROUP BY child_id HAVING count(*) > 1
    ) AS per_child
), locked AS (
    -- (as settle's locked: the state filtered after the lock, through the primary key)
    SELECT r.id FROM (
        SELECT j.id, j.state FROM {schema}.jobs j
        WHERE j.id = ANY(ARRAY(SELECT child_id FROM unlinked))
        ORDER BY j.id OFFSET 0 FOR UPDATE
    ) AS r
    WHERE r.state = 'waiting'
), released AS (
    UPDATE {schema}.jobs j
    SET state = CASE WHEN j.blocked_by <= coalesce(((SELECT n FROM counted) ->> j.id)::integer, 1)
            THEN 'pending' ELSE j.state END,
        blocked_by = j.blocked_by - coalesce(((SELECT n FROM counted) ->> j.id)::integer, 1)
    WHERE j.id = ANY(ARRAY(SELECT id FROM locked))
    RETURNING j.queue, j.state
)
SELECT pg_notify({channel}, '')
FROM (SELECT DISTINCT queue FROM released WHERE state = 'pending') AS r(q);

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
    RETURNING {columns}
), woken AS (
    SELECT pg_notify({channel}, '')
    FROM (SELECT DISTINCT queue FROM moved WHERE state = 'pending') AS m(q)
)
-- one row per dead-lettered job (its record, for its failed() hook), or one row of
-- NULLs when there is none; every row carries the count of jobs back to pending
SELECT s.requeued, s.woken, d.*
FROM (
    SELECT (SELECT count(*) FROM moved WHERE state = 'pending') AS requeued,
           (SELECT count(*) FROM woken) AS woken
) AS s
LEFT JOIN moved AS d ON d.state = 'failed';

-- name: stats(queue, now)
-- one branch per partial index, so no branch reads rows of other states
SELECT 'pending' AS state, run_at > $2 AS future, count(*) AS n FROM {schema}.jobs
WHERE queue = $1 AND state = 'pending' GROUP BY 2
UNION ALL
SELECT 'active', false, count(*) FROM {schema}.jobs WHERE state = 'active' AND queue = $1
UNION ALL
SELECT state, false, count(*) FROM {schema}.jobs
WHERE queue = $1 AND state IN ('completed', 'failed', 'cancelled', 'expired')
GROUP BY state;

-- name: is_paused(queue)
SELECT paused FROM {schema}.queues WHERE name = $1;

-- name: queues()
SELECT name FROM {schema}.queues ORDER BY name;

-- name: get(id)
SELECT {columns} FROM {schema}.jobs j WHERE j.id = $1;

-- name: list_state(queue, state, limit, offset)
SELECT {columns} FROM {schema}.jobs j
WHERE j.queue = $1 AND j.state = $2
ORDER BY j.priority, j.run_at, j.id LIMIT $3 OFFSET $4;

-- name: list_finished(queue, state, limit, offset)
-- (finished_at < 1e300, always true: the ordered index read, statistics or not)
SELECT {columns} FROM {schema}.jobs j
WHERE j.queue = $1 AND j.state = $2 AND j.finished_at < 1e300
ORDER BY j.finished_at DESC, j.id LIMIT $3 OFFSET $4;

-- name: list_finished_oldest(queue, state, limit, offset)
-- list_finished read from its other end (the dashboard's "oldest first")
SELECT {columns} FROM {schema}.jobs j
WHERE j.queue = $1 AND j.state = $2 AND j.finished_at > -1e300
ORDER BY j.finished_at, j.id DESC LIMIT $3 OFFSET $4;

-- name: list_finished_after(queue, state, at, id, limit)
-- list_finished from just after the job at (at, id): a range read of jobs_finished
-- from that finish time, whatever the depth (the dashboard's cursor)
SELECT {columns} FROM {schema}.jobs j
WHERE j.queue = $1 AND j.state = $2 AND j.finished_at <= $3
    AND (j.finished_at < $3 OR j.id > $4)
ORDER BY j.finished_at DESC, j.id LIMIT $5;

-- name: list_finished_after_oldest(queue, state, at, id, limit)
SELECT {columns} FROM {schema}.jobs j
WHERE j.queue = $1 AND j.state = $2 AND j.finished_at >= $3
    AND (j.finished_at > $3 OR j.id < $4)
ORDER BY j.finished_at, j.id DESC LIMIT $5;

-- name: list_pending(queue, limit, offset, now, future)
SELECT {columns} FROM {schema}.jobs j
WHERE j.queue = $1 AND j.state = 'pending' AND (j.run_at > $4) = $5
ORDER BY j.priority, j.run_at, j.id LIMIT $2 OFFSET $3;

-- name: list_pending_after(queue, now, future, priority, run_at, id, limit)
-- list_pending from just after the job at (priority, run_at, id): a range read of
-- jobs_claim from that key (a row comparison the index answers), whatever the depth
SELECT {columns} FROM {schema}.jobs j
WHERE j.queue = $1 AND j.state = 'pending' AND (j.run_at > $2) = $3
    AND (j.priority, j.run_at, j.id) > ($4, $5, $6)
ORDER BY j.priority, j.run_at, j.id LIMIT $7;

-- name: list_pending_before(queue, now, future, priority, run_at, id, limit)
-- the same read backwards: last to run first
SELECT {columns} FROM {schema}.jobs j
WHERE j.queue = $1 AND j.state = 'pending' AND (j.run_at > $2) = $3
    AND (j.priority, j.run_at, j.id) < ($4, $5, $6)
ORDER BY j.priority DESC, j.run_at DESC, j.id DESC LIMIT $7;

-- name: list_state_after(queue, state, priority, run_at, id, limit)
-- list_state (blocked or active) from just after the job at (priority, run_at, id):
-- blocked ones through jobs_blocked_order (0012), whatever the depth; active ones (as
-- many as the workers run) through jobs_unfinished, sorted. One branch per state with
-- the state written in, so the planner can prove each partial index usable ($2 only
-- switches a branch off)
SELECT {columns} FROM (
    (SELECT * FROM {schema}.jobs
     WHERE queue = $1 AND state = 'waiting' AND $2::text = 'waiting'
        AND (priority, run_at, id) > ($3, $4, $5)
     ORDER BY priority, run_at, id LIMIT $6)
    UNION ALL
    (SELECT * FROM {schema}.jobs
     WHERE queue = $1 AND state = 'active' AND $2::text = 'active'
        AND (priority, run_at, id) > ($3, $4, $5)
     ORDER BY priority, run_at, id LIMIT $6)
) AS j
ORDER BY j.priority, j.run_at, j.id LIMIT $6;

-- name: list_state_before(queue, state, priority, run_at, id, limit)
SELECT {columns} FROM (
    (SELECT * FROM {schema}.jobs
     WHERE queue = $1 AND state = 'waiting' AND $2::text = 'waiting'
        AND (priority, run_at, id) < ($3, $4, $5)
     ORDER BY priority DESC, run_at DESC, id DESC LIMIT $6)
    UNION ALL
    (SELECT * FROM {schema}.jobs
     WHERE queue = $1 AND state = 'active' AND $2::text = 'active'
        AND (priority, run_at, id) < ($3, $4, $5)
     ORDER BY priority DESC, run_at DESC, id DESC LIMIT $6)
) AS j
ORDER BY j.priority DESC, j.run_at DESC, j.id DESC LIMIT $6;

-- name: list_all(queue, limit, offset)
-- waiting jobs in reservation order, then finished ones newest first: one read per
-- state through its own index, each of at most limit + offset rows, merged (a sort of
-- every job of a million-job queue otherwise). "finished_at < 1e300" is always true: a
-- range on the index column keeps the planner on the ordered index read even while
-- the table has no statistics yet (it would sort a bitmap of every finished job)
SELECT {columns} FROM (
    (SELECT * FROM {schema}.jobs WHERE queue = $1 AND state = 'pending'
     ORDER BY priority, run_at, id LIMIT $2::bigint + $3::bigint)
    UNION ALL
    (SELECT * FROM {schema}.jobs WHERE queue = $1 AND state IN ('waiting', 'active')
     ORDER BY priority, run_at, id LIMIT $2::bigint + $3::bigint)
    UNION ALL
    (SELECT * FROM {schema}.jobs WHERE queue = $1 AND state = 'completed' AND finished_at < 1e300
     ORDER BY finished_at DESC, priority, run_at, id LIMIT $2::bigint + $3::bigint)
    UNION ALL
    (SELECT * FROM {schema}.jobs WHERE queue = $1 AND state = 'failed' AND finished_at < 1e300
     ORDER BY finished_at DESC, priority, run_at, id LIMIT $2::bigint + $3::bigint)
    UNION ALL
    (SELECT * FROM {schema}.jobs WHERE queue = $1 AND state = 'cancelled' AND finished_at < 1e300
     ORDER BY finished_at DESC, priority, run_at, id LIMIT $2::bigint + $3::bigint)
    UNION ALL
    (SELECT * FROM {schema}.jobs WHERE queue = $1 AND state = 'expired' AND finished_at < 1e300
     ORDER BY finished_at DESC, priority, run_at, id LIMIT $2::bigint + $3::bigint)
) AS j
ORDER BY j.finished_at IS NOT NULL, j.finished_at DESC, j.priority, j.run_at, j.id
LIMIT $2 OFFSET $3;

-- name: stats_capped(queue, now, cap)
-- stats, each state but active counted no further than cap (index-only reads of at
-- most cap entries): one that reaches it is estimated instead (estimate_jobs). Pending
-- jobs are counted per priority level (walked as next_due walks them), due and
-- scheduled each a range of jobs_claim: an exact count of a million reads a million
WITH RECURSIVE levels AS (
    SELECT (
        SELECT min(j.priority) FROM {schema}.jobs j WHERE j.queue = $1 AND j.state = 'pending'
    ) AS priority
    UNION ALL
    SELECT (
        SELECT min(j.priority) FROM {schema}.jobs j
        WHERE j.queue = $1 AND j.state = 'pending' AND j.priority > l.priority
    )
    FROM levels l
    WHERE l.priority IS NOT NULL
), waiting AS (
    SELECT (
        SELECT count(*) FROM (
            SELECT 1 FROM {schema}.jobs j
            WHERE j.queue = $1 AND j.state = 'pending' AND j.priority = l.priority
                AND j.run_at <= $2
            LIMIT $3
        ) AS capped
    ) AS due, (
        SELECT count(*) FROM (
            SELECT 1 FROM {schema}.jobs j
            WHERE j.queue = $1 AND j.state = 'pending' AND j.priority = l.priority
                AND j.run_at > $2
            LIMIT $3
        ) AS capped
    ) AS future
    FROM levels l
    WHERE l.priority IS NOT NULL
)
SELECT 'pending' AS state, false AS future, coalesce(sum(due), 0)::bigint AS n FROM waiting
UNION ALL
SELECT 'pending', true, coalesce(sum(future), 0)::bigint FROM waiting
UNION ALL
SELECT 'active', false, count(*) FROM {schema}.jobs WHERE state = 'active' AND queue = $1
UNION ALL
SELECT s.state, false, (
    SELECT count(*) FROM (
        SELECT 1 FROM {schema}.jobs j
        WHERE j.queue = $1 AND j.state = s.state
            AND j.state IN ('completed', 'failed', 'cancelled', 'expired')
        LIMIT $3
    ) AS capped
) FROM unnest(ARRAY['completed', 'failed', 'cancelled', 'expired']::text[]) AS s(state);

-- name: estimate_jobs(queue, state)
SELECT {schema}.estimated_jobs($1, $2);

-- name: count_finished_since(queue, state, since, cap)
-- (the state list repeats the finished index's condition for a generic plan)
SELECT count(*) FROM (
    SELECT 1 FROM {schema}.jobs
    WHERE queue = $1 AND state = $2 AND finished_at >= $3
        AND state IN ('completed', 'failed', 'cancelled', 'expired')
    LIMIT $4
) AS recent;

-- name: cancel(id, now)
UPDATE {schema}.jobs SET state = 'cancelled', finished_at = $2
WHERE id = $1 AND state IN ('pending', 'waiting');

-- name: requeue(id, now)
-- jobs_unique refuses a second unfinished holder of a key: check first, so a taken key
-- is a plain "no" rather than an error
WITH moved AS (
    UPDATE {schema}.jobs j
    SET state = 'pending', attempts = 0, run_at = $2, error = NULL, finished_at = NULL,
        expires_at = NULL  -- the operator wants it run: its ttl is spent
    WHERE j.id = $1 AND j.state IN ('failed', 'cancelled', 'expired')
      AND (j.unique_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM {schema}.jobs other
          WHERE other.unique_key = j.unique_key
            AND other.state IN ('pending', 'waiting', 'active')))
    RETURNING j.queue AS q
)
-- one row per job moved (what the driver counts), each waking its queue's workers
SELECT pg_notify({channel}, '') FROM moved;

-- name: requeue_many(ids, now)
-- requeue of a batch in one statement, with requeue's rules; the snapshot does not see
-- this statement's own moves, so two jobs of the batch sharing a unique key both pass
-- the check and jobs_unique refuses the second (the driver then goes job by job)
WITH moved AS (
    UPDATE {schema}.jobs j
    SET state = 'pending', attempts = 0, run_at = $2, error = NULL, finished_at = NULL,
        expires_at = NULL  -- the operator wants it run: its ttl is spent
    WHERE j.id = ANY($1::text[]) AND j.state IN ('failed', 'cancelled', 'expired')
      AND (j.unique_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM {schema}.jobs other
          WHERE other.unique_key = j.unique_key
            AND other.state IN ('pending', 'waiting', 'active')))
    RETURNING j.id, j.queue
), woken AS (
    -- one wake-up per queue of the batch, not one per job
    SELECT pg_notify({channel}, '') FROM (SELECT DISTINCT queue FROM moved) AS m(q)
)
SELECT id, (SELECT count(*) FROM woken) AS woken FROM moved;

-- name: remove(id)
-- an active job is its worker's until settled; the row goes, and its unique key with it
DELETE FROM {schema}.jobs WHERE id = $1 AND state <> 'active';

-- name: purge_finished(queue, state, older_than)
DELETE FROM {schema}.jobs
WHERE queue = $1 AND state = $2 AND ($3::float8 IS NULL OR finished_at < $3);

-- name: purge_pending(queue, older_than, now, future)
DELETE FROM {schema}.jobs
WHERE queue = $1 AND state = 'pending' AND (run_at > $3) = $4
  AND ($2::float8 IS NULL OR created_at < $2);

-- name: set_paused(queue, paused)
WITH saved AS (
    INSERT INTO {schema}.queues (name, paused) VALUES ($1, $2)
    ON CONFLICT (name) DO UPDATE SET paused = excluded.paused
), woken AS (
    SELECT pg_notify({channel}, '') FROM (SELECT $1::text) AS r(q) WHERE NOT $2
)
SELECT count(*) FROM woken;

-- name: set_progress(id, worker_id, progress)
UPDATE {schema}.jobs SET progress = $3 WHERE id = $1 AND worker_id = $2;

-- name: heartbeat(worker_id, info, expires_at)
INSERT INTO {schema}.workers (worker_id, info, expires_at) VALUES ($1, $2::jsonb, $3)
ON CONFLICT (worker_id) DO UPDATE SET info = excluded.info, expires_at = excluded.expires_at;

-- name: forget_dead_workers(now, worker_id)
DELETE FROM {schema}.workers WHERE expires_at <= $1 AND worker_id <> $2;

-- name: remove_worker(worker_id)
DELETE FROM {schema}.workers WHERE worker_id = $1;

-- name: live_workers(now)
SELECT info::text FROM {schema}.workers WHERE expires_at > $1 ORDER BY worker_id;

-- -- job dependencies (sql/dependencies.py) ---------------------------------------------
-- Locking: the enqueue reads a parent FOR SHARE, so a parent cannot be settled while a
-- child is being linked to it; a child is locked (FOR UPDATE, in id order) before it
-- is released or ended.

-- name: dep_parent_state(id, mark)
-- the parent's state; 'completed' when it was deleted on completion; NULL: unknown.
-- mark: the parent was stored by another transaction, so it may be settling right now:
-- it is marked has_dependants (0011) rather than only locked, and its settle, which
-- cannot see this child's edge, sees the mark and releases the children again
-- (dep_release_marked)
WITH marked AS (
    UPDATE {schema}.jobs SET has_dependants = true WHERE id = $1 AND $2 RETURNING state
)
SELECT coalesce(
    (SELECT state FROM marked),
    (SELECT state FROM {schema}.jobs WHERE id = $1 AND NOT $2 FOR SHARE),
    (SELECT 'completed' FROM {schema}.completed WHERE id = $1));

-- name: dep_policy(id, policy)
UPDATE {schema}.jobs SET on_parent_failure = $2 WHERE id = $1;

-- name: dep_link(parent_id, child_id)
INSERT INTO {schema}.dependencies (parent_id, child_id) VALUES ($1, $2) ON CONFLICT DO NOTHING;

-- name: dep_block(id, blocked_by)
-- (stored blocked on all its parents, see enqueue: fewer of them are unfinished)
UPDATE {schema}.jobs SET state = 'waiting', blocked_by = $2
WHERE id = $1 AND state IN ('pending', 'waiting');

-- name: dep_ready(id)
-- stored blocked, but every parent had completed; the enqueue's notice, delivered at
-- the same commit, wakes the workers
UPDATE {schema}.jobs SET state = 'pending', blocked_by = 0 WHERE id = $1 AND state = 'waiting';

-- name: dep_end(id, state, error, now)
UPDATE {schema}.jobs SET state = $2, error = $3, finished_at = $4
WHERE id = $1 AND state IN ('pending', 'waiting');

-- name: dep_children(parent_id)
SELECT j.id, j.on_parent_failure FROM {schema}.jobs j
WHERE j.id IN (SELECT child_id FROM {schema}.dependencies WHERE parent_id = $1)
  AND j.state = 'waiting'
ORDER BY j.id FOR UPDATE;

-- name: dep_release_children(parent_id)
WITH children AS (
    SELECT j.id FROM {schema}.jobs j
    WHERE j.id IN (SELECT child_id FROM {schema}.dependencies WHERE parent_id = $1)
      AND j.state = 'waiting'
    ORDER BY j.id FOR UPDATE
), moved AS (
    UPDATE {schema}.jobs j
    SET state = CASE WHEN j.blocked_by <= 1 THEN 'pending' ELSE j.state END,
        blocked_by = j.blocked_by - 1
    WHERE j.id IN (SELECT id FROM children)
    RETURNING j.queue AS q, j.state
)
SELECT pg_notify({channel}, '') FROM moved WHERE state = 'pending';

-- name: dep_parent_done(id)
WITH moved AS (
    UPDATE {schema}.jobs
    SET state = CASE WHEN blocked_by <= 1 THEN 'pending' ELSE state END,
        blocked_by = blocked_by - 1
    WHERE id = $1 AND state = 'waiting'
    RETURNING queue AS q, state
)
SELECT pg_notify({channel}, '') FROM moved WHERE state = 'pending';

-- name: dep_unlink_parent(parent_id)
DELETE FROM {schema}.dependencies WHERE parent_id = $1;

-- name: dep_unlink_child(child_id)
DELETE FROM {schema}.dependencies WHERE child_id = $1;

-- name: dep_remember(id, now, result)
INSERT INTO {schema}.completed (id, finished_at, result) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET finished_at = excluded.finished_at, result = excluded.result;

-- name: dep_forget_completed(horizon)
DELETE FROM {schema}.completed WHERE finished_at < $1;

-- name: dep_lock_state(id)
SELECT state FROM {schema}.jobs WHERE id = $1 FOR UPDATE;

-- name: dep_orphans()
-- parents deleted before they finished (purged) that children still wait on
SELECT DISTINCT d.parent_id FROM {schema}.dependencies d
WHERE NOT EXISTS (SELECT 1 FROM {schema}.jobs j WHERE j.id = d.parent_id)
  AND NOT EXISTS (SELECT 1 FROM {schema}.completed c WHERE c.id = d.parent_id);

-- name: dep_leftover_completed()
-- completed parents still linked to a child: the settle's statement did not see the
-- link (it was made while the settle waited for the parent's row)
SELECT DISTINCT d.parent_id FROM {schema}.dependencies d
WHERE EXISTS (SELECT 1 FROM {schema}.completed c WHERE c.id = d.parent_id)
   OR EXISTS (SELECT 1 FROM {schema}.jobs p WHERE p.id = d.parent_id AND p.state = 'completed');

-- name: dep_leftover_ended()
SELECT DISTINCT d.parent_id, p.state FROM {schema}.dependencies d
JOIN {schema}.jobs p ON p.id = d.parent_id
WHERE p.state IN ('failed', 'cancelled', 'expired');

-- -- time and flow control (issue 16): schedules -------------------------------------

-- name: schedule_definition(id)
SELECT definition FROM {schema}.schedules WHERE id = $1;

-- name: schedule_save(id, queue, definition, next_at, paused)
INSERT INTO {schema}.schedules (id, queue, definition, next_at, paused)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET queue = excluded.queue, definition = excluded.definition,
    next_at = excluded.next_at, paused = excluded.paused
WHERE {schema}.schedules.definition <> excluded.definition;

-- name: schedule_list()
SELECT definition, next_at, paused FROM {schema}.schedules ORDER BY id;

-- name: schedule_remove(id)
DELETE FROM {schema}.schedules WHERE id = $1;

-- name: schedule_pause(id, paused)
UPDATE {schema}.schedules SET paused = $2 WHERE id = $1;

-- the compare-and-set that fires a slot (in the transaction inserting its jobs)
-- name: schedule_advance(id, expected, next_at)
UPDATE {schema}.schedules SET next_at = $3 WHERE id = $1 AND next_at = $2;

-- -- flow control (issue 16, docs/flow-control.md) ------------------------------------

-- name: expire_claimed(id, worker_id, now, error)
-- A job the claim just took although its ttl ran out (expires_at <= now): it moves to
-- expired, never handed out, while the claim still holds it; its attempt is not counted.
UPDATE {schema}.jobs SET
    state = 'expired', error = $4, finished_at = $3, lease_until = NULL,
    worker_id = NULL, attempts = attempts - 1
WHERE id = $1 AND state = 'active' AND worker_id = $2;

-- name: expire_candidates(now, limit)
-- the expiry sweep (capability Expiry): waiting jobs whose ttl ran out, oldest first,
-- locked for the sweep's transaction; SKIP LOCKED: a row a claim holds is left to it
SELECT id, expires_at FROM {schema}.jobs
WHERE state = 'pending' AND expires_at IS NOT NULL AND expires_at <= $1
ORDER BY expires_at LIMIT $2
FOR UPDATE SKIP LOCKED;

-- name: expire_waiting(id, now, error)
-- one of them moves to expired, never started: attempts unchanged, unique key freed
UPDATE {schema}.jobs SET state = 'expired', error = $3, finished_at = $2
WHERE id = $1 AND state = 'pending';

-- name: cancel_running(id, now)
-- An active job cancelled (capability RunningCancellation): its lease goes, so its
-- worker's next renewal does not hold it and its outcome is refused.
UPDATE {schema}.jobs SET
    state = 'cancelled', finished_at = $2, lease_until = NULL, worker_id = NULL
WHERE id = $1 AND state = 'active';

-- name: rate_bucket(key)
SELECT tokens, at, version FROM {schema}.rate_buckets WHERE key = $1;

-- name: rate_bucket_add(key, tokens, at)
INSERT INTO {schema}.rate_buckets (key, tokens, at) VALUES ($1, $2, $3)
ON CONFLICT (key) DO NOTHING;

-- name: rate_bucket_set(key, tokens, at, version)
UPDATE {schema}.rate_buckets SET tokens = $2, at = $3, version = version + 1
WHERE key = $1 AND version = $4;

-- name: rate_limits()
SELECT queue, rate_limit, rate_interval, burst FROM {schema}.rate_limits;

-- name: rate_limit_put(queue, rate_limit, rate_interval, burst)
INSERT INTO {schema}.rate_limits (queue, rate_limit, rate_interval, burst)
VALUES ($1, $2, $3, $4)
ON CONFLICT (queue) DO UPDATE SET rate_limit = excluded.rate_limit,
    rate_interval = excluded.rate_interval, burst = excluded.burst;

-- name: rate_limit_drop(queue)
DELETE FROM {schema}.rate_limits WHERE queue = $1;

-- Deduplication modes (asynctasq/drivers/sql/dedup.py): run inside one transaction
-- per job; the lock row is held FOR UPDATE until it commits.

-- name: dedup_reserve(key)
INSERT INTO {schema}.dedup (key, job_id, mode) VALUES ($1, '', '') ON CONFLICT (key) DO NOTHING;

-- name: dedup_lock(key)
SELECT job_id, mode, until FROM {schema}.dedup WHERE key = $1 FOR UPDATE;

-- name: dedup_take(key, job_id, mode, until)
UPDATE {schema}.dedup SET job_id = $2, mode = $3, until = $4 WHERE key = $1;

-- name: dedup_replace(id, payload, run_at, expires_at)
-- a debounced duplicate: the waiting holder (locked by dep_lock_state) takes its payload
UPDATE {schema}.jobs SET payload = $2, run_at = $3, expires_at = $4
WHERE id = $1 AND state = 'pending';

-- name: dedup_sweep(now)
-- throttle locks whose window has passed (a take that meets one replaces it anyway)
DELETE FROM {schema}.dedup WHERE mode = 'throttle' AND until <= $1;

-- name: dedup_register(queue)
-- the queue registered, and its idle workers woken (as the enqueue statement does)
WITH registered AS (
    INSERT INTO {schema}.queues (name) VALUES ($1) ON CONFLICT DO NOTHING
)
SELECT pg_notify({channel}, '') FROM (SELECT $1::text) AS r(q);

-- name: dedup_insert(id, task, queue, payload, priority, max_attempts, run_at, created_at, timeout, depends_on, expires_at)
INSERT INTO {schema}.jobs (
    id, task, queue, payload, priority, attempts, max_attempts, run_at, created_at,
    timeout, state, unique_key, depends_on, expires_at
) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, 'pending', NULL, $10::jsonb, $11)
ON CONFLICT DO NOTHING;

-- Concurrency keys (asynctasq/drivers/sql/slots.py): one transaction per take, the
-- key's row (job_id '') held FOR UPDATE until it commits.

-- name: slot_reserve(key)
INSERT INTO {schema}.slots (key, job_id) VALUES ($1, '') ON CONFLICT DO NOTHING;

-- name: slot_lock(key)
SELECT job_id FROM {schema}.slots WHERE key = $1 AND job_id = '' FOR UPDATE;

-- name: slot_holders(key)
SELECT s.job_id, j.state FROM {schema}.slots s
LEFT JOIN {schema}.jobs j ON j.id = s.job_id
WHERE s.key = $1 AND s.job_id <> '';

-- name: slot_take(key, job_id)
INSERT INTO {schema}.slots (key, job_id) VALUES ($1, $2) ON CONFLICT DO NOTHING;

-- name: slot_give(key, job_id)
DELETE FROM {schema}.slots WHERE key = $1 AND job_id = $2;

-- name: job_outcomes(ids)
-- Results (0008): how each job of a batch stands (source 0); a deleted completed job
-- from completed (source 1)
SELECT id, state, result, error, 0 FROM {schema}.jobs WHERE id = ANY($1::text[])
UNION ALL
SELECT id, 'completed', result, NULL, 1 FROM {schema}.completed WHERE id = ANY($1::text[]);

-- name: flow_add(flow_id, position, job_id, name, now)
INSERT INTO {schema}.flow_jobs (flow_id, position, job_id, name, created_at)
VALUES ($1, $2, $3, $4, $5);

-- name: flow_jobs(flow_id)
SELECT job_id, name FROM {schema}.flow_jobs WHERE flow_id = $1 ORDER BY position;

-- name: flow_forget(horizon)
-- flows whose jobs are all gone (finished and forgotten), past the retention
DELETE FROM {schema}.flow_jobs f WHERE f.created_at < $1
  AND NOT EXISTS (SELECT 1 FROM {schema}.jobs j WHERE j.id = f.job_id)
  AND NOT EXISTS (SELECT 1 FROM {schema}.completed c WHERE c.id = f.job_id);

-- name: flows_newest(at, id, limit)
-- Flows.list_flows: flow ids newest first from just after (at, id), a range read of
-- flow_jobs_newest (0013); a flow's rows share its time, DISTINCT keeps one
SELECT DISTINCT created_at, flow_id FROM {schema}.flow_jobs
WHERE (created_at, flow_id) < ($1::double precision, $2::text)
ORDER BY created_at DESC, flow_id DESC LIMIT $3;

-- name: flow_of(id)
-- the flow a job belongs to, and its name there (0013: flow_jobs_job)
SELECT flow_id, name FROM {schema}.flow_jobs WHERE job_id = $1 LIMIT 1;

-- name: failed_groups(queue)
-- the dead letters of a queue by task and error type, every one counted from the
-- range of jobs_failed_kinds (0013: the same expression; overviews.error_kind)
SELECT task, left(split_part(split_part(error, E'\n', 1), ':', 1), 100), count(*)
FROM {schema}.jobs WHERE queue = $1 AND state = 'failed'
GROUP BY task, left(split_part(split_part(error, E'\n', 1), ':', 1), 100);

-- name: flow_states(flow_id)
-- a flow's jobs counted by stored state (NULL: forgotten), in one step: the flows
-- list pages through many flows, some of many jobs
SELECT COALESCE(j.state, CASE WHEN c.id IS NOT NULL THEN 'completed' END), count(*)
FROM {schema}.flow_jobs f
LEFT JOIN {schema}.jobs j ON j.id = f.job_id
LEFT JOIN {schema}.completed c ON c.id = f.job_id
WHERE f.flow_id = $1
GROUP BY 1;
