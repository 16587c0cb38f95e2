-- The background expiry sweep (capability Expiry, docs/flow-control.md): waiting jobs
-- by expires_at (MySQL has no partial index: state first). Safe to run again.
CREATE INDEX IF NOT EXISTS asynctasq_jobs_expiring ON asynctasq_jobs (state, expires_at);
