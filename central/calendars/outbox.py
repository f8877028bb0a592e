"""The write-back outbox's one entry point for the appliers: "this booking changed".

Light on purpose (no connector imported): :mod:`central.appliers` call
:func:`enqueue_writebacks` in the transaction that changes a room booking; only bookings of
rooms that have a calendar (``room_calendars``) get a row. The worker
(:mod:`central.calendars.writeback`) makes the calendar match.
"""

from __future__ import annotations

from collections.abc import Collection

import psycopg

__all__ = ["enqueue_writebacks"]

_ENQUEUE = """
INSERT INTO calendar_writebacks (booking_id, room_id)
SELECT b.id, b.room_id FROM bookings b JOIN room_calendars rc ON rc.room_id = b.room_id
WHERE b.id = ANY(%s)
ON CONFLICT (booking_id) DO UPDATE SET
    pending = true, version = calendar_writebacks.version + 1, due_at = now(), attempts = 0,
    updated_at = now()
WHERE calendar_writebacks.outcome IS DISTINCT FROM 'withdrawn'
"""


async def enqueue_writebacks(conn: psycopg.AsyncConnection, booking_ids: Collection[str]) -> None:
    """Queue the calendar write-back of these bookings (desk bookings are ignored)."""
    if booking_ids:
        await conn.execute(_ENQUEUE, [sorted(booking_ids)])
