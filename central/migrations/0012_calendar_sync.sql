-- Calendar sync (central/calendars): which calendar each room reads, what central last saw
-- there, and the write-back outbox that turns device bookings into calendar events.

-- One row per room that has a calendar. Filled from the calendar settings file at each
-- sync (central/calendars/settings.py). ``sync_token`` is the connector's opaque cursor
-- (RFC 6578 sync token, ctag, Graph delta link) for the window starting ``window_start``;
-- a new day starts with a full read.
CREATE TABLE room_calendars (
    room_id       text PRIMARY KEY REFERENCES rooms (id) ON DELETE CASCADE,
    calendar_url  text NOT NULL,
    sync_token    text,
    window_start  date,
    synced_at     timestamptz,
    error         text
);

-- The calendar items (CalDAV resources, Graph events) central holds for a room, with the
-- version it read; the meetings expanded from an item carry its key.
CREATE TABLE calendar_items (
    room_id  text NOT NULL REFERENCES room_calendars (room_id) ON DELETE CASCADE,
    key      text NOT NULL,
    etag     text NOT NULL DEFAULT '',
    PRIMARY KEY (room_id, key)
);

ALTER TABLE meetings
    ADD COLUMN calendar_key   text,
    ADD COLUMN calendar_uid   text,
    ADD COLUMN recurrence_id  timestamptz;
CREATE INDEX meetings_calendar_key ON meetings (room_id, calendar_key)
    WHERE calendar_key IS NOT NULL;

-- Write-back outbox: one row per room booking of a room with a calendar. Any change to
-- the booking sets ``pending``; the worker makes the calendar event match the booking
-- (create, move its end, delete), retrying with backoff. ``written``: an event exists.
-- ``version`` counts the booking's changes, so one made while the worker writes is not lost.
CREATE TABLE calendar_writebacks (
    booking_id  text PRIMARY KEY REFERENCES bookings (id) ON DELETE CASCADE,
    room_id     text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    pending     boolean NOT NULL DEFAULT true,
    version     integer NOT NULL DEFAULT 1,
    due_at      timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0,
    written     boolean NOT NULL DEFAULT false,
    etag        text,
    outcome     text CHECK (outcome IN ('written', 'deleted', 'withdrawn')),
    reason      text,
    error       text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calendar_writebacks_due ON calendar_writebacks (due_at) WHERE pending;
