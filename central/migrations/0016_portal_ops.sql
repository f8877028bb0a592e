-- The admin portal's retention status (issue 14): when each retention run happened and
-- what it deleted, per table (counts only, never rows). central/retention.py writes one
-- row per run and forgets runs older than the audit log's 365 days.
CREATE TABLE retention_runs (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ran_at  timestamptz NOT NULL DEFAULT now(),
    counts  jsonb NOT NULL CHECK (jsonb_typeof(counts) = 'object')
);
CREATE INDEX retention_runs_at ON retention_runs (ran_at);
