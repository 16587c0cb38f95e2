-- Job dependencies: a child linked to a parent that was already stored (committed by
-- another transaction) marks the parent. The parent's settle, if it waited on that mark,
-- sees it in the row it settles (PostgreSQL re-reads a row it waited for) but not the
-- child's edge (the statement's snapshot predates it); the mark tells it to release the
-- children again in a new statement (sql/dependencies.py, queries.sql: settle).
ALTER TABLE {schema}.jobs ADD COLUMN has_dependants boolean NOT NULL DEFAULT false;
