"""Writing the directory and the calendar: what a Microsoft 365 / Google sync (or the
demo seed) feeds central. Upserts, keyed by the source's ids.

Meetings are written under a ``FOR UPDATE`` lock on their room rows; device bookings
take ``FOR SHARE`` on the same rows, so a meeting and an overlapping booking never
both commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import psycopg

__all__ = [
    "Desk",
    "Meeting",
    "Person",
    "Room",
    "upsert_desks",
    "upsert_meetings",
    "upsert_people",
    "upsert_rooms",
    "upsert_site",
]


# The shapes central takes: any object with these attributes (a connector's records, the
# demo seed's, a test's). Central shares no code with the devices but the wire contract.


class Room(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def building(self) -> str: ...
    @property
    def floor(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def equipment(self) -> Sequence[str]: ...
    @property
    def auto_release(self) -> bool: ...
    @property
    def checkin_before(self) -> timedelta: ...
    @property
    def checkin_after(self) -> timedelta: ...
    @property
    def ask_booker(self) -> bool: ...
    @property
    def presence_checkin(self) -> bool: ...
    @property
    def empty_offer(self) -> timedelta: ...
    @property
    def empty_release(self) -> timedelta: ...


class Desk(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def floor(self) -> int: ...
    @property
    def zone(self) -> str: ...
    @property
    def equipment(self) -> Sequence[str]: ...


class Person(Protocol):
    """``role`` and ``visibility`` are strings (or string enums): ``str()`` is stored."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def department(self) -> str: ...
    @property
    def phone(self) -> str: ...
    @property
    def photo(self) -> str | None: ...
    @property
    def role(self) -> object: ...
    @property
    def visibility(self) -> object: ...
    @property
    def badge_id(self) -> str | None: ...


class Meeting(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def room_id(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def subject(self) -> str: ...
    @property
    def organiser_id(self) -> str | None: ...
    @property
    def attendee_ids(self) -> Sequence[str]: ...
    @property
    def private(self) -> bool: ...


async def upsert_site(
    conn: psycopg.AsyncConnection, site_id: str, name: str, timezone: str, lobbies: Iterable[str]
) -> None:
    await conn.execute(
        "INSERT INTO sites (id, name, timezone) VALUES (%s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, timezone = excluded.timezone",
        [site_id, name, timezone],
    )
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO lobbies (id, site_id, name) VALUES (%s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET site_id = excluded.site_id",
            [(lobby, site_id, lobby) for lobby in lobbies],
        )


async def upsert_rooms(conn: psycopg.AsyncConnection, site_id: str, rooms: Sequence[Room]) -> None:
    """Rooms and their policies (auto-release, check-in window, ask the booker, presence
    check-in, empty-room offer/release). The empty-room timings must be whole minutes,
    ``0 < empty_offer < empty_release <= 1 day`` (the schema refuses anything else)."""
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO rooms (id, site_id, name, building, floor, capacity, equipment,"
            " auto_release, checkin_before, checkin_after, ask_booker, presence_checkin,"
            " empty_offer, empty_release)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET site_id = excluded.site_id, name = excluded.name,"
            " building = excluded.building, floor = excluded.floor,"
            " capacity = excluded.capacity, equipment = excluded.equipment,"
            " auto_release = excluded.auto_release,"
            " checkin_before = excluded.checkin_before, checkin_after = excluded.checkin_after,"
            " ask_booker = excluded.ask_booker, presence_checkin = excluded.presence_checkin,"
            " empty_offer = excluded.empty_offer, empty_release = excluded.empty_release",
            [
                (
                    r.id,
                    site_id,
                    r.name,
                    r.building,
                    r.floor,
                    r.capacity,
                    list(r.equipment),
                    r.auto_release,
                    r.checkin_before,
                    r.checkin_after,
                    r.ask_booker,
                    r.presence_checkin,
                    r.empty_offer,
                    r.empty_release,
                )
                for r in rooms
            ],
        )


async def upsert_desks(conn: psycopg.AsyncConnection, site_id: str, desks: Sequence[Desk]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO desks (id, site_id, name, floor, zone, equipment)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET site_id = excluded.site_id, name = excluded.name,"
            " floor = excluded.floor, zone = excluded.zone, equipment = excluded.equipment",
            [(d.id, site_id, d.name, d.floor, d.zone, list(d.equipment)) for d in desks],
        )


async def upsert_people(
    conn: psycopg.AsyncConnection, site_id: str, people: Sequence[Person]
) -> None:
    """Directory entries; an upsert counts as activity (``last_active_at``).

    Badge ids are unique per site. A badge given to someone in ``people`` is taken from
    whoever held it before (badges get reissued), so call this inside a transaction.
    Raises :class:`ValueError` when two of ``people`` share a badge id.
    """
    badges: dict[str, str] = {}
    for p in people:
        if p.badge_id:
            holder = badges.setdefault(p.badge_id, p.id)
            if holder != p.id:
                raise ValueError(f"people {holder!r} and {p.id!r} share a badge id")
    if badges:
        await conn.execute(
            "UPDATE people SET badge_id = NULL WHERE site_id = %s AND badge_id = ANY(%s)",
            [site_id, list(badges)],
        )
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO people (id, site_id, name, email, title, department, phone, photo,"
            " role, visibility, badge_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET site_id = excluded.site_id, name = excluded.name,"
            " email = excluded.email, title = excluded.title,"
            " department = excluded.department, phone = excluded.phone,"
            " photo = excluded.photo, role = excluded.role,"
            " visibility = excluded.visibility, badge_id = excluded.badge_id,"
            " last_active_at = now()",
            [
                (
                    p.id,
                    site_id,
                    p.name,
                    p.email,
                    p.title,
                    p.department,
                    p.phone,
                    p.photo,
                    str(p.role),
                    str(p.visibility),
                    p.badge_id or None,
                )
                for p in people
            ],
        )


async def upsert_meetings(conn: psycopg.AsyncConnection, meetings: Sequence[Meeting]) -> None:
    """Calendar meetings, written under the room lock (call inside a transaction).

    An organiser or attendee id not in the room's site's directory is dropped rather than
    refused. Raises :class:`ValueError` for a meeting in an unknown room.
    """
    rooms = sorted({m.room_id for m in meetings})
    if not rooms:
        return
    cur = await conn.execute(
        "SELECT id, site_id FROM rooms WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [rooms]
    )
    sites = {row[0]: row[1] for row in await cur.fetchall()}
    unknown = sorted(set(rooms) - set(sites))
    if unknown:
        raise ValueError(f"meetings for unknown rooms: {', '.join(unknown)}")
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO meetings (id, room_id, during, subject, organiser_id, attendee_ids,"
            " private) VALUES (%s, %s, tstzrange(%s, %s), %s,"
            " (SELECT id FROM people WHERE id = %s AND site_id = %s),"
            " ARRAY(SELECT id FROM people WHERE id = ANY(%s::text[]) AND site_id = %s), %s)"
            " ON CONFLICT (id) DO UPDATE SET room_id = excluded.room_id,"
            " during = excluded.during, subject = excluded.subject,"
            " organiser_id = excluded.organiser_id, attendee_ids = excluded.attendee_ids,"
            " private = excluded.private",
            [
                (
                    m.id,
                    m.room_id,
                    m.start,
                    m.end,
                    m.subject,
                    m.organiser_id,
                    sites[m.room_id],
                    list(m.attendee_ids),
                    sites[m.room_id],
                    m.private,
                )
                for m in meetings
            ],
        )
