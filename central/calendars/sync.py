"""Calendar sync: each room's calendar into the ``meetings`` table, incrementally.

For every room of a site that has a calendar (``[sites.S.rooms]`` in the calendar
settings, kept in ``room_calendars``), :func:`sync_site` asks the site's connector what
changed since the stored state and writes the occurrences that overlap the window
(site today − 1 day … today + 31 days) as meetings. A meeting's id is derived from the
room, the event's UID and its RECURRENCE-ID, so it is the same across syncs: a check-in or
a release on it stays attached when the meeting moves. Each room is written in one
transaction holding the room row ``FOR UPDATE`` (device bookings hold it ``FOR SHARE``; see
:mod:`central.appliers.bookings`), after the connector's network work is done.

A new day starts with a full read of the room's calendar (the window moved, so every
recurring series is expanded again); within a day only what changed is read. Meetings
before the window are never touched here (retention removes them after 90 days).
Organiser and attendee emails become directory people of the site (by email, case
insensitive); an unknown email, or a person the directory sync made inactive, is no one
(organiser NULL). The events central itself wrote for device bookings (UID
``tapin-booking-…``) are not meetings: the booking is.

**The calendar is the source of truth for central's own events too.** When a sync reads
one of them with an ETag other than the one the write-back stored, someone edited it in
the calendar system after central wrote it (Outlook, Google, a room delegate). If its time
changed, central adopts the new time as the booking's (so the panel follows, and the
write-back has nothing to write back); if the booking can no longer hold there (another
booking or meeting of the room has that time), central withdraws it with the reason, as
the write-back does for a conflict at creation. The new ETag is stored either way, so the
write-back never writes its old version over the edit.

Rooms are read concurrently: one room per connector passed (``sync_site`` takes one
connector or several — :func:`connectors_for` makes :data:`ROOMS_AT_ONCE` of them), each
room's network work in a thread of its own, each room still written in its own
transaction.

One process syncs a site at a time (a PostgreSQL advisory lock per site), whatever the
number of ``serve`` workers and technicians running ``calendar sync --once``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg_pool import AsyncConnectionPool

from central.calendars.base import (
    BOOKING_UID_PREFIX,
    CalendarEvent,
    Connector,
    ConnectorError,
    FetchResult,
    SyncState,
    Window,
)
from central.calendars.settings import SiteCalendars
from central.errors import SettingsError

__all__ = [
    "ROOMS_AT_ONCE",
    "WINDOW_AFTER",
    "WINDOW_BEFORE",
    "SyncReport",
    "connectors_for",
    "meeting_id",
    "sync_site",
    "window_for",
]

log = logging.getLogger(__name__)

WINDOW_BEFORE = timedelta(days=1)
WINDOW_AFTER = timedelta(days=31)
_LOCK = "tapin-calendar-sync:"
_SEP = "\x1f"  # between attendee ids in one text (ids never hold control characters)
ROOMS_AT_ONCE = 8
"""Rooms read at once in one site's sync (the default of :func:`connectors_for`)."""


@dataclass(slots=True)
class SyncReport:
    site_id: str
    rooms: int = 0
    """Rooms whose calendar was read and written."""
    changed: int = 0
    """Meetings added or changed."""
    removed: int = 0
    """Meetings deleted (cancelled, removed, moved out of the window)."""
    requests: int = 0
    full: int = 0
    """Rooms read in full (first sync, a new day, an expired token)."""
    failed: dict[str, str] = field(default_factory=dict)
    """Room id -> what went wrong (no credentials, no personal data)."""
    skipped: bool = False
    """Another process was syncing this site: nothing done."""
    adopted: int = 0
    """Bookings whose event was moved in the calendar: the booking took the new time."""
    withdrawn: int = 0
    """Bookings whose event was moved in the calendar onto a time they cannot hold."""


def connectors_for(
    make: Callable[[], Connector], rooms: int, at_once: int = ROOMS_AT_ONCE
) -> list[Connector]:
    """``min(at_once, rooms)`` connectors (at least one) from ``make``, for
    :func:`sync_site` to read that many rooms at once. Raises what ``make`` raises and
    :class:`ValueError` for ``at_once`` below 1."""
    if at_once < 1:
        raise ValueError("rooms at once must be 1 or more")
    return [make() for _ in range(max(1, min(at_once, rooms)))]


