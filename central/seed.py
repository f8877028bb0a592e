"""``seed --demo``: load the built-in demo site (``tapin.demo``) into central.

Idempotent: re-running updates the site and upserts today's meetings. Rooms carry the
demo's policies (the boardroom asks who is booking, Aurora checks in on presence, the
empty-room timings) and people their badge ids, so a demo central matches a demo device.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from central.directory import (
    upsert_desks,
    upsert_meetings,
    upsert_people,
    upsert_rooms,
    upsert_site,
)

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


async def seed_demo(
    pool: AsyncConnectionPool, *, seed: int = 7, now: datetime | None = None
) -> SeedReport:
    """Write the demo site and its meetings for the site's today (relative to ``now``)."""
    from tapin.demo import demo_meetings, demo_site  # the device side's demo data

    moment = now or datetime.now(UTC)
    site = demo_site(seed)
    day = moment.astimezone(site.timezone).date()
    meetings = demo_meetings(site, day, seed=seed, now=moment)
    async with pool.connection() as conn, conn.transaction():
        await upsert_site(conn, site.id, site.name, site.timezone.key, site.lobbies)
        await upsert_rooms(conn, site.id, site.rooms)
        await upsert_desks(conn, site.id, site.desks)
        await upsert_people(conn, site.id, site.people)
        await upsert_meetings(conn, meetings)
    report = SeedReport(
        site.id,
        len(site.rooms),
        len(site.desks),
        len(site.people),
        len(site.lobbies),
        len(meetings),
    )
    log.info("seeded demo site %s: %s", site.id, report)
    return report
