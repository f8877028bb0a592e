-- Directory sync (central/directory_sync.py): people read from Microsoft Graph or a CSV
-- export. ``source`` + ``source_id`` name a person in the system they came from (Graph's
-- user object id, the CSV's email), so a sync finds them again whatever their Tapin id.
-- Someone who vanishes from the source (deleted, disabled, left out of the CSV) gets
-- ``inactive_since``: never in a snapshot again, purged by retention 365 days later.
ALTER TABLE people
    ADD COLUMN source          text,
    ADD COLUMN source_id       text,
    ADD COLUMN inactive_since  timestamptz;
CREATE UNIQUE INDEX people_source ON people (site_id, source, source_id)
    WHERE source IS NOT NULL;
CREATE INDEX people_inactive ON people (inactive_since) WHERE inactive_since IS NOT NULL;

-- One row per site whose directory is synced: Graph's users delta link (NULL: read all).
CREATE TABLE directory_sources (
    site_id     text PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    source      text NOT NULL CHECK (source IN ('graph', 'csv')),
    delta_link  text,
    synced_at   timestamptz,
    error       text
);
