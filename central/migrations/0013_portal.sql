-- The admin portal (issue 14): administrators, their roles per site, their sessions,
-- sign-in throttling, counters for monitoring, and the append-only audit log.
--
-- Passwords are argon2id hashes; session ids and the pre-sign-in CSRF values are stored
-- as SHA-256 hashes only. The TOTP secret is stored as it must be (to check codes).

CREATE TABLE admins (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    password_hash   text NOT NULL,
    totp_secret     text,               -- NULL until the first sign-in's enrolment
    totp_pending    text,               -- the secret being enrolled (shown as a QR code)
    totp_last_step  bigint,             -- the last accepted code's time step: no replay
    language        text CHECK (language IN ('en', 'sv')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz
);
CREATE UNIQUE INDEX admins_email ON admins (lower(email));

-- One role per admin per site; 'global' has no site (every site, and managing admins).
CREATE TABLE admin_roles (
    admin_id  bigint NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    site_id   text REFERENCES sites (id) ON DELETE CASCADE,
    role      text NOT NULL
              CHECK (role IN ('global', 'site_admin', 'receptionist', 'technician')),
    CHECK ((role = 'global') = (site_id IS NULL))
);
CREATE UNIQUE INDEX admin_roles_one ON admin_roles (admin_id, COALESCE(site_id, ''));

CREATE TABLE admin_sessions (
    id_hash       bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    admin_id      bigint NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    stage         text NOT NULL CHECK (stage IN ('totp', 'full')),
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id);

-- Failed sign-ins (password or code), per account and per address, for throttling and
-- lockout. Rows older than a day are deleted as new ones are written.
CREATE TABLE admin_signin_failures (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    admin_id   bigint REFERENCES admins (id) ON DELETE CASCADE,
    address    text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_signin_failures_admin ON admin_signin_failures (admin_id, failed_at);
CREATE INDEX admin_signin_failures_address ON admin_signin_failures (address, failed_at);

-- Monitoring counters, shared by every worker (GET /admin/metrics).
CREATE TABLE portal_counters (
    name   text PRIMARY KEY,
    value  bigint NOT NULL DEFAULT 0
);
INSERT INTO portal_counters (name) VALUES
    ('signin_failures'), ('signin_lockouts'), ('signin_alerts'), ('signins'), ('csrf_refused');

-- Every admin action: who (an admin id; NULL for the command line), what, which target
-- (an id, never a name or an address), when, from where (the client address). No
-- personal data beyond the actor. Append-only: UPDATE and TRUNCATE are refused, DELETE
-- only for rows past the 365 days the audit log is kept (the retention purge).
CREATE TABLE admin_audit (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    admin_id  bigint,                   -- no foreign key: the log outlives the admin
    action    text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)*$'),
    site_id   text,
    target    text CHECK (length(target) <= 200),
    address   text NOT NULL CHECK (length(address) <= 100)
);
CREATE INDEX admin_audit_at ON admin_audit (at);
CREATE INDEX admin_audit_site ON admin_audit (site_id, at);

CREATE FUNCTION admin_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.at < now() - interval '365 days' THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'admin_audit is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER admin_audit_no_change BEFORE UPDATE OR DELETE ON admin_audit
    FOR EACH ROW EXECUTE FUNCTION admin_audit_append_only();
CREATE TRIGGER admin_audit_no_truncate BEFORE TRUNCATE ON admin_audit
    FOR EACH STATEMENT EXECUTE FUNCTION admin_audit_append_only();
