-- Results and flows (issue 15, docs/workflows.md): a deleted completed job keeps its
-- result beside its id (capability Results), and the jobs of each flow (FlowProducer).
ALTER TABLE asynctasq_completed ADD COLUMN result LONGBLOB NULL;

CREATE TABLE IF NOT EXISTS asynctasq_flow_jobs (
    flow_id    CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    position   INT NOT NULL,
    job_id     CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name       VARCHAR(200) NULL,
    created_at DOUBLE NOT NULL,
    PRIMARY KEY (flow_id, position),
    KEY asynctasq_flow_jobs_age (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
