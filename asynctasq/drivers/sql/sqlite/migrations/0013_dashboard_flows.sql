-- The dashboard's flows and dead letters (issue 22, docs/dashboard.md). A job's flow
-- by its id (Inspection.get fills Job.flow_id). Failed jobs by queue, task and error
-- type (the error's first line up to its first colon, at most 100 characters:
-- asynctasq/drivers/overviews.py error_kind), so the dead-letter page counts them all
-- from this index alone; the query writes the same expression (queries.sql:
-- failed_groups). The flows listing reads asynctasq_flow_jobs_age, which holds the
-- flow id after the time (the table's key), newest first.
CREATE INDEX asynctasq_flow_jobs_job ON asynctasq_flow_jobs (job_id);

CREATE INDEX asynctasq_jobs_failed_kinds ON asynctasq_jobs (
    queue, task,
    substr(error, 1, min(instr(error || ':', ':'), instr(error || char(10), char(10)), 101) - 1)
) WHERE state = 'failed';
