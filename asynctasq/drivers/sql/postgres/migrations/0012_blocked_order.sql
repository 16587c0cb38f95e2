-- Cursor pages of a queue's blocked jobs (issue 22, Inspection.list_from): an index in
-- the listing's order, so a page from a position is a range read of it, whatever the
-- depth, instead of a sort of every blocked job (a DAG can hold very many). Blocked
-- rows only: a claim never writes it (running jobs are as many as the workers run,
-- sorted in a moment through jobs_unfinished).
CREATE INDEX jobs_blocked_order ON {schema}.jobs (queue, priority, run_at, id)
    WHERE state = 'waiting';
