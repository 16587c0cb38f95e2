-- Damaged records the claim and recovery can never reach (SQLite stores any value in
-- any column): an unknown state, a pending job whose run_at is not a finite number, an
-- active one whose lease_until is not. This partial index holds exactly those rows, so
-- workers find them at the cost of a lookup in an empty index and dead-letter them
-- (queries.sql: unreachable). The condition must stay the same text as the query's.
CREATE INDEX IF NOT EXISTS asynctasq_jobs_unreachable ON asynctasq_jobs (id)
WHERE state NOT IN ('pending', 'waiting', 'active', 'completed', 'failed', 'cancelled', 'expired')
    OR (state = 'pending' AND (typeof(run_at) NOT IN ('integer', 'real') OR abs(run_at) > 1e300))
    OR (state = 'active'
        AND (typeof(lease_until) NOT IN ('integer', 'real') OR abs(lease_until) > 1e300));
