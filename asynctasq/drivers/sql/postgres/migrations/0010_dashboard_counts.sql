-- The dashboard on a million jobs (issue 22, docs/dashboard.md): an index that reads a
-- queue's blocked and running jobs without scanning the table (the listing of every
-- state merges one ordered read per state), and the planner's row estimate of one
-- queue's jobs in one state, so the overview shows a state holding very many jobs as
-- "about N" without counting it (Inspection.estimated_stats). EXPLAIN runs with the
-- values written in: a plan for them, never a generic one.
CREATE INDEX jobs_unfinished ON {schema}.jobs (queue, state)
    WHERE state IN ('waiting', 'active');

CREATE FUNCTION {schema}.estimated_jobs(queue_name text, job_state text) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE format(
        'EXPLAIN (FORMAT JSON) SELECT 1 FROM {schema}.jobs WHERE queue = %L AND state = %L',
        queue_name, job_state
    ) INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint;
END
$$;

-- queue and state go together (a queue of finished jobs, another of waiting ones):
-- their most common pairs make the estimate per queue and state
CREATE STATISTICS {schema}.jobs_queue_state (mcv) ON queue, state FROM {schema}.jobs;
