"""The fleet simulator's world: sites of rooms, desks, people and today's meetings in
central, and simulated devices enrolled for real.

Every site has :data:`ROOMS` rooms (one panel each), a lobby with :data:`KIOSKS` kiosks,
:data:`DESKS` desks and :data:`PEOPLE` people (one in ten invisible); a fleet of N
devices spans ``ceil(N / 50)`` sites. Each room has today's meetings around now, one of
them under way (the one its panel checks in to). Device bookings go to slots no
meeting touches (see :mod:`benchmarks.fleet_device`).

Devices are enrolled the way a technician does it: a one-time code from
:func:`central.create_enrollment_code`, then the device's own Ed25519 key and
``POST /v1/enroll`` through :meth:`sync.client.CentralClient.enroll` over TLS. Each gets
its own device id, token and sealing epoch.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg_pool import AsyncConnectionPool

from central.directory import (
    upsert_desks,
    upsert_meetings,
    upsert_people,
    upsert_rooms,
    upsert_site,
)
from central.enroll import create_enrollment_code
from sync.client import CentralClient
from sync.identity import new_signing_key
from tapin.domain import Desk, Meeting, Person, Room, Visibility

__all__ = [
    "DESKS",
    "KIOSKS",
    "PEOPLE",
    "ROOMS",
    "Member",
    "enroll",
    "people_of",
    "seed_sites",
    "site_name",
]

ROOMS = 48
KIOSKS = 2
DESKS = 60
PEOPLE = 150
PER_SITE = ROOMS + KIOSKS
TIMEZONE = "Europe/Stockholm"
# today's meetings of every room: (minutes from now, minutes long); the third is under way
MEETINGS = ((-180, 60), (-90, 30), (-30, 60), (60, 30), (150, 60), (240, 30))
UNDER_WAY = 2


@dataclass(frozen=True, slots=True)
class Member:
    """One enrolled simulated device (plain data: it crosses process boundaries)."""

    index: int
    device_id: str
    token: str
    role: str
    """``panel`` or ``kiosk``."""
    site_id: str
    scope_id: str
    """Its room (a panel) or its lobby (a kiosk)."""
    kiosk_no: int
    central_key: bytes
    """Central's X25519 public key, raw, from the enrollment answer."""

    @property
    def resource(self) -> str:
        return f"{'room' if self.role == 'panel' else 'lobby'}:{self.scope_id}"

    @property
    def meeting_id(self) -> str:
        """The meeting under way in a panel's room."""
        return f"{self.scope_id}-m{UNDER_WAY}"


def site_name(number: int) -> str:
    return f"fleet-{number:04d}"


def people_of(site_id: str) -> list[str]:
    """The visible people of a site (hosts for visitors)."""
    return [f"{site_id}-p{k:03d}" for k in range(PEOPLE) if k % 10 != 9]


def _scope(index: int) -> tuple[str, str, str, int]:
    """``(role, site, scope id, kiosk number)`` of the device with this index."""
    site = site_name(index // PER_SITE)
    slot = index % PER_SITE
    if slot < ROOMS:
        return "panel", site, f"{site}-r{slot:02d}", 0
    return "kiosk", site, f"{site}-lobby", slot - ROOMS


async def seed_sites(pool: AsyncConnectionPool, sites: Sequence[int]) -> None:
    """Create (or refresh) the given sites and their rooms' meetings for today."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for number in sites:
        site = site_name(number)
        rooms = [
            Room(f"{site}-r{k:02d}", f"Room {k}", k // 12, 4 + k % 9, ("screen",))
            for k in range(ROOMS)
        ]
        people = [
            Person(
                f"{site}-p{k:03d}",
                f"Person {k} of {number}",
                f"p{k}.{number}@example.com",
                title="Engineer" if k % 3 else "Designer",
                department=f"Department {k % 7}",
                phone=f"+46 8 555 {number:04d}{k:03d}",
                visibility=Visibility.INVISIBLE if k % 10 == 9 else Visibility.VISIBLE,
                badge_id=f"B{number:04d}{k:04d}",
            )
            for k in range(PEOPLE)
        ]
        meetings = [
            Meeting(
                f"{room.id}-m{j}",
                room.id,
                now + timedelta(minutes=start),
                now + timedelta(minutes=start + length),
                subject=f"Meeting {j}",
                organiser_id=people[(r * 5 + j) % PEOPLE].id,
                attendee_ids=tuple(people[(k * 7 + j) % PEOPLE].id for k in range(3)),
                private=j == 4,
            )
            for r, room in enumerate(rooms)
            for j, (start, length) in enumerate(MEETINGS)
        ]
        async with pool.connection() as conn, conn.transaction():
            await upsert_site(conn, site, f"Fleet site {number}", TIMEZONE, [f"{site}-lobby"])
            await upsert_rooms(conn, site, rooms)
            await upsert_desks(
                conn, site, [Desk(f"{site}-d{k:02d}", f"D{k}", k // 20) for k in range(DESKS)]
            )
            await upsert_people(conn, site, people)
            await upsert_meetings(conn, meetings)


async def enroll(
    pool: AsyncConnectionPool,
    url: str,
    ca_file: str,
    indices: Sequence[int],
    *,
    concurrency: int = 8,
) -> tuple[list[Member], float]:
    """Enroll the devices with these indices; them, and the seconds it took."""
    client = CentralClient(url, ca_file=ca_file, timeout=30)
    todo = list(indices)
    members: list[Member] = []

    async def one(index: int) -> Member:
        role, site, scope_id, kiosk_no = _scope(index)
        room, lobby = (scope_id, None) if role == "panel" else (None, scope_id)
        code = await create_enrollment_code(pool, room_id=room, lobby_id=lobby)
        answer = await client.enroll(code.code, new_signing_key())
        return Member(
            index,
            answer["device_id"],
            answer["token"],
            role,
            site,
            scope_id,
            kiosk_no,
            base64.b64decode(answer["central_public_key"]),
        )

    async def worker() -> None:
        while todo:
            members.append(await one(todo.pop()))

    start = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await client.aclose()
    members.sort(key=lambda m: m.index)
    return members, time.perf_counter() - start
