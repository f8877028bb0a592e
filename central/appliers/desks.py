"""``desk.checkin``: a person checks in to their desk booking at the lobby kiosk.

A desk is booked with ``booking.create`` (resource ``desk:<id>``) and released with
``booking.end``; the check-in only records when the person arrived (no person is
stored with it: the booking already names its booker). Checking in twice changes
nothing; the first check-in's time stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import psycopg

from central.appliers.base import (
    Context,
    Item,
    Rejection,
    each_alone,
    id_field,
    require_kind,
    require_role,
)
from sync.events import Code, EventType, StateReason

__all__ = ["DeskCheckin"]

_LOAD = (
    "SELECT site_id, resource, status, coalesce(ended_at, upper(during)), checked_in_at"
    " FROM bookings WHERE id = %s FOR UPDATE"
)


class DeskCheckin:
    """Payload ``{booking_id, person_id?}``; clear ``resource`` is the booked desk and
    ``created_at`` the check-in time. Kiosks only.

    Rejections: ``not_found`` (no such booking), ``forbidden`` (a booking of another
    site), ``invalid`` (the booking is for another desk or a room), ``state`` (the booking
    was released or has ended: ``detail`` ``{"why": "released", "at"}``).
    """

    type: ClassVar[str] = EventType.DESK_CHECKIN

    def check(self, item: Item, ctx: Context) -> None:
        require_role(item, ctx, "kiosk")
        require_kind(item, ("desk",))
        item.values = {
            "id": id_field(item.payload, "booking_id"),
            "person": id_field(item.payload, "person_id", required=False),
        }
        item.actor = item.values["person"]

    async def apply(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> dict[int, Rejection]:
        return await each_alone(conn, ctx, items, self._one)

    async def _one(self, conn: psycopg.AsyncConnection, ctx: Context, item: Item) -> None:
        booking_id = item.values["id"]
        cur = await conn.execute(_LOAD, [booking_id])
        row = await cur.fetchone()
        if row is None:
            raise Rejection(Code.NOT_FOUND, f"booking {booking_id} is unknown")
        site_id, resource, status, ended, checked_in = row
        if site_id != ctx.device.site_id:
            raise Rejection(
                Code.FORBIDDEN, f"booking {booking_id} is not at site {ctx.device.site_id}"
            )
        if resource != item.resource:
            raise Rejection(
                Code.INVALID, f"booking {booking_id} is for {resource}, not {item.resource}"
            )
        if checked_in is not None:
            return  # already checked in: the first check-in stands
        if status != "active" or item.created >= ended:
            raise Rejection(
                Code.STATE,
                f"booking {booking_id} has already ended",
                {"why": StateReason.RELEASED.value, "at": ended.isoformat()},
            )
        await conn.execute(
            "UPDATE bookings SET checked_in_at = %s WHERE id = %s", [item.created, booking_id]
        )
