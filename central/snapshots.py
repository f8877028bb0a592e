"""What devices download: rooms, desks, directory, a room's calendar, free/busy.

Each snapshot is a JSON document built from the device's own site only, with a strong
ETag over its canonical bytes. Rules that come from the privacy policy live here:

- the directory holds visible people only, and only display fields (no email) plus the
  badge id the panel's badge reader matches (so an invisible person's badge never
  leaves central);
- a private meeting has no subject, organiser or attendees;
- an invisible person never appears, not even as an organiser or attendee id;
- a lobby kiosk reads free/busy (``availability``), never room calendars;
- only lobby kiosks read ``kiosk`` (the lobby's visitor setup) and ``visitors`` (today's
  invites with masked emails and the QR secret's hash only, the visitors signed in now);
  a host who is not visible is never named there;
- only lobby kiosks read ``floors`` (the site's floor plans) and ``desk_bookings``
  (today's desk bookings): a private booking or one by a person who is not visible
  names nobody (``person_id`` null).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from central.auth import DeviceContext
from central.errors import BadRequest, Forbidden
from central.floors import floors_document
from central.notify.addresses import mask_email
from central.visitor_setup import current_terms, visitor_types

__all__ = [
    "Snapshot",
    "availability",
    "calendar",
    "desk_bookings",
    "desks",
    "directory",
    "floors",
    "kiosk",
    "rooms",
    "site_day",
    "visitors",
]


@dataclass(frozen=True, slots=True)
class Snapshot:
    body: bytes
    etag: str

    @classmethod
    def of(cls, document: dict[str, Any]) -> Snapshot:
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(body, f'"{hashlib.sha256(body).hexdigest()[:40]}"')


def site_day(zone: ZoneInfo, now: datetime) -> tuple[date, datetime, datetime]:
    """The site's current calendar day and its bounds as aware datetimes."""
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return day, start, end


