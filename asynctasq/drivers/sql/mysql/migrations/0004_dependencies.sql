-- Job dependencies (workflows, docs/workflows.md; sql/dependencies.py). A blocked job
-- is stored in state 'waiting'; it becomes pending when no row of
-- asynctasq_dependencies names it as a child any more. The jobs table is not altered
-- (MySQL 8 has no ADD COLUMN IF NOT EXISTS, and every statement here must be safe to
-- run again): the failure policy travels on each edge.
CREATE TABLE IF NOT EXISTS asynctasq_dependencies (
    parent_id         CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    child_id          CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    on_parent_failure VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT 'fail',
    PRIMARY KEY (parent_id, child_id),
    KEY asynctasq_dependencies_child (child_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- completed jobs that were deleted, remembered while a later child may name them
CREATE TABLE IF NOT EXISTS asynctasq_completed (
    id          CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    finished_at DOUBLE NOT NULL,
    PRIMARY KEY (id),
    KEY asynctasq_completed_age (finished_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