def meeting_id(room_id: str, uid: str, recurrence_id: datetime | None) -> str:
    """The stable meeting id of one occurrence in one room."""
    rid = recurrence_id.isoformat() if recurrence_id is not None else ""
    digest = hashlib.sha256(f"{room_id}\n{uid}\n{rid}".encode()).hexdigest()
    return f"cal-{digest[:32]}"


def window_for(zone: ZoneInfo, now: datetime) -> Window:
    """The sync window around ``now``'s day in the site's ``zone``."""
    day = now.astimezone(zone).date()
    start = datetime.combine(day - WINDOW_BEFORE, time(0), tzinfo=zone)
    end = datetime.combine(day + WINDOW_AFTER, time(0), tzinfo=zone)
    return Window(start, end, zone)


async def _site_zone(conn: psycopg.AsyncConnection, site_id: str) -> ZoneInfo:
    cur = await conn.execute("SELECT timezone FROM sites WHERE id = %s", [site_id])
    row = await cur.fetchone()
    if row is None:
        raise SettingsError(f"calendar settings name site {site_id!r}, which central does not have")
    return ZoneInfo(row[0])


async def _map_rooms(conn: psycopg.AsyncConnection, site: SiteCalendars) -> list[str]:
    """Keep ``room_calendars`` as the settings say; return the rooms to sync."""
    cur = await conn.execute("SELECT id FROM rooms WHERE site_id = %s", [site.site_id])
    known = {row[0] for row in await cur.fetchall()}
    unknown = sorted(set(site.rooms) - known)
    if unknown:
        raise SettingsError(
            f"calendar settings for site {site.site_id} name unknown rooms: {', '.join(unknown)}"
        )
    async with conn.transaction():
        gone = await conn.execute(
            "DELETE FROM room_calendars WHERE room_id = ANY(%s) AND NOT room_id = ANY(%s)"
            " RETURNING room_id",
            [sorted(known), sorted(site.rooms)],
        )
        dropped = [row[0] for row in await gone.fetchall()]
        if dropped:
            await conn.execute(
                "DELETE FROM meetings WHERE room_id = ANY(%s) AND calendar_key IS NOT NULL",
                [dropped],
            )
        rooms, urls = zip(*sorted(site.rooms.items()), strict=True)
        # a room pointed at another calendar starts again from nothing
        await conn.execute(
            "INSERT INTO room_calendars (room_id, calendar_url)"
            " SELECT * FROM unnest(%s::text[], %s::text[])"
            " ON CONFLICT (room_id) DO UPDATE SET calendar_url = EXCLUDED.calendar_url,"
            " sync_token = NULL, window_start = NULL"
            " WHERE room_calendars.calendar_url <> EXCLUDED.calendar_url",
            [list(rooms), list(urls)],
        )
    return sorted(site.rooms)


async def _state(
    conn: psycopg.AsyncConnection, room_id: str, window: Window
) -> tuple[str, SyncState]:
    cur = await conn.execute(
        "SELECT calendar_url, sync_token, window_start FROM room_calendars WHERE room_id = %s",
        [room_id],
    )
    row = await cur.fetchone()
    assert row is not None  # mapped just before
    url, token, start = row
    if token is None or start != window.start.date():
        return url, SyncState()
    cur = await conn.execute("SELECT key, etag FROM calendar_items WHERE room_id = %s", [room_id])
    return url, SyncState(token, {k: e for k, e in await cur.fetchall()})


