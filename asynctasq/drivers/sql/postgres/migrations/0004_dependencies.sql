-- Job dependencies (workflows, docs/workflows.md; sql/dependencies.py). A blocked job
-- is stored in state 'waiting' with blocked_by, how many of its parents are unfinished.
ALTER TABLE {schema}.jobs
    ADD COLUMN on_parent_failure text NOT NULL DEFAULT 'fail',
    ADD COLUMN blocked_by integer NOT NULL DEFAULT 0;

-- one row per parent a blocked child still waits on
CREATE TABLE {schema}.dependencies (
    parent_id text COLLATE "C" NOT NULL,
    child_id  text COLLATE "C" NOT NULL,
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX dependencies_child ON {schema}.dependencies (child_id);

-- completed jobs that were deleted, remembered while a later child may name them
CREATE TABLE {schema}.completed (
    id          text COLLATE "C" PRIMARY KEY,
    finished_at double precision NOT NULL
);
CREATE INDEX completed_age ON {schema}.completed (finished_at);
