-- The dashboard's flows (issue 22, docs/dashboard.md): a job's flow by its id
-- (Inspection.get fills Job.flow_id). The flows listing reads asynctasq_flow_jobs_age,
-- whose entries carry the table's key (flow_id, position) after the time, newest
-- first. Safe to run again.
CREATE INDEX IF NOT EXISTS asynctasq_flow_jobs_job ON asynctasq_flow_jobs (job_id);
