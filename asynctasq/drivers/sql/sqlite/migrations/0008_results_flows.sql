-- Results and flows (issue 15, docs/workflows.md): a deleted completed job keeps its
-- result beside its id (capability Results), and the jobs of each flow (FlowProducer).
ALTER TABLE asynctasq_completed ADD COLUMN result BLOB;

CREATE TABLE asynctasq_flow_jobs (
    flow_id    TEXT NOT NULL,
    position   INTEGER NOT NULL,
    job_id     TEXT NOT NULL,
    name       TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (flow_id, position)
) WITHOUT ROWID;
CREATE INDEX asynctasq_flow_jobs_age ON asynctasq_flow_jobs (created_at);
