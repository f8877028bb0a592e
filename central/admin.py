"""Operator actions: revoke a device, forget a person.

Plain async functions over a pool, so the CLI, an admin UI or a test call them alike.
They log ids and counts only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from psycopg_pool import AsyncConnectionPool

from central.commands import queue_command
from central.errors import NotFound

__all__ = ["ForgetReport", "forget_person", "revoke_device"]

log = logging.getLogger(__name__)


async def revoke_device(pool: AsyncConnectionPool, device_id: str) -> bool:
    """Revoke a device's credentials at once; ``False`` if it was already revoked.

    Raises :class:`NotFound` for an unknown device id.
    """
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT revoked_at IS NULL FROM devices WHERE id = %s FOR UPDATE", [device_id]
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"there is no device {device_id!r}")
        if row[0]:
            await conn.execute("UPDATE devices SET revoked_at = now() WHERE id = %s", [device_id])
    log.info("device %s revoked", device_id)
    return bool(row[0])


@dataclass(frozen=True, slots=True)
class ForgetReport:
    person_id: str
    site_id: str
    rows: dict[str, int] = field(default_factory=dict)
    """How many rows were deleted or anonymised, per table."""
    commands: int = 0
    """How many devices were sent a ``forget_person`` command."""


# Each statement anonymises what survives the person (history keeps its shape, loses the
# link). Deleting the people row then sets the remaining references to NULL or cascades
# (host notifications) through the foreign keys.
_ANONYMISE = (
    ("bookings", "UPDATE bookings SET booked_by = NULL, subject = '' WHERE booked_by = %(p)s"),
    (
        "meetings",
        "UPDATE meetings SET organiser_id = CASE WHEN organiser_id = %(p)s THEN NULL"
        " ELSE organiser_id END, attendee_ids = array_remove(attendee_ids, %(p)s)"
        " WHERE organiser_id = %(p)s OR %(p)s = ANY (attendee_ids)",
    ),
    ("checkins", "UPDATE checkins SET person_id = NULL WHERE person_id = %(p)s"),
    ("visitor_signins", "UPDATE visitor_signins SET host_id = NULL WHERE host_id = %(p)s"),
    ("host_notifications", "DELETE FROM host_notifications WHERE host_id = %(p)s"),
    ("issue_reports", "UPDATE issue_reports SET reporter_id = NULL WHERE reporter_id = %(p)s"),
    ("people", "DELETE FROM people WHERE id = %(p)s"),
)


async def forget_person(pool: AsyncConnectionPool, person_id: str) -> ForgetReport:
    """Erase a person from central and tell every device of their site to forget them.

    One transaction: anonymise history rows that mention them, delete their directory
    entry, and queue a ``forget_person`` command (args ``{"person_id": ...}``) for each
    unrevoked device of the site, which purges cached traces on its next sync.
    Raises :class:`NotFound` for an unknown person.
    """
    rows: dict[str, int] = {}
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT site_id FROM people WHERE id = %s FOR UPDATE", [person_id])
        found = await cur.fetchone()
        if found is None:
            raise NotFound(f"there is no person {person_id!r}")
        site_id = found[0]
        for table, sql in _ANONYMISE:
            cur = await conn.execute(sql, {"p": person_id})
            rows[table] = cur.rowcount
        cur = await conn.execute(
            "SELECT id FROM devices WHERE site_id = %s AND revoked_at IS NULL ORDER BY id",
            [site_id],
        )
        devices = [row[0] for row in await cur.fetchall()]
        for device_id in devices:
            await queue_command(conn, device_id, "forget_person", {"person_id": person_id})
    log.info(
        "person %s forgotten: %d rows touched, %d devices notified",
        person_id,
        sum(rows.values()),
        len(devices),
    )
    return ForgetReport(person_id, site_id, rows, len(devices))
