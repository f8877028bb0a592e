"""Write-back: device bookings become events in the room's calendar, and follow the booking.

The outbox (``calendar_writebacks``, filled by the appliers through
:func:`central.calendars.outbox.enqueue_writebacks`) holds one row per room booking of a
room with a calendar. :func:`drain_writebacks` claims due rows (``FOR UPDATE SKIP LOCKED``,
then a lease, so several ``serve`` processes never write the same booking at once) and
makes the calendar match the booking as it is now:

- active or ended: one event with UID ``tapin-booking-<booking id>`` (so a retry never
  makes a second one), from the booking's start to its end (an extend moves the end, an
  early end cuts it); organiser the booker's email when the directory has one, else none
  (the room's own calendar is then the organiser);
- released (ended before it began, a no-show release): the event is deleted.

**The calendar wins a tie.** Before the first write the worker reads the slot from the
calendar server (not central's copy); after the write it reads it again. Another event
there (made in Outlook or Google a moment before, or at the same moment) withdraws the
booking: its event is deleted, the booking is set ``released`` and the outbox row keeps
the reason (``outcome = 'withdrawn'``). The device learns it through its calendar
snapshot: the booking comes back with status ``released`` and ``withdrawn:
"calendar_conflict"`` (:func:`central.snapshots.calendar`; the panel says so), then
the calendar's meeting once the next sync brings it (a sealed event's answer has been
sent by then, so the device is told by the snapshot, not by a second answer).

Failures (network, server, credentials) are retried with exponential backoff and
jitter, capped at :data:`MAX_BACKOFF`; a row is never dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from psycopg_pool import AsyncConnectionPool

from central.calendars.base import (
    CalendarEvent,
    Connector,
    ConnectorError,
    PreconditionFailed,
    booking_uid,
)

__all__ = ["FIRST_BACKOFF", "LEASE", "MAX_BACKOFF", "WritebackReport", "drain_writebacks"]

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
FIRST_BACKOFF = timedelta(seconds=5)
MAX_BACKOFF = timedelta(minutes=10)
BATCH = 20
DEFAULT_SUBJECT = "Booked on the room panel"

_CLAIM = """
UPDATE calendar_writebacks w SET due_at = now() + %(lease)s, attempts = w.attempts + 1
FROM (SELECT booking_id FROM calendar_writebacks
      WHERE pending AND due_at <= now() AND room_id = ANY(%(rooms)s)
      ORDER BY due_at LIMIT %(n)s FOR UPDATE SKIP LOCKED) d
WHERE w.booking_id = d.booking_id
RETURNING w.booking_id
"""

_LOAD = """
SELECT w.booking_id, w.version, w.written, w.etag, w.attempts, b.status, lower(b.during),
       upper(b.during), b.subject, b.private, p.email, rc.calendar_url, r.site_id, s.timezone
FROM calendar_writebacks w
JOIN bookings b ON b.id = w.booking_id
JOIN rooms r ON r.id = w.room_id
JOIN sites s ON s.id = r.site_id
JOIN room_calendars rc ON rc.room_id = w.room_id
LEFT JOIN people p ON p.id = b.booked_by AND p.email <> ''
WHERE w.booking_id = ANY(%s)
"""


@dataclass(slots=True)
class WritebackReport:
    written: int = 0
    deleted: int = 0
    withdrawn: int = 0
    retrying: int = 0

    @property
    def handled(self) -> int:
        return self.written + self.deleted + self.withdrawn + self.retrying


@dataclass(frozen=True, slots=True)
class _Row:
    booking_id: str
    version: int
    written: bool
    etag: str | None
    attempts: int
    status: str
    start: datetime
    end: datetime
    subject: str
    private: bool
    email: str | None
    calendar: str
    site_id: str
    zone: ZoneInfo

    @property
    def event(self) -> CalendarEvent:
        return CalendarEvent(
            uid=booking_uid(self.booking_id),
            start=self.start,
            end=self.end,
            subject=self.subject or DEFAULT_SUBJECT,
            organiser_email=self.email.lower() if self.email else None,
            private=self.private,
        )


def backoff(attempts: int) -> timedelta:
    """The wait before attempt ``attempts + 1``: doubling from :data:`FIRST_BACKOFF`,
    capped at :data:`MAX_BACKOFF`, with ±20 % jitter."""
    base = min(FIRST_BACKOFF * 2 ** max(0, attempts - 1), MAX_BACKOFF)
    return base * random.uniform(0.8, 1.2)


def _clashes(connector: Connector, row: _Row) -> list[CalendarEvent]:
    """The calendar's events over the booking's time now, other than the booking's own."""
    found = connector.events_between(row.calendar, row.start, row.end, row.zone)
    uid = booking_uid(row.booking_id)
    return sorted((e for e in found if e.uid != uid), key=lambda e: e.start)


