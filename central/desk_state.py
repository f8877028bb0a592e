"""A desk's state at central, set by an admin: out of use (with a reason in words) or
in use again, and its neighbourhood (the team that sits there).

``tapin central desk out-of-use DESK [--reason TEXT]``, ``desk in-use DESK`` and ``desk
neighbourhood DESK NAME`` (:mod:`central.floor_cli`) call these. A desk out of use is in
the ``desk_bookings`` snapshot's ``unavailable`` list (kiosks show it "out of use" and
do not offer it) and central refuses a booking for it (``state``, ``detail``
``{"why": "out_of_use", "reason"}``: :class:`central.appliers.bookings.BookingCreate`),
also one a kiosk queued offline before it heard. Bookings already made stay: the admin
decides what to do with them (a desk taken out of use for tomorrow's repair need not
throw out today's booker).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from central.errors import NotFound

__all__ = [
    "MAX_NEIGHBOURHOOD",
    "MAX_REASON",
    "DeskState",
    "DeskStateError",
    "set_in_use",
    "set_neighbourhood",
    "set_out_of_use",
]

MAX_REASON = 200
MAX_NEIGHBOURHOOD = 80


class DeskStateError(ValueError):
    """A reason or neighbourhood that cannot be stored; ``str()`` is a one-line reason."""


@dataclass(frozen=True, slots=True)
class DeskState:
    desk_id: str
    site_id: str
    name: str
    out_of_use: bool
    reason: str
    neighbourhood: str
    booked_today: int = 0
    """Bookings of the desk still to come or going on (not released): an admin taking
    it out of use may want to tell those people."""


def _clean(text: str, what: str, limit: int) -> str:
    value = " ".join(text.split())
    if len(value) > limit or not value.isprintable():
        raise DeskStateError(f"the {what} must be printable text of at most {limit} characters")
    return value


async def _update(
    conn: psycopg.AsyncConnection,
    desk_id: str,
    site_id: str | None,
    sets: str,
    values: list[object],
) -> DeskState:
    async with conn.transaction():
        cur = await conn.execute(
            f"UPDATE desks SET {sets} WHERE id = %s AND (%s::text IS NULL OR site_id = %s)"
            " RETURNING id, site_id, name, out_of_use, out_of_use_reason, neighbourhood",
            [*values, desk_id, site_id, site_id],
        )
        row = await cur.fetchone()
        if row is None:
            where = f" at site {site_id}" if site_id else ""
            raise NotFound(f"there is no desk {desk_id!r}{where}")
        cur = await conn.execute(
            "SELECT count(*) FROM bookings WHERE resource = %s AND status = 'active'"
            " AND upper(during) > now()",
            [f"desk:{desk_id}"],
        )
        counted = await cur.fetchone()
    desk, site, name, out, reason, hood = row
    return DeskState(desk, site, name, out, reason, hood, int(counted[0]) if counted else 0)


async def set_out_of_use(
    conn: psycopg.AsyncConnection, desk_id: str, reason: str = "", *, site_id: str | None = None
) -> DeskState:
    """Mark ``desk_id`` out of use, saying why (``""``: no reason given). Raises
    :class:`NotFound` for an unknown desk (at ``site_id``, when given) and
    :class:`DeskStateError` for a reason longer than :data:`MAX_REASON` or with control
    characters."""
    why = _clean(reason, "reason", MAX_REASON)
    return await _update(conn, desk_id, site_id, "out_of_use = true, out_of_use_reason = %s", [why])


async def set_in_use(
    conn: psycopg.AsyncConnection, desk_id: str, *, site_id: str | None = None
) -> DeskState:
    """Put ``desk_id`` back in use (its reason forgotten). Raises :class:`NotFound` for
    an unknown desk."""
    return await _update(conn, desk_id, site_id, "out_of_use = false, out_of_use_reason = ''", [])


async def set_neighbourhood(
    conn: psycopg.AsyncConnection, desk_id: str, name: str, *, site_id: str | None = None
) -> DeskState:
    """Set the team that sits at ``desk_id`` (``""``: none; matched to people's
    departments by "any free desk near my team"). Raises :class:`NotFound` for an
    unknown desk and :class:`DeskStateError` for a name longer than
    :data:`MAX_NEIGHBOURHOOD` or with control characters."""
    hood = _clean(name, "neighbourhood", MAX_NEIGHBOURHOOD)
    return await _update(conn, desk_id, site_id, "neighbourhood = %s", [hood])
