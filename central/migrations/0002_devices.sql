-- Enrolled devices, one-time enrollment codes and the commands queued for devices.
-- Only SHA-256 hashes of codes and tokens are stored.
CREATE TABLE devices (
    id            text PRIMARY KEY,
    site_id       text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    scope_kind    text NOT NULL CHECK (scope_kind IN ('room', 'lobby')),
    scope_id      text NOT NULL,
    role          text NOT NULL CHECK (role IN ('panel', 'kiosk')),
    public_key    bytea NOT NULL CHECK (length(public_key) = 32),
    token_hash    bytea NOT NULL UNIQUE,
    enrolled_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_seen_at  timestamptz
);
CREATE INDEX devices_site ON devices (site_id);

CREATE TABLE enrollment_codes (
    code_hash   bytea PRIMARY KEY,
    site_id     text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    scope_kind  text NOT NULL CHECK (scope_kind IN ('room', 'lobby')),
    scope_id    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    device_id   text REFERENCES devices (id) ON DELETE SET NULL
);

CREATE TABLE device_commands (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id        text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    kind             text NOT NULL
                     CHECK (kind IN ('forget_person', 'reconfigure', 'rotate_keys', 'decommission')),
    args             jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz
);
CREATE INDEX device_commands_pending ON device_commands (device_id) WHERE acknowledged_at IS NULL;