def _iso(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat()


async def _rows(
    conn: psycopg.AsyncConnection, sql: str, params: Sequence[Any] | Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    cur = await conn.execute(sql, params)
    return await cur.fetchall()


async def _site(conn: psycopg.AsyncConnection, device: DeviceContext) -> dict[str, Any]:
    rows = await _rows(conn, "SELECT name FROM sites WHERE id = %s", [device.site_id])
    return {"id": device.site_id, "name": rows[0][0], "timezone": device.timezone.key}


async def rooms(conn: psycopg.AsyncConnection, device: DeviceContext) -> Snapshot:
    rows = await _rows(
        conn,
        "SELECT id, name, building, floor, capacity, equipment, auto_release,"
        " extract(epoch FROM checkin_before)::int / 60,"
        " extract(epoch FROM checkin_after)::int / 60,"
        " ask_booker, presence_checkin,"
        " extract(epoch FROM empty_offer)::int / 60, extract(epoch FROM empty_release)::int / 60"
        " FROM rooms WHERE site_id = %s ORDER BY id",
        [device.site_id],
    )
    keys = (
        "id",
        "name",
        "building",
        "floor",
        "capacity",
        "equipment",
        "auto_release",
        "checkin_before_minutes",
        "checkin_after_minutes",
        "ask_booker",
        "presence_checkin",
        "empty_offer_minutes",
        "empty_release_minutes",
    )
    lobbies = await _rows(
        conn, "SELECT id, name FROM lobbies WHERE site_id = %s ORDER BY id", [device.site_id]
    )
    return Snapshot.of(
        {
            "site": await _site(conn, device),
            "rooms": [dict(zip(keys, row, strict=True)) for row in rows],
            "lobbies": [{"id": i, "name": n} for i, n in lobbies],
        }
    )


async def desks(conn: psycopg.AsyncConnection, device: DeviceContext) -> Snapshot:
    rows = await _rows(
        conn,
        "SELECT id, name, floor, zone, equipment, neighbourhood FROM desks WHERE site_id = %s"
        " ORDER BY id",
        [device.site_id],
    )
    keys = ("id", "name", "floor", "zone", "equipment", "neighbourhood")
    return Snapshot.of(
        {"site_id": device.site_id, "desks": [dict(zip(keys, row, strict=True)) for row in rows]}
    )


async def directory(conn: psycopg.AsyncConnection, device: DeviceContext) -> Snapshot:
    rows = await _rows(
        conn,
        "SELECT id, name, title, department, phone, photo, role, badge_id FROM people"
        " WHERE site_id = %s AND visibility = 'visible' AND inactive_since IS NULL ORDER BY id",
        [device.site_id],
    )
    keys = ("id", "name", "title", "department", "phone", "photo", "role", "badge_id")
    return Snapshot.of(
        {"site_id": device.site_id, "people": [dict(zip(keys, row, strict=True)) for row in rows]}
    )


_CALENDAR = """
SELECT m.id, 'calendar', lower(m.during), upper(m.during), m.private,
       CASE WHEN m.private THEN NULL ELSE m.subject END,
       CASE WHEN m.private THEN NULL ELSE o.id END,
       CASE WHEN m.private THEN '{}'::text[] ELSE ARRAY(
           SELECT a FROM unnest(m.attendee_ids) a
           JOIN people p ON p.id = a AND p.visibility = 'visible'
                           AND p.inactive_since IS NULL) END,
       CASE WHEN m.released_at IS NOT NULL THEN 'released'
            WHEN c.id IS NOT NULL THEN 'checked_in' ELSE 'confirmed' END,
       NULL::text
FROM meetings m
LEFT JOIN people o ON o.id = m.organiser_id AND o.visibility = 'visible'
                    AND o.inactive_since IS NULL
LEFT JOIN checkins c ON c.meeting_id = m.id
WHERE m.room_id = %(room)s AND m.during && tstzrange(%(start)s, %(end)s)
UNION ALL
SELECT b.id, 'device', lower(b.during), upper(b.during), false, b.subject, o.id, '{}'::text[],
       CASE WHEN b.status = 'released' THEN 'released'
            WHEN b.status = 'ended' THEN 'ended'
            WHEN c.id IS NOT NULL THEN 'checked_in' ELSE 'confirmed' END,
       CASE WHEN b.status = 'released' AND EXISTS (
           SELECT 1 FROM calendar_writebacks w
           WHERE w.booking_id = b.id AND w.outcome = 'withdrawn') THEN 'calendar_conflict' END
FROM bookings b
LEFT JOIN people o ON o.id = b.booked_by AND o.visibility = 'visible'
                    AND o.inactive_since IS NULL
LEFT JOIN checkins c ON c.booking_id = b.id
WHERE b.room_id = %(room)s AND b.during && tstzrange(%(start)s, %(end)s)
ORDER BY 3, 1
"""


def _check_calendar_scope(device: DeviceContext, room_id: str) -> None:
    if device.scope_kind != "room":
        raise Forbidden(
            "lobby kiosks may not read room calendars; use /v1/snapshot/availability for free/busy"
        )
    if room_id != device.scope_id:
        raise Forbidden(
            f"this device is the panel of room {device.scope_id!r} and may read only its calendar"
        )


async def calendar(
    conn: psycopg.AsyncConnection, device: DeviceContext, room_id: str | None, now: datetime
) -> Snapshot:
    """Today's meetings and device bookings of the device's own room. A device booking
    central withdrew because the room's calendar had an event at the same time comes with
    status ``released`` and ``withdrawn: "calendar_conflict"`` (also one whose event was
    moved in the calendar onto a taken time, :mod:`central.calendars.sync`). A code only:
    nothing of the other event, which may be private.

    Raises :class:`BadRequest` without a room and :class:`Forbidden` for any room but
    the panel's own (a room of another site included).
    """
    if not room_id:
        raise BadRequest("query parameter 'room' is required")
    _check_calendar_scope(device, room_id)
    day, start, end = site_day(device.timezone, now)
    rows = await _rows(conn, _CALENDAR, {"room": room_id, "start": start, "end": end})
    keys = ("id", "source", "start", "end", "private", "subject", "organiser_id", "attendee_ids")
    meetings = []
    for row in rows:
        item = dict(zip(keys, row[:8], strict=True))
        item["start"], item["end"] = _iso(row[2], device.timezone), _iso(row[3], device.timezone)
        item["status"] = row[8]
        if row[9]:  # released by central, and why: a code only (the winner may be private)
            item["withdrawn"] = row[9]
        meetings.append(item)
    return Snapshot.of(
        {
            "site_id": device.site_id,
            "room_id": room_id,
            "day": day.isoformat(),
            "timezone": device.timezone.key,
            "meetings": meetings,
        }
    )


_BUSY = """
SELECT r.id, lower(x.during), upper(x.during)
FROM rooms r
JOIN LATERAL (
    SELECT m.during FROM meetings m
    WHERE m.room_id = r.id AND m.released_at IS NULL AND m.during && tstzrange(%(start)s, %(end)s)
    UNION ALL
    SELECT b.during FROM bookings b
    WHERE b.room_id = r.id AND b.status <> 'released' AND b.during && tstzrange(%(start)s, %(end)s)
) x ON true
WHERE r.site_id = %(site)s
ORDER BY 1, 2, 3
"""


async def availability(
    conn: psycopg.AsyncConnection, device: DeviceContext, now: datetime
) -> Snapshot:
    """Free/busy of every room of the site today: intervals only, no subjects or people."""
    day, start, end = site_day(device.timezone, now)
    params = {"site": device.site_id, "start": start, "end": end}
    busy: dict[str, list[tuple[datetime, datetime]]] = {}
    for room_id, lo, hi in await _rows(conn, _BUSY, params):
        busy.setdefault(room_id, []).append((lo, hi))
    room_ids = await _rows(
        conn, "SELECT id FROM rooms WHERE site_id = %s ORDER BY id", [device.site_id]
    )
    return Snapshot.of(
        {
            "site_id": device.site_id,
            "day": day.isoformat(),
            "timezone": device.timezone.key,
            "rooms": [
                {
                    "id": r,
                    "busy": [
                        {"start": _iso(lo, device.timezone), "end": _iso(hi, device.timezone)}
                        for lo, hi in _merge(busy.get(r, []))
                    ],
                }
                for (r,) in room_ids
            ],
        }
    )


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Join overlapping or touching busy spans (already sorted by start)."""
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _require_kiosk(device: DeviceContext, kind: str) -> None:
    if device.scope_kind != "lobby":
        raise Forbidden(f"only lobby kiosks may read the {kind!r} snapshot")


async def kiosk(conn: psycopg.AsyncConnection, device: DeviceContext) -> Snapshot:
    """The lobby's visitor setup: types and their steps, the current terms, end of day,
    idle time. Raises :class:`Forbidden` for anything but a lobby kiosk."""
    _require_kiosk(device, "kiosk")
    rows = await _rows(
        conn,
        "SELECT s.name, to_char(s.visitors_end_of_day, 'HH24:MI'), s.kiosk_idle_seconds,"
        " coalesce(nullif(l.name, ''), l.id) FROM sites s"
        " JOIN lobbies l ON l.site_id = s.id AND l.id = %s WHERE s.id = %s",
        [device.scope_id, device.site_id],
    )
    if not rows:
        raise Forbidden(f"lobby {device.scope_id!r} is no longer at site {device.site_id!r}")
    site_name, end_of_day, idle, lobby_name = rows[0]
    terms = await current_terms(conn, device.site_id)
    return Snapshot.of(
        {
            "site": {"id": device.site_id, "name": site_name, "timezone": device.timezone.key},
            "lobby": {"id": device.scope_id, "name": lobby_name},
            "end_of_day": end_of_day,
            "idle_seconds": idle,
            "visitor_types": [t.to_json() for t in await visitor_types(conn, device.site_id)],
            "terms": terms.to_json() if terms else None,
        }
    )


_INVITES = """
SELECT i.id, i.name, i.email, i.company, h.id, i.visitor_type, encode(i.secret_hash, 'hex')
FROM visitor_invites i
LEFT JOIN people h ON h.id = i.host_id AND h.visibility = 'visible'
                    AND h.inactive_since IS NULL
WHERE i.site_id = %s AND i.day = %s AND i.used_at IS NULL
ORDER BY i.name, i.id
"""

_SIGNED_IN = """
SELECT v.id, v.name, v.company, h.id, v.visitor_type, v.signed_in_at,
       CASE WHEN hn.status IS NOT NULL THEN hn.status
            WHEN rn.status = 'delivered' THEN 'reception'
            WHEN rn.status = 'pending' THEN 'pending'
            ELSE 'failed' END
FROM visitor_signins v
LEFT JOIN people h ON h.id = v.host_id AND h.visibility = 'visible'
                    AND h.inactive_since IS NULL
LEFT JOIN host_notifications hn ON hn.signin_id = v.id AND hn.recipient = 'host'
LEFT JOIN host_notifications rn ON rn.signin_id = v.id AND rn.recipient = 'reception'
WHERE v.site_id = %s AND v.signed_out_at IS NULL
ORDER BY v.signed_in_at, v.id
"""


async def visitors(conn: psycopg.AsyncConnection, device: DeviceContext, now: datetime) -> Snapshot:
    """Today at the kiosk's site: unused invites for today and who is signed in now,
    each with how their host's notification went (``notified``). Raises
    :class:`Forbidden` for anything but a lobby kiosk."""
    _require_kiosk(device, "visitors")
    day, _, _ = site_day(device.timezone, now)
    invites = [
        {
            "id": i,
            "name": name,
            "email_masked": mask_email(email),
            "company": company,
            "host_id": host,
            "visitor_type": vtype,
            "qr_sha256": qr,
        }
        for i, name, email, company, host, vtype, qr in await _rows(
            conn, _INVITES, [device.site_id, day]
        )
    ]
    signed_in = [
        {
            "visitor_id": vid,
            "name": name,
            "company": company,
            "host_id": host,
            "visitor_type": vtype,
            "signed_in_at": _iso(at, device.timezone),
            "notified": notified,
        }
        for vid, name, company, host, vtype, at, notified in await _rows(
            conn, _SIGNED_IN, [device.site_id]
        )
    ]
    return Snapshot.of({"day": day.isoformat(), "invites": invites, "signed_in": signed_in})


async def floors(conn: psycopg.AsyncConnection, device: DeviceContext) -> Snapshot:
    """The floor plans of the kiosk's site. Raises :class:`Forbidden` for anything but a
    lobby kiosk."""
    _require_kiosk(device, "floors")
    return Snapshot.of(await floors_document(conn, device.site_id))


_DESK_BOOKINGS = """
SELECT b.id, substr(b.resource, 6), lower(b.during), upper(b.during),
       CASE WHEN b.private THEN NULL ELSE p.id END, b.checked_in_at IS NOT NULL
FROM bookings b
LEFT JOIN people p ON p.id = b.booked_by AND p.site_id = b.site_id AND p.visibility = 'visible'
                    AND p.inactive_since IS NULL
WHERE b.site_id = %(site)s AND b.resource LIKE 'desk:%%' AND b.status = 'active'
  AND b.during && tstzrange(%(start)s, %(end)s)
ORDER BY 3, 2, 1
"""


async def desk_bookings(
    conn: psycopg.AsyncConnection, device: DeviceContext, now: datetime
) -> Snapshot:
    """Today's desk bookings at the kiosk's site and the desks out of use. A private
    booking, or one by a person who is not visible, has ``person_id`` null. Raises
    :class:`Forbidden` for anything but a lobby kiosk."""
    _require_kiosk(device, "desk_bookings")
    day, start, end = site_day(device.timezone, now)
    rows = await _rows(conn, _DESK_BOOKINGS, {"site": device.site_id, "start": start, "end": end})
    out = await _rows(
        conn, "SELECT id FROM desks WHERE site_id = %s AND out_of_use ORDER BY id", [device.site_id]
    )
    return Snapshot.of(
        {
            "day": day.isoformat(),
            "bookings": [
                {
                    "booking_id": bid,
                    "desk_id": desk,
                    "start": _iso(lo, device.timezone),
                    "end": _iso(hi, device.timezone),
                    "person_id": person,
                    "checked_in": checked_in,
                }
                for bid, desk, lo, hi, person, checked_in in rows
            ],
            "unavailable": [d for (d,) in out],
        }
    )
