"""``seed --demo``: load the demo site (``assets/demo/site.json``) into central.

The demo site is data that the device demo reads too, so a demo central matches a demo
device: rooms with their policies (the boardroom asks who is booking, Aurora checks in
on presence), desks, people with badge ids (some invisible), the lobby, and today's
meetings laid on the site's day, the demo room's placed around now; for the lobby kiosk
the four default visitor types (every site gets them), the demo's terms document (en, sv)
and its two invites for today, with the same QR secrets as the device demo (both read
``assets/demo/lobby.json``), so a demo kiosk's invite codes work against it; for the
kiosk's staff side the floor plans of floors 2-4 with every desk and room placed, the
desks' neighbourhoods, a desk out of use and today's desk bookings (one private, one by
an invisible person), from ``assets/demo/floors.json`` as the device demo reads it.
Idempotent: re-running updates the site and upserts today's meetings, invites and desk
bookings.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import errors
from psycopg_pool import AsyncConnectionPool

import assets
from central.directory import (
    upsert_desks,
    upsert_meetings,
    upsert_people,
    upsert_rooms,
    upsert_site,
)
from central.floors import FloorPlan, Place, import_floor
from sync.events import DESK_PARTS

__all__ = ["SeedReport", "seed_demo"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SeedReport:
    site_id: str
    rooms: int
    desks: int
    people: int
    lobbies: int
    meetings: int
    invites: int = 0
    """Visitor invites for today (the demo kiosk's two)."""
    floors: int = 0
    desk_bookings: int = 0
    """Desk bookings for today (one skipped if a device booked its desk meanwhile)."""


@dataclass(frozen=True, slots=True)
class _Room:
    id: str
    name: str
    building: str
    floor: int
    capacity: int
    equipment: tuple[str, ...]
    ask_booker: bool = False
    presence_checkin: bool = False
    auto_release: bool = True
    checkin_before: timedelta = timedelta(minutes=10)
    checkin_after: timedelta = timedelta(minutes=10)
    empty_offer: timedelta = timedelta(minutes=10)
    empty_release: timedelta = timedelta(minutes=20)


@dataclass(frozen=True, slots=True)
class _Desk:
    id: str
    name: str
    floor: int
    zone: str
    equipment: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Person:
    id: str
    name: str
    email: str
    title: str
    department: str
    phone: str
    photo: str | None
    role: str
    visibility: str
    badge_id: str | None


@dataclass(frozen=True, slots=True)
class _Meeting:
    id: str
    room_id: str
    start: datetime
    end: datetime
    subject: str
    organiser_id: str | None
    attendee_ids: tuple[str, ...] = field(default=())
    private: bool = False


def _meeting(key: str, room: str, start: datetime, entry: dict[str, Any]) -> _Meeting:
    return _Meeting(
        id=f"m-{room}-{key}",
        room_id=room,
        start=start.astimezone(UTC),
        end=(start + timedelta(minutes=entry["minutes"])).astimezone(UTC),
        subject=entry["subject"],
        organiser_id=entry["organiser"],
        attendee_ids=tuple(entry["attendees"]),
        private=entry["private"],
    )


def demo_day(data: dict[str, Any], zone: ZoneInfo, day: date, now: datetime) -> list[_Meeting]:
    """The demo's meetings on ``day``: the typical day of every room, and the demo room's
    meetings placed around ``now`` (minutes from now, rounded down to the quarter)."""
    meetings = [
        _meeting(
            f"{day.isoformat()}-{index}",
            entry["room"],
            datetime.combine(day, time.fromisoformat(entry["start"]), tzinfo=zone),
            entry,
        )
        for index, entry in enumerate(data["day"])
    ]
    around = data["around_now"]
    local = now.astimezone(zone)
    if local.date() == day:
        anchor = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
        for index, entry in enumerate(around["meetings"]):
            start = anchor + timedelta(minutes=entry["offset"])
            end = start + timedelta(minutes=entry["minutes"])
            if start.date() == day == end.astimezone(zone).date():
                meetings.append(
                    _meeting(f"{day.isoformat()}-n{index}", around["room"], start, entry)
                )
    return meetings


async def seed_demo(pool: AsyncConnectionPool, *, now: datetime | None = None) -> SeedReport:
    """Write the demo site and its meetings for the site's today (relative to ``now``)."""
    data: dict[str, Any] = json.loads(assets.path("demo", "site.json").read_text("utf-8"))
    site = data["site"]
    zone = ZoneInfo(site["timezone"])
    moment = now or datetime.now(UTC)
    rooms = [
        _Room(
            r["id"],
            r["name"],
            r["building"],
            r["floor"],
            r["capacity"],
            tuple(r["equipment"]),
            r["ask_booker"],
            r["presence_checkin"],
        )
        for r in data["rooms"]
    ]
    desks = [
        _Desk(d["id"], d["name"], d["floor"], d["zone"], tuple(d["equipment"]))
        for d in data["desks"]
    ]
    people = [_Person(**p) for p in data["people"]]
    meetings = demo_day(data, zone, moment.astimezone(zone).date(), moment)
    async with pool.connection() as conn, conn.transaction():
        await upsert_site(conn, site["id"], site["name"], site["timezone"], site["lobbies"])
        await upsert_rooms(conn, site["id"], rooms)
        await upsert_desks(conn, site["id"], desks)
        await upsert_people(conn, site["id"], people)
        await upsert_meetings(conn, meetings)
        invites = await _seed_visitors(conn, site["id"], moment.astimezone(zone).date())
        floors, bookings = await _seed_floors(conn, site["id"], zone, moment)
    report = SeedReport(
        site["id"],
        len(rooms),
        len(desks),
        len(people),
        len(site["lobbies"]),
        len(meetings),
        invites,
        floors,
        bookings,
    )
    log.info("seeded demo site %s: %s", site["id"], report)
    return report


async def _seed_visitors(conn: psycopg.AsyncConnection, site_id: str, today: date) -> int:
    """The demo's terms (both languages) and today's invites; returns the invites."""
    lobby = json.loads(assets.path("demo", "lobby.json").read_text("utf-8"))
    terms = lobby["terms"]
    for lang in ("en", "sv"):
        await conn.execute(
            "INSERT INTO visitor_terms (site_id, version, lang, title, body)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [site_id, terms["version"], lang, terms["title"][lang], terms["text"][lang]],
        )
    await conn.execute(
        "UPDATE sites SET reception_email = 'reception@nordlys.example'"
        " WHERE id = %s AND reception_email = ''",
        [site_id],
    )
    await conn.execute(  # the kiosk snapshot's lobby name, as the device demo shows it
        "UPDATE lobbies SET name = 'Reception' WHERE id = 'lobby-main' AND name = id"
    )
    for entry in lobby["invites"]:
        await conn.execute(
            "INSERT INTO visitor_invites (id, site_id, day, host_id, name, email, company,"
            " visitor_type, secret_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET day = excluded.day,"
            " used_at = CASE WHEN visitor_invites.day = excluded.day"
            "           THEN visitor_invites.used_at END,"
            " signin_id = CASE WHEN visitor_invites.day = excluded.day"
            "             THEN visitor_invites.signin_id END",
            [
                entry["id"],
                site_id,
                today,
                entry["host_id"],
                entry["name"],
                entry["email"],
                entry["company"],
                entry["visitor_type"],
                hashlib.sha256(str(entry["secret"]).encode("ascii")).digest(),
            ],
        )
    return len(lobby["invites"])


async def _seed_floors(
    conn: psycopg.AsyncConnection, site_id: str, zone: ZoneInfo, now: datetime
) -> tuple[int, int]:
    """The demo's floor plans, neighbourhoods, desk out of use and today's desk bookings;
    returns (floors, desk bookings)."""
    data: dict[str, Any] = json.loads(assets.path("demo", "floors.json").read_text("utf-8"))
    for entry in data["floors"]:
        places = [
            Place("desk", d["id"], d["x"], d["y"], d["w"], d["h"], d.get("rotation", 0))
            for d in entry["desks"]
        ] + [Place("room", r["id"], r["x"], r["y"], r["w"], r["h"]) for r in entry["rooms"]]
        plan = FloorPlan(
            entry["name"], entry["width"], entry["height"], entry["outline"], None, places
        )
        await import_floor(conn, site_id, entry["floor"], plan)
    async with conn.cursor() as cur:
        await cur.executemany(
            "UPDATE desks SET neighbourhood = %s, out_of_use = %s WHERE id = %s AND site_id = %s",
            [
                (hood, desk in data["unavailable"], desk, site_id)
                for desk, hood in data["neighbourhoods"].items()
            ],
        )
    today = now.astimezone(zone).date()
    made = 0
    for b in data["bookings"]:
        lo, hi = (
            datetime.combine(today, time.fromisoformat(t), tzinfo=zone)
            for t in DESK_PARTS[b["part"]]
        )
        try:
            async with conn.transaction():  # a device may have booked the desk meanwhile
                await conn.execute(
                    "INSERT INTO bookings (id, site_id, resource, during, booked_by, private,"
                    " checked_in_at) VALUES (%s, %s, %s, tstzrange(%s, %s), %s, %s, %s)"
                    " ON CONFLICT (id) DO NOTHING",
                    [
                        f"{b['booking_id']}-{today.isoformat()}",
                        site_id,
                        f"desk:{b['desk_id']}",
                        lo,
                        hi,
                        b["booked_by"],
                        b["private"],
                        min(lo, now) if b["checked_in"] else None,
                    ],
                )
            made += 1
        except errors.ExclusionViolation:
            log.info("demo desk booking %s skipped: its desk is booked", b["booking_id"])
    return len(data["floors"]), made
