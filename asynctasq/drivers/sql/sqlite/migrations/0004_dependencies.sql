-- Job dependencies (workflows, docs/workflows.md; sql/dependencies.py). A blocked job
-- is stored in state 'waiting' with blocked_by, how many of its parents are unfinished.
ALTER TABLE asynctasq_jobs ADD COLUMN on_parent_failure TEXT NOT NULL DEFAULT 'fail';
ALTER TABLE asynctasq_jobs ADD COLUMN blocked_by INTEGER NOT NULL DEFAULT 0;

-- one row per parent a blocked child still waits on
CREATE TABLE asynctasq_dependencies (
    parent_id TEXT NOT NULL,
    child_id  TEXT NOT NULL,
    PRIMARY KEY (parent_id, child_id)
) WITHOUT ROWID;
CREATE INDEX asynctasq_dependencies_child ON asynctasq_dependencies (child_id);

-- completed jobs that were deleted, remembered while a later child may name them
CREATE TABLE asynctasq_completed (
    id          TEXT PRIMARY KEY,
    finished_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX asynctasq_completed_age ON asynctasq_completed (finished_at);