def _reason(clash: CalendarEvent, zone: ZoneInfo) -> str:
    start, end = clash.start.astimezone(zone), clash.end.astimezone(zone)
    return f"the room was booked in the calendar from {start:%H:%M} to {end:%H:%M}"


def _write(connector: Connector, row: _Row) -> tuple[str, str | None, str | None]:
    """The blocking part for one booking: ``(outcome, etag, reason)``. Raises
    :class:`ConnectorError`."""
    if row.status == "released":
        if row.written:
            connector.delete_event(row.calendar, booking_uid(row.booking_id), etag=None)
        return "deleted", None, None
    event = row.event
    if not row.written:
        clash = _clashes(connector, row)
        if clash:
            return "withdrawn", None, _reason(clash[0], row.zone)
        try:
            etag = connector.put_event(row.calendar, event, etag=None, create=True)
        except PreconditionFailed:  # ours, from an attempt whose answer was lost
            etag = connector.put_event(row.calendar, event, etag=None, create=False)
        clash = _clashes(connector, row)
        if clash:  # made at the same moment as ours: the calendar's wins
            connector.delete_event(row.calendar, event.uid, etag=None)
            return "withdrawn", None, _reason(clash[0], row.zone)
        return "written", etag, None
    # edited in the calendar since central wrote it (412): the calendar wins, never
    # overwritten; retried once the next sync has adopted the edit (central.calendars.sync)
    etag = connector.put_event(row.calendar, event, etag=row.etag or None, create=False)
    return "written", etag, None


async def _finish(
    pool: AsyncConnectionPool, row: _Row, outcome: str, etag: str | None, reason: str | None
) -> None:
    async with pool.connection() as conn, conn.transaction():
        if outcome == "withdrawn":
            await conn.execute(
                "UPDATE bookings SET status = 'released', ended_at = coalesce(ended_at, now())"
                " WHERE id = %s AND status <> 'released'",
                [row.booking_id],
            )
        await conn.execute(
            "UPDATE calendar_writebacks SET pending = (version <> %(v)s) AND %(o)s <> 'withdrawn',"
            " due_at = now(), attempts = CASE WHEN version <> %(v)s THEN 0 ELSE attempts END,"
            " written = %(written)s, etag = %(etag)s, outcome = %(o)s, reason = %(r)s,"
            " error = NULL, updated_at = now() WHERE booking_id = %(id)s",
            {
                "v": row.version,
                "o": outcome,
                "written": outcome == "written",
                "etag": etag,
                "r": reason,
                "id": row.booking_id,
            },
        )


async def _retry(pool: AsyncConnectionPool, row: _Row, error: str) -> None:
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "UPDATE calendar_writebacks SET due_at = now() + %s, error = %s, updated_at = now()"
            " WHERE booking_id = %s",
            [backoff(row.attempts), error[:200], row.booking_id],
        )


async def drain_writebacks(
    pool: AsyncConnectionPool,
    connectors: Mapping[str, Connector],
    rooms: Mapping[str, str],
) -> WritebackReport:
    """Write back the due bookings of ``rooms`` (room id -> site id) with the site's
    connector from ``connectors``; due is by the database's clock. Raises what the
    database raises (connector failures are retried later, never raised)."""
    report = WritebackReport()
    if not rooms:
        return report
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(_CLAIM, {"lease": LEASE, "rooms": sorted(rooms), "n": BATCH})
        claimed = [r[0] for r in await cur.fetchall()]
        if not claimed:
            return report
        cur = await conn.execute(_LOAD, [claimed])
        rows = [_Row(*[*r[:13], ZoneInfo(r[13])]) for r in await cur.fetchall()]
    for row in rows:
        connector = connectors.get(row.site_id)
        if connector is None:
            continue  # the lease runs out; another process with the site's settings takes it
        try:
            outcome, etag, reason = await asyncio.to_thread(_write, connector, row)
        except ConnectorError as exc:
            report.retrying += 1
            log.warning("calendar write-back of booking %s: %s (retrying)", row.booking_id, exc)
            await _retry(pool, row, str(exc))
            continue
        await _finish(pool, row, outcome, etag, reason)
        if outcome == "withdrawn":
            report.withdrawn += 1
            log.info("booking %s withdrawn: the calendar had the room first", row.booking_id)
        elif outcome == "deleted":
            report.deleted += 1
        else:
            report.written += 1
    return report