_UPSERT = """
INSERT INTO meetings (id, room_id, during, subject, organiser_id, attendee_ids, private,
                      calendar_key, calendar_uid, recurrence_id)
SELECT i.id, %(room)s, tstzrange(i.s, i.e), i.subject, i.org,
       string_to_array(i.att, %(sep)s), i.private, i.key, i.uid, i.rid
FROM unnest(%(ids)s::text[], %(s)s::timestamptz[], %(e)s::timestamptz[], %(subj)s::text[],
            %(org)s::text[], %(att)s::text[], %(private)s::boolean[], %(keys)s::text[],
            %(uids)s::text[], %(rids)s::timestamptz[])
     AS i(id, s, e, subject, org, att, private, key, uid, rid)
ON CONFLICT (id) DO UPDATE SET
    during = EXCLUDED.during, subject = EXCLUDED.subject, organiser_id = EXCLUDED.organiser_id,
    attendee_ids = EXCLUDED.attendee_ids, private = EXCLUDED.private,
    calendar_key = EXCLUDED.calendar_key, calendar_uid = EXCLUDED.calendar_uid,
    recurrence_id = EXCLUDED.recurrence_id
WHERE (meetings.during, meetings.subject, meetings.organiser_id, meetings.attendee_ids,
       meetings.private, meetings.calendar_key)
      IS DISTINCT FROM (EXCLUDED.during, EXCLUDED.subject, EXCLUDED.organiser_id,
                        EXCLUDED.attendee_ids, EXCLUDED.private, EXCLUDED.calendar_key)
RETURNING id
"""


async def _people(
    conn: psycopg.AsyncConnection, site_id: str, events: Sequence[CalendarEvent]
) -> dict[str, str]:
    emails = {e.organiser_email for e in events if e.organiser_email}
    emails.update(a for e in events for a in e.attendee_emails)
    if not emails:
        return {}
    cur = await conn.execute(
        "SELECT DISTINCT ON (lower(email)) lower(email), id FROM people"
        " WHERE site_id = %s AND lower(email) = ANY(%s) AND inactive_since IS NULL"
        " ORDER BY lower(email), id",
        [site_id, sorted(emails)],
    )
    return {email: pid for email, pid in await cur.fetchall()}


def _known(emails: Sequence[str], people: dict[str, str]) -> list[str]:
    return list(dict.fromkeys(people[a] for a in emails if a in people))


_OWNED = """
SELECT w.booking_id, w.etag, b.status, lower(b.during), upper(b.during)
FROM calendar_writebacks w JOIN bookings b ON b.id = w.booking_id
WHERE w.room_id = %s AND w.booking_id = ANY(%s) AND w.written AND coalesce(w.etag, '') <> ''
  AND NOT (w.pending AND w.error IS NULL)
"""
# a write queued or in flight that has not failed is left to finish first (the etag read may
# be its own, not stored yet); one refused by the edit (412) has its error set and is followed

_HELD = """
SELECT EXISTS (SELECT 1 FROM bookings WHERE room_id = %(room)s AND id <> %(id)s
               AND status <> 'released' AND during && tstzrange(%(s)s, %(e)s))
    OR EXISTS (SELECT 1 FROM meetings WHERE room_id = %(room)s AND released_at IS NULL
               AND during && tstzrange(%(s)s, %(e)s))
"""


async def _follow_owned(
    conn: psycopg.AsyncConnection,
    room_id: str,
    zone: ZoneInfo,
    owned: dict[str, tuple[str, CalendarEvent]],
    report: SyncReport,
) -> None:
    """Central's own events (booking id -> (etag, event)) edited in the calendar since
    central wrote them: the booking adopts the event's time, or is withdrawn."""
    cur = await conn.execute(_OWNED, [room_id, sorted(owned)])
    for booking_id, etag, status, start, end in await cur.fetchall():
        new_etag, event = owned[booking_id]
        if new_etag == etag:
            continue  # central's own version
        moved = (event.start, event.end) != (start, end)
        if status == "active" and moved:
            cur = await conn.execute(
                _HELD, {"room": room_id, "id": booking_id, "s": event.start, "e": event.end}
            )
            row = await cur.fetchone()
            when = f"{event.start.astimezone(zone):%H:%M} to {event.end.astimezone(zone):%H:%M}"
            if row and row[0]:
                await conn.execute(
                    "UPDATE bookings SET status = 'released', ended_at = coalesce(ended_at, now())"
                    " WHERE id = %s",
                    [booking_id],
                )
                await conn.execute(
                    "UPDATE calendar_writebacks SET etag = %s, pending = false,"
                    " outcome = 'withdrawn', reason = %s, updated_at = now()"
                    " WHERE booking_id = %s",
                    [
                        new_etag,
                        f"moved in the calendar to {when}, a time the room is taken",
                        booking_id,
                    ],
                )
                report.withdrawn += 1
                log.info(
                    "booking %s withdrawn: moved in the calendar onto a taken time", booking_id
                )
                continue
            await conn.execute(
                "UPDATE bookings SET during = tstzrange(%s, %s) WHERE id = %s",
                [event.start, event.end, booking_id],
            )
            report.adopted += 1
            log.info("booking %s moved in the calendar: adopted", booking_id)
        await conn.execute(
            "UPDATE calendar_writebacks SET etag = %s, updated_at = now() WHERE booking_id = %s",
            [new_etag, booking_id],
        )


