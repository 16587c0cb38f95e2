-- Rows no claim or recovery could ever reach are refused by the table itself: a
-- state nobody knows, or an active job without a lease (it would never lapse). DOUBLE
-- columns hold no NaN or infinity in MySQL. Other damage (a wrong depends_on, attempts
-- below zero...) reaches the claim, which dead-letters the row with the reason
-- (faults.py). CHECK constraints are enforced from MySQL 8.0.16 and MariaDB 10.2.
--
-- Rows already damaged that way are dead-lettered first, so the constraints can be
-- added. Each statement is safe to run again (see migrator.py).
UPDATE asynctasq_jobs
SET error = CONCAT('CorruptRecord: the stored job is damaged (state ', QUOTE(state),
        ' is not a job state), so it cannot run; dead-lettered by migration 0002'),
    state = 'failed', finished_at = {now}, lease_until = NULL,
    worker_id = NULL
WHERE state NOT IN ('pending', 'waiting', 'active', 'completed', 'failed', 'cancelled', 'expired');

UPDATE asynctasq_jobs SET lease_until = 0 WHERE state = 'active' AND lease_until IS NULL;

ALTER TABLE asynctasq_jobs
    ADD CONSTRAINT asynctasq_jobs_state CHECK (
        state IN ('pending', 'waiting', 'active', 'completed', 'failed', 'cancelled', 'expired')
    ),
    ADD CONSTRAINT asynctasq_jobs_active_leased CHECK (
        state <> 'active' OR lease_until IS NOT NULL
    );
