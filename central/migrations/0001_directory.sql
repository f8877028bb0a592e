-- Sites, their spaces and their people: what devices receive as snapshots.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE sites (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    timezone    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rooms (
    id              text PRIMARY KEY,
    site_id         text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name            text NOT NULL,
    building        text NOT NULL DEFAULT '',
    floor           integer NOT NULL DEFAULT 0,
    capacity        integer NOT NULL DEFAULT 0 CHECK (capacity >= 0),
    equipment       text[] NOT NULL DEFAULT '{}',
    auto_release    boolean NOT NULL DEFAULT true,
    checkin_before  interval NOT NULL DEFAULT '10 minutes',
    checkin_after   interval NOT NULL DEFAULT '10 minutes'
);
CREATE INDEX rooms_site ON rooms (site_id);

CREATE TABLE lobbies (
    id       text PRIMARY KEY,
    site_id  text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name     text NOT NULL DEFAULT ''
);
CREATE INDEX lobbies_site ON lobbies (site_id);

CREATE TABLE desks (
    id         text PRIMARY KEY,
    site_id    text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name       text NOT NULL,
    floor      integer NOT NULL DEFAULT 0,
    zone       text NOT NULL DEFAULT '',
    equipment  text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX desks_site ON desks (site_id);

CREATE TABLE people (
    id              text PRIMARY KEY,
    site_id         text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name            text NOT NULL,
    email           text NOT NULL DEFAULT '',
    title           text NOT NULL DEFAULT '',
    department      text NOT NULL DEFAULT '',
    phone           text NOT NULL DEFAULT '',
    photo           text,
    role            text NOT NULL DEFAULT 'staff'
                    CHECK (role IN ('staff', 'admin', 'reception', 'technician')),
    visibility      text NOT NULL DEFAULT 'visible'
                    CHECK (visibility IN ('visible', 'invisible')),
    last_active_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX people_site ON people (site_id);
CREATE INDEX people_last_active ON people (last_active_at);

-- Today's calendar per room, as central's calendar sync (Microsoft 365 / Google) or the
-- demo seed writes it. Writers lock the room row FOR UPDATE; device bookings lock it
-- FOR SHARE, so a booking and a meeting for the same room never both commit over the
-- same time (see central/appliers/bookings.py).
CREATE TABLE meetings (
    id            text PRIMARY KEY,
    room_id       text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    during        tstzrange NOT NULL CHECK (NOT isempty(during)
                                            AND NOT lower_inf(during)
                                            AND NOT upper_inf(during)),
    subject       text NOT NULL DEFAULT '',
    organiser_id  text REFERENCES people (id) ON DELETE SET NULL,
    attendee_ids  text[] NOT NULL DEFAULT '{}',
    private       boolean NOT NULL DEFAULT false,
    released_at   timestamptz
);
CREATE INDEX meetings_room_during ON meetings USING gist (room_id, during);
