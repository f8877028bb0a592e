-- Failed enrollment attempts, for rate limiting /v1/enroll (per source address and for
-- everyone) across every central worker process. Rows older than a day are pruned.
CREATE TABLE enroll_failures (
    source  text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX enroll_failures_at ON enroll_failures (at);
CREATE INDEX enroll_failures_source ON enroll_failures (source, at);
