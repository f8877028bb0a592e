-- Fleet operations (issue 12): each device's latest heartbeat, command results, the
-- `restart` command, and key rotation (a new key pair and token waiting for the device
-- to confirm it stored them; the old token works until then, never after).
CREATE TABLE device_health (
    device_id    text PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    received_at  timestamptz NOT NULL DEFAULT now(),
    version      text NOT NULL,
    pending      integer NOT NULL CHECK (pending >= 0),
    oldest_pending_age_seconds double precision,
    rejected     integer NOT NULL CHECK (rejected >= 0),
    quarantined  integer NOT NULL CHECK (quarantined >= 0),
    last_error   text,
    facts        jsonb NOT NULL
);

ALTER TABLE device_commands DROP CONSTRAINT device_commands_kind_check;
ALTER TABLE device_commands ADD CONSTRAINT device_commands_kind_check
    CHECK (kind IN ('forget_person', 'reconfigure', 'rotate_keys', 'decommission', 'restart'));
-- what the device said when it acknowledged: done / refused (with a short reason)
ALTER TABLE device_commands ADD COLUMN result text CHECK (result IN ('done', 'refused'));
ALTER TABLE device_commands ADD COLUMN result_detail text CHECK (length(result_detail) <= 300);

ALTER TABLE devices ADD COLUMN rotating_public_key bytea CHECK (length(rotating_public_key) = 32);
ALTER TABLE devices ADD COLUMN rotating_token_hash bytea UNIQUE;
ALTER TABLE devices ADD COLUMN key_rotated_at timestamptz;
