-- Visitors (issue 10): per-site visitor settings and types, versioned terms, invites, the
-- sign-in's new fields, and host_notifications as a real outbox (central/notify/).

-- A site's visitor settings. Webhook columns hold the NAME of a webhook in central's
-- settings file, never its URL (webhook URLs are secrets).
ALTER TABLE sites
    ADD COLUMN language            text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'sv')),
    ADD COLUMN visitors_end_of_day time NOT NULL DEFAULT '18:00'
        CHECK (extract(second FROM visitors_end_of_day) = 0),
    ADD COLUMN kiosk_idle_seconds  integer NOT NULL DEFAULT 60
        CHECK (kiosk_idle_seconds BETWEEN 10 AND 3600),
    ADD COLUMN reception_email     text NOT NULL DEFAULT '',
    ADD COLUMN reception_via       text NOT NULL DEFAULT 'email'
        CHECK (reception_via IN ('email', 'teams', 'slack')),
    ADD COLUMN teams_webhook       text,
    ADD COLUMN slack_webhook       text;

-- How a person wants to hear that their visitor arrived; notify_webhook (a webhook name)
-- overrides the site's Teams/Slack webhook for them.
ALTER TABLE people
    ADD COLUMN notify_via      text NOT NULL DEFAULT 'email'
        CHECK (notify_via IN ('email', 'teams', 'slack')),
    ADD COLUMN notify_webhook  text;

-- Visitor types, per site, in the order the kiosk offers them.
CREATE TABLE visitor_types (
    site_id    text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    id         text NOT NULL CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    names      jsonb NOT NULL CHECK (jsonb_typeof(names) = 'object' AND names ? 'en'),
    steps      text[] NOT NULL
               CHECK (steps <@ ARRAY['company', 'email', 'host', 'terms', 'photo']::text[]),
    signature  boolean NOT NULL DEFAULT false,
    position   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, id),
    CHECK (NOT signature OR 'terms' = ANY (steps))
);

