-- Results and flows (issue 15, docs/workflows.md): a deleted completed job keeps its
-- result beside its id (capability Results), and the jobs of each flow (FlowProducer).
ALTER TABLE {schema}.completed ADD COLUMN result bytea;

CREATE TABLE {schema}.flow_jobs (
    flow_id    text COLLATE "C" NOT NULL,
    position   integer NOT NULL,
    job_id     text COLLATE "C" NOT NULL,
    name       text,
    created_at double precision NOT NULL,
    PRIMARY KEY (flow_id, position)
);
CREATE INDEX flow_jobs_age ON {schema}.flow_jobs (created_at);
