-- The dashboard's flows and dead letters (issue 22, docs/dashboard.md). A job's flow
-- by its id (Inspection.get fills Job.flow_id); flows newest first, a page at a time
-- from a (created_at, flow_id) position (Flows.list_flows; migrations only ever add,
-- so the index by age alone stays, for flow_forget). Failed jobs by queue, task and
-- error type (the error's first line up to its first colon, at most 100 characters:
-- asynctasq/drivers/overviews.py error_kind): the dead-letter page counts them all
-- from this partial index's range; the query writes the same expression (queries.sql:
-- failed_groups).
CREATE INDEX flow_jobs_job ON {schema}.flow_jobs (job_id);
CREATE INDEX flow_jobs_newest ON {schema}.flow_jobs (created_at, flow_id);

CREATE INDEX jobs_failed_kinds ON {schema}.jobs (
    queue, task, (left(split_part(split_part(error, E'\n', 1), ':', 1), 100))
) WHERE state = 'failed';
