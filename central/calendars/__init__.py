"""Central's calendar connectors: room calendars read into ``meetings``, device bookings
written back as events. See :mod:`central.calendars.base` for the connector interface,
:mod:`central.calendars.sync`, :mod:`central.calendars.writeback` and
:mod:`central.calendars.schedule` for what ``tapin central serve`` runs.

Importing this package imports no connector library (the appliers use
:mod:`central.calendars.outbox`)."""
