-- Room policies and badge ids the panel already uses, now carried by central.
--
-- The empty-room timings go to devices in whole minutes (``empty_offer_minutes``,
-- ``empty_release_minutes`` in the rooms snapshot), so they are stored as whole minutes
-- of at most a day: a value the device cannot read would make it refuse the site's
-- whole rooms snapshot.
ALTER TABLE rooms
    ADD COLUMN ask_booker        boolean NOT NULL DEFAULT false,
    ADD COLUMN presence_checkin  boolean NOT NULL DEFAULT false,
    ADD COLUMN empty_offer       interval NOT NULL DEFAULT '10 minutes',
    ADD COLUMN empty_release     interval NOT NULL DEFAULT '20 minutes',
    ADD CONSTRAINT rooms_empty_timing CHECK (
        empty_offer > interval '0'
        AND empty_release > empty_offer
        AND empty_release <= interval '1 day'
        AND date_trunc('minute', empty_offer) = empty_offer
        AND date_trunc('minute', empty_release) = empty_release
    );

-- What the USB badge reader types for a person's badge: an identifier, unique per site.
-- Only the directory snapshot carries it, and only for visible people.
ALTER TABLE people
    ADD COLUMN badge_id text
        CONSTRAINT people_badge_id_shape CHECK (length(badge_id) BETWEEN 1 AND 64);
CREATE UNIQUE INDEX people_site_badge ON people (site_id, badge_id) WHERE badge_id IS NOT NULL;
