-- Events are bound to the device that sealed them (sync.wire AD_BOUND): a copy uploaded by
-- another device does not open. Devices sealed unbound events before they were upgraded;
-- those stay valid, per device, when made before the device's first bound event
-- (binds_since), so nothing queued before an upgrade is lost whatever order central and
-- the devices are upgraded in. Devices enrolled from now on bind from the start.
ALTER TABLE devices ADD COLUMN binds_since timestamptz;
