-- Rows no claim or recovery could ever reach are refused by the table itself:
-- double precision holds NaN and infinity, and a job whose run_at is NaN or +infinity
-- never comes due, one whose lease_until is never lapses (nor one active without a
-- lease). In PostgreSQL 'NaN' equals 'NaN', so NOT IN names the three values; a NULL
-- column passes. Other damage (a wrong depends_on, attempts below zero...) reaches the
-- claim, which dead-letters the row with the reason (faults.py).
--
-- Rows already damaged that way are dead-lettered first (an unfinished one) or have
-- the value cleared (a finished one), so the constraints can be added.
UPDATE {schema}.jobs SET
    error = CASE WHEN state IN ('pending', 'waiting', 'active') THEN
        'CorruptRecord: the stored job is damaged (a time that is not a finite number, or '
        || 'an active job without a lease), so it cannot run; dead-lettered by migration 0002'
        ELSE error END,
    state = CASE WHEN state IN ('pending', 'waiting', 'active') THEN 'failed' ELSE state END,
    finished_at = CASE
        WHEN state IN ('pending', 'waiting', 'active') THEN {now}
        WHEN finished_at NOT IN ('NaN', 'Infinity', '-Infinity') THEN finished_at END,
    lease_until = CASE WHEN state IN ('pending', 'waiting', 'active') THEN NULL
        WHEN lease_until NOT IN ('NaN', 'Infinity', '-Infinity') THEN lease_until END,
    worker_id = CASE WHEN state IN ('pending', 'waiting', 'active') THEN NULL ELSE worker_id END,
    run_at = CASE WHEN run_at IN ('NaN', 'Infinity', '-Infinity') THEN 0 ELSE run_at END,
    created_at = CASE WHEN created_at IN ('NaN', 'Infinity', '-Infinity') THEN 0
        ELSE created_at END,
    timeout = CASE WHEN timeout NOT IN ('NaN', 'Infinity', '-Infinity') THEN timeout END,
    expires_at = CASE WHEN expires_at NOT IN ('NaN', 'Infinity', '-Infinity') THEN expires_at END,
    progress = CASE WHEN progress NOT IN ('NaN', 'Infinity', '-Infinity') THEN progress END
WHERE run_at IN ('NaN', 'Infinity', '-Infinity')
    OR created_at IN ('NaN', 'Infinity', '-Infinity')
    OR timeout IN ('NaN', 'Infinity', '-Infinity')
    OR lease_until IN ('NaN', 'Infinity', '-Infinity')
    OR expires_at IN ('NaN', 'Infinity', '-Infinity')
    OR progress IN ('NaN', 'Infinity', '-Infinity')
    OR finished_at IN ('NaN', 'Infinity', '-Infinity')
    OR (state = 'active' AND lease_until IS NULL);

ALTER TABLE {schema}.jobs
    ADD CONSTRAINT jobs_times_finite CHECK (
        run_at NOT IN ('NaN', 'Infinity', '-Infinity')
        AND created_at NOT IN ('NaN', 'Infinity', '-Infinity')
        AND timeout NOT IN ('NaN', 'Infinity', '-Infinity')
        AND lease_until NOT IN ('NaN', 'Infinity', '-Infinity')
        AND expires_at NOT IN ('NaN', 'Infinity', '-Infinity')
        AND progress NOT IN ('NaN', 'Infinity', '-Infinity')
        AND finished_at NOT IN ('NaN', 'Infinity', '-Infinity')
    ),
    ADD CONSTRAINT jobs_active_leased CHECK (state <> 'active' OR lease_until IS NOT NULL);
