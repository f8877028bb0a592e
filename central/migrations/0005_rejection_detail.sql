-- A rejection's machine-readable detail (sync.events: conflict times, state reasons), kept
-- with the ledger row so a resend of a rejected event gets the same words on the device.
ALTER TABLE applied_events ADD COLUMN detail jsonb;
