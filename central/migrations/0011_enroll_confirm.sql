-- Enrollment is confirmed: a device stays pending (its code reserved for its key) until it
-- proves it stored its identity, by POST /v1/enroll/confirm signed with its key or by any
-- authenticated request (which sets last_seen_at). A pending device may repeat
-- POST /v1/enroll with the same code and key for a short time and gets a fresh token; a
-- device pending past that time no longer holds its code: another key may take it.
-- Devices enrolled before this migration have used their credentials: confirmed.
ALTER TABLE devices ADD COLUMN confirmed_at timestamptz;
UPDATE devices SET confirmed_at = coalesce(last_seen_at, enrolled_at);
