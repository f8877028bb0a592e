-- What devices send: the dedup ledger and the effects of each event type.

-- One row per (device, event) ever seen: the exactly-once ledger. Written in the same
-- transaction as the event's effect.
CREATE TABLE applied_events (
    device_id   text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    event_id    uuid NOT NULL,
    seq         bigint NOT NULL,
    type        text NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('applied', 'rejected')),
    reason      text,
    code        text,
    created_at  timestamptz,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, event_id)
);
CREATE INDEX applied_events_applied_at ON applied_events USING brin (applied_at);

-- Room and desk bookings made on devices. The exclusion constraint decides races.
CREATE TABLE bookings (
    id          text PRIMARY KEY,
    site_id     text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    resource    text NOT NULL CHECK (resource ~ '^(room|desk):.+'),
    room_id     text GENERATED ALWAYS AS
                (CASE WHEN resource LIKE 'room:%' THEN substr(resource, 6) END) STORED,
    during      tstzrange NOT NULL CHECK (NOT isempty(during)
                                          AND NOT lower_inf(during)
                                          AND NOT upper_inf(during)),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended', 'released')),
    booked_by   text REFERENCES people (id) ON DELETE SET NULL,
    subject     text NOT NULL DEFAULT '',
    device_id   text REFERENCES devices (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    CONSTRAINT bookings_no_overlap
        EXCLUDE USING gist (resource WITH =, during WITH &&) WHERE (status <> 'released')
);
CREATE INDEX bookings_site ON bookings (site_id);
CREATE INDEX bookings_ended ON bookings (upper(during));

CREATE TABLE checkins (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id        text NOT NULL,
    meeting_id     text REFERENCES meetings (id) ON DELETE CASCADE,
    booking_id     text REFERENCES bookings (id) ON DELETE CASCADE,
    person_id      text REFERENCES people (id) ON DELETE SET NULL,
    device_id      text REFERENCES devices (id) ON DELETE SET NULL,
    checked_in_at  timestamptz NOT NULL,
    CHECK ((meeting_id IS NULL) <> (booking_id IS NULL))
);
CREATE UNIQUE INDEX checkins_meeting ON checkins (meeting_id) WHERE meeting_id IS NOT NULL;
CREATE UNIQUE INDEX checkins_booking ON checkins (booking_id) WHERE booking_id IS NOT NULL;
CREATE INDEX checkins_at ON checkins (checked_in_at);

CREATE TABLE releases (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id      text NOT NULL,
    meeting_id   text REFERENCES meetings (id) ON DELETE CASCADE,
    booking_id   text REFERENCES bookings (id) ON DELETE CASCADE,
    reason       text NOT NULL DEFAULT 'no_show',
    device_id    text REFERENCES devices (id) ON DELETE SET NULL,
    released_at  timestamptz NOT NULL,
    CHECK ((meeting_id IS NULL) <> (booking_id IS NULL))
);
CREATE UNIQUE INDEX releases_meeting ON releases (meeting_id) WHERE meeting_id IS NOT NULL;
CREATE UNIQUE INDEX releases_booking ON releases (booking_id) WHERE booking_id IS NOT NULL;
CREATE INDEX releases_at ON releases (released_at);

CREATE TABLE visitor_signins (
    id                 text PRIMARY KEY,
    site_id            text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    lobby_id           text NOT NULL,
    name               text NOT NULL,
    company            text NOT NULL DEFAULT '',
    email              text NOT NULL DEFAULT '',
    host_id            text REFERENCES people (id) ON DELETE SET NULL,
    accepted_terms_at  timestamptz NOT NULL,
    signed_in_at       timestamptz NOT NULL,
    signed_out_at      timestamptz,
    device_id          text REFERENCES devices (id) ON DELETE SET NULL
);
CREATE INDEX visitor_signins_at ON visitor_signins (signed_in_at);

-- Outbox: one row per host to notify; a mailer/chat worker marks sent_at.
CREATE TABLE host_notifications (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    signin_id   text NOT NULL REFERENCES visitor_signins (id) ON DELETE CASCADE,
    host_id     text NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0,
    sent_at     timestamptz
);
CREATE INDEX host_notifications_pending ON host_notifications (created_at) WHERE sent_at IS NULL;

CREATE TABLE issue_reports (
    id           text PRIMARY KEY,
    site_id      text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    resource     text NOT NULL,
    category     text NOT NULL
                 CHECK (category IN ('display', 'video', 'audio', 'climate', 'furniture',
                                     'cleaning', 'other')),
    text         text NOT NULL DEFAULT '',
    photo        bytea,
    photo_type   text,
    reporter_id  text REFERENCES people (id) ON DELETE SET NULL,
    device_id    text REFERENCES devices (id) ON DELETE SET NULL,
    reported_at  timestamptz NOT NULL
);
CREATE INDEX issue_reports_at ON issue_reports (reported_at);

CREATE TABLE presence_samples (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id           text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    resource          text NOT NULL,
    during            tstzrange NOT NULL,
    occupied_minutes  integer NOT NULL CHECK (occupied_minutes >= 0),
    count_band        text NOT NULL,
    device_id         text REFERENCES devices (id) ON DELETE SET NULL
);
CREATE INDEX presence_samples_ended ON presence_samples USING brin (upper(during));