-- Every site starts with the four default types (a new site gets them on insert).
CREATE FUNCTION tapin_default_visitor_types(site text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO visitor_types (site_id, id, names, steps, signature, position) VALUES
        (site, 'guest', '{"en": "Guest", "sv": "Gäst"}',
         '{company,email,host,terms,photo}', false, 1),
        (site, 'interview', '{"en": "Interview", "sv": "Intervju"}',
         '{email,host,terms}', false, 2),
        (site, 'contractor', '{"en": "Contractor", "sv": "Entreprenör"}',
         '{company,email,host,terms,photo}', true, 3),
        (site, 'delivery', '{"en": "Delivery", "sv": "Leverans"}',
         '{company}', false, 4)
    ON CONFLICT DO NOTHING
$$;

CREATE FUNCTION tapin_site_visitor_types() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tapin_default_visitor_types(NEW.id);
    RETURN NEW;
END
$$;

CREATE TRIGGER sites_default_visitor_types AFTER INSERT ON sites
    FOR EACH ROW EXECUTE FUNCTION tapin_site_visitor_types();

SELECT tapin_default_visitor_types(id) FROM sites;

-- The visitor terms, versioned per site, one row per language. The current document is
-- the version published first most recently. Versions are immutable once published.
CREATE TABLE visitor_terms (
    site_id       text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    version       text NOT NULL CHECK (version ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    lang          text NOT NULL CHECK (lang ~ '^[a-z]{2}$'),
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body          text NOT NULL CHECK (length(body) BETWEEN 1 AND 50000),
    published_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, version, lang)
);

-- Invites for a day. Only the SHA-256 of the QR code's secret is kept.
CREATE TABLE visitor_invites (
    id            text PRIMARY KEY,
    site_id       text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    day           date NOT NULL,
    host_id       text REFERENCES people (id) ON DELETE SET NULL,
    name          text NOT NULL,
    email         text NOT NULL,
    company       text NOT NULL DEFAULT '',
    visitor_type  text NOT NULL,
    secret_hash   bytea NOT NULL CHECK (length(secret_hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    used_at       timestamptz,
    signin_id     text
);
CREATE INDEX visitor_invites_site_day ON visitor_invites (site_id, day);
CREATE INDEX visitor_invites_email ON visitor_invites (lower(email));

-- What a sign-in now carries. A type without terms signs in without accepting any.
ALTER TABLE visitor_signins
    ALTER COLUMN accepted_terms_at DROP NOT NULL,
    ADD COLUMN visitor_type    text NOT NULL DEFAULT 'guest',
    ADD COLUMN terms_version   text,
    ADD COLUMN invite_id       text,
    ADD COLUMN photo           bytea,
    ADD COLUMN photo_type      text CHECK (photo_type IN ('image/jpeg', 'image/png')),
    ADD COLUMN signature       bytea,
    ADD COLUMN signature_type  text CHECK (signature_type = 'image/png'),
    ADD COLUMN badge_hash      bytea CHECK (length(badge_hash) = 32),
    ADD COLUMN signed_out_via  text CHECK (signed_out_via IN ('list', 'badge', 'reception', 'auto'));
CREATE INDEX visitor_signins_onsite ON visitor_signins (site_id) WHERE signed_out_at IS NULL;
CREATE INDEX visitor_signins_email ON visitor_signins (lower(email)) WHERE email <> '';

-- The outbox: one row per sign-in and recipient (the host, or reception when there is no
-- host or the host could not be told), drained by central's notification worker.
-- An invite's email to the visitor is a row of the same outbox (invite_id set, recipient
-- 'visitor'): the QR code's secret is derived again from central's key when it is sent.
DROP INDEX host_notifications_pending;
ALTER TABLE host_notifications RENAME COLUMN sent_at TO delivered_at;
ALTER TABLE host_notifications
    ALTER COLUMN host_id DROP NOT NULL,
    ALTER COLUMN signin_id DROP NOT NULL,
    ADD COLUMN invite_id        text REFERENCES visitor_invites (id) ON DELETE CASCADE,
    ADD COLUMN recipient        text NOT NULL DEFAULT 'host'
        CHECK (recipient IN ('host', 'reception', 'visitor')),
    ADD COLUMN reason           text NOT NULL DEFAULT 'signin'
        CHECK (reason IN ('signin', 'no_host', 'host_failed', 'invite')),
    ADD COLUMN channel          text NOT NULL DEFAULT 'email'
        CHECK (channel IN ('email', 'teams', 'slack')),
    ADD COLUMN status           text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    ADD COLUMN next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_error       text,
    ADD CONSTRAINT host_notifications_host CHECK ((recipient = 'host') = (host_id IS NOT NULL)),
    ADD CONSTRAINT host_notifications_about CHECK ((signin_id IS NULL) <> (invite_id IS NULL)),
    ADD CONSTRAINT host_notifications_visitor CHECK ((recipient = 'visitor') = (invite_id IS NOT NULL));
UPDATE host_notifications SET status = 'delivered' WHERE delivered_at IS NOT NULL;
-- rows nobody sent before this upgrade: an hour-old "your visitor is here" helps nobody
UPDATE host_notifications SET status = 'failed', last_error = 'not sent before the upgrade'
WHERE delivered_at IS NULL AND created_at < now() - interval '1 hour';
CREATE INDEX host_notifications_due ON host_notifications (next_attempt_at)
    WHERE status = 'pending';
CREATE UNIQUE INDEX host_notifications_once ON host_notifications (signin_id, recipient)
    WHERE signin_id IS NOT NULL;
CREATE UNIQUE INDEX host_notifications_invite ON host_notifications (invite_id)
    WHERE invite_id IS NOT NULL;
CREATE INDEX host_notifications_signin ON host_notifications (signin_id);

-- "Before" records: a row here while its notification is still pending means a send was
-- started and never recorded as finished (the process died in between).
CREATE TABLE notification_sends (
    notification_id  bigint NOT NULL REFERENCES host_notifications (id) ON DELETE CASCADE,
    attempt          integer NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notification_id, attempt)
);