async def _write(
    conn: psycopg.AsyncConnection,
    site_id: str,
    room_id: str,
    window: Window,
    result: FetchResult,
    report: SyncReport,
) -> None:
    span = (window.start, window.end)
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM rooms WHERE id = %s FOR UPDATE", [room_id])
        events = [
            (item.key, e)
            for item in result.changed
            for e in item.events
            if not e.uid.startswith(BOOKING_UID_PREFIX)
        ]
        owned = {
            e.uid.removeprefix(BOOKING_UID_PREFIX): (item.etag, e)
            for item in result.changed
            for e in item.events
            if e.uid.startswith(BOOKING_UID_PREFIX) and e.recurrence_id is None
        }
        people = await _people(conn, site_id, [e for _, e in events])
        rows = {meeting_id(room_id, e.uid, e.recurrence_id): (key, e) for key, e in events}
        ids = sorted(rows)
        params: dict[str, Any] = {
            "room": room_id,
            "sep": _SEP,
            "ids": ids,
            "s": [rows[i][1].start for i in ids],
            "e": [rows[i][1].end for i in ids],
            "subj": [rows[i][1].subject for i in ids],
            "org": [people.get(rows[i][1].organiser_email or "") for i in ids],
            "att": [_SEP.join(_known(rows[i][1].attendee_emails, people)) for i in ids],
            "private": [rows[i][1].private for i in ids],
            "keys": [rows[i][0] for i in ids],
            "uids": [rows[i][1].uid for i in ids],
            "rids": [rows[i][1].recurrence_id for i in ids],
        }
        if ids:
            cur = await conn.execute(_UPSERT, params)
            report.changed += len(await cur.fetchall())
        keys = [item.key for item in result.changed]
        # occurrences of a changed item that are no longer in it, and removed items
        gone_sql = (
            "DELETE FROM meetings WHERE room_id = %(room)s AND calendar_key IS NOT NULL"
            " AND during && tstzrange(%(lo)s, %(hi)s) AND NOT id = ANY(%(ids)s) AND "
        )
        where = (
            "NOT calendar_key = ANY(%(keys)s)" if result.full else "calendar_key = ANY(%(gone)s)"
        )
        args = {"room": room_id, "lo": span[0], "hi": span[1], "ids": ids, "keys": keys}
        cur = await conn.execute(gone_sql + where, {**args, "gone": keys + result.removed})
        report.removed += cur.rowcount
        if owned:  # after the meetings: a booking moved onto one of them cannot hold
            await _follow_owned(conn, room_id, window.zone, owned, report)
        if result.full:
            await conn.execute(
                "DELETE FROM calendar_items WHERE room_id = %s AND NOT key = ANY(%s)",
                [room_id, keys],
            )
        elif result.removed:
            await conn.execute(
                "DELETE FROM calendar_items WHERE room_id = %s AND key = ANY(%s)",
                [room_id, result.removed],
            )
        if result.changed:
            await conn.execute(
                "INSERT INTO calendar_items (room_id, key, etag)"
                " SELECT %s, * FROM unnest(%s::text[], %s::text[])"
                " ON CONFLICT (room_id, key) DO UPDATE SET etag = EXCLUDED.etag",
                [room_id, keys, [item.etag for item in result.changed]],
            )
        await conn.execute(
            "UPDATE room_calendars SET sync_token = %s, window_start = %s, synced_at = now(),"
            " error = NULL WHERE room_id = %s",
            [result.token, window.start.date(), room_id],
        )


