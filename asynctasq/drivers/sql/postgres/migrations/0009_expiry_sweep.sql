-- The background expiry sweep (capability Expiry, docs/flow-control.md): waiting jobs
-- by expires_at, only those with a ttl (the index is empty without ttl jobs).
CREATE INDEX jobs_expiring ON {schema}.jobs (expires_at)
    WHERE state = 'pending' AND expires_at IS NOT NULL;
