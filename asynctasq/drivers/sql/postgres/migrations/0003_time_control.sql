-- Time and flow control (issue 16). Schedules: repeatable and cron jobs. definition
-- is fixed (JSON, asynctasq/schedules.py), next_at the next slot: firing a slot is a
-- compare-and-set of next_at in the transaction that inserts the slot's jobs.
CREATE TABLE {schema}.schedules (
    id         text COLLATE "C" PRIMARY KEY,
    queue      text COLLATE "C" NOT NULL,
    definition text NOT NULL,
    next_at    double precision NOT NULL,
    paused     boolean NOT NULL DEFAULT false
);