@dataclass(slots=True)
class _Db:
    """The site sync's one connection (autocommit, holding the advisory lock), used by
    one room at a time: the rooms' network work overlaps, their database work does not
    (it is short, and a pool of one connection must do)."""

    conn: psycopg.AsyncConnection
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)


async def _sync_room(
    db: _Db,
    site: SiteCalendars,
    connector: Connector,
    threads: ThreadPoolExecutor,
    room_id: str,
    window: Window,
    report: SyncReport,
) -> None:
    """One room: its state read, its calendar fetched (the connection free for other
    rooms meanwhile), its meetings written in one transaction."""
    async with db.turn:
        url, state = await _state(db.conn, room_id, window)
    before = connector.requests
    loop = asyncio.get_running_loop()
    try:
        result = await loop.run_in_executor(threads, connector.fetch, url, state, window)
    except ConnectorError as exc:
        report.requests += connector.requests - before
        report.failed[room_id] = str(exc)
        log.warning("calendar sync: room %s: %s", room_id, exc)
        async with db.turn:
            await db.conn.execute(
                "UPDATE room_calendars SET error = %s WHERE room_id = %s",
                [str(exc)[:200], room_id],
            )
        return
    report.requests += result.requests
    report.full += int(result.full)
    async with db.turn:
        await _write(db.conn, site.site_id, room_id, window, result, report)
    report.rooms += 1


async def _sync_rooms(
    db: _Db,
    site: SiteCalendars,
    connectors: Sequence[Connector],
    rooms: Sequence[str],
    window: Window,
    report: SyncReport,
) -> None:
    """Every room, as many at once as there are connectors (each used by one room at a
    time). Raises the first error a room raised (the others are finished first)."""
    free: asyncio.Queue[Connector] = asyncio.Queue()
    for connector in connectors:
        free.put_nowait(connector)

    async def one(room_id: str) -> None:
        connector = await free.get()
        try:
            await _sync_room(db, site, connector, threads, room_id, window, report)
        finally:
            free.put_nowait(connector)

    with ThreadPoolExecutor(len(connectors), thread_name_prefix="calendar-sync") as threads:
        done = await asyncio.gather(*(one(room) for room in rooms), return_exceptions=True)
    for outcome in done:
        if isinstance(outcome, BaseException):
            raise outcome


async def sync_site(
    pool: AsyncConnectionPool,
    site: SiteCalendars,
    connector: Connector | Sequence[Connector],
    now: datetime,
) -> SyncReport:
    """One sync of every room calendar of ``site`` at ``now`` (aware), as many rooms at
    once as ``connector`` holds connectors (one connector: one room after another).

    A room whose calendar cannot be read is reported in ``failed`` and tried again next
    time; the others go on. Raises :class:`SettingsError` when the settings name a site or
    a room central does not have, and what the database raises.
    """
    connectors = [connector] if not isinstance(connector, Sequence) else list(connector)
    if not connectors:
        raise ValueError("sync_site needs a connector")
    report = SyncReport(site.site_id)
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            cur = await conn.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s))", [_LOCK + site.site_id]
            )
            row = await cur.fetchone()
            if not (row and row[0]):
                report.skipped = True
                return report
            try:
                window = window_for(await _site_zone(conn, site.site_id), now)
                rooms = await _map_rooms(conn, site)
                await _sync_rooms(_Db(conn), site, connectors, rooms, window, report)
            finally:
                await conn.execute(
                    "SELECT pg_advisory_unlock(hashtext(%s))", [_LOCK + site.site_id]
                )
        finally:
            await conn.set_autocommit(False)
    log.info(
        "calendar sync %s: %d rooms, %d meetings changed, %d removed, %d requests, %d failed,"
        " %d bookings moved in the calendar, %d withdrawn",
        site.site_id,
        report.rooms,
        report.changed,
        report.removed,
        report.requests,
        len(report.failed),
        report.adopted,
        report.withdrawn,
    )
    return report
