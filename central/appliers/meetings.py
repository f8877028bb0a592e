"""``meeting.checkin`` and ``meeting.release``: a room panel's check-in rules, decided.

A ``meeting_id`` names either a calendar meeting or a device booking of the panel's
room. A check-in wins over a later release and a release over a later check-in: the
first to reach central decides, the other is rejected with what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

import psycopg

from central.appliers.base import (
    Context,
    Item,
    Rejection,
    each_alone,
    id_field,
    require_kind,
    require_own_scope,
    require_role,
    text_field,
)
from central.calendars.outbox import enqueue_writebacks
from sync.events import RELEASE_REASONS, Code, EventType, StateReason

__all__ = ["MeetingCheckin", "MeetingRelease"]

_LOCKS = (
    ("meeting", "SELECT 1 FROM meetings WHERE id = %(id)s AND room_id = %(room)s FOR UPDATE"),
    ("booking", "SELECT 1 FROM bookings WHERE id = %(id)s AND room_id = %(room)s FOR UPDATE"),
)
# Read after the lock is held, in a statement of its own: under READ COMMITTED a statement
# that waited for the row lock still sees other tables as they were when it began, so a
# check-in committed while this release waited would be missed (and both would apply).
_STATES = {
    "meeting": "SELECT m.released_at, r.auto_release,"
    " (SELECT c.checked_in_at FROM checkins c WHERE c.meeting_id = m.id)"
    " FROM meetings m JOIN rooms r ON r.id = m.room_id WHERE m.id = %(id)s",
    "booking": "SELECT CASE WHEN b.status = 'released' THEN coalesce(b.ended_at, b.created_at) END,"
    " r.auto_release, (SELECT c.checked_in_at FROM checkins c WHERE c.booking_id = b.id)"
    " FROM bookings b JOIN rooms r ON r.id = b.room_id WHERE b.id = %(id)s",
}


def _check(item: Item, ctx: Context) -> None:
    require_role(item, ctx, "panel")
    require_kind(item, ("room",))
    require_own_scope(item, ctx)


async def _target(
    conn: psycopg.AsyncConnection, item: Item
) -> tuple[str, datetime | None, bool, datetime | None]:
    """``(kind, released_at, room auto_release, checked_in_at)``, the target row locked
    first and its state read after (so the first of a check-in and a release wins)."""
    params = {"id": item.values["id"], "room": item.rid}
    for kind, lock in _LOCKS:
        cur = await conn.execute(lock, params)
        if await cur.fetchone() is not None:
            cur = await conn.execute(_STATES[kind], params)
            row = await cur.fetchone()
            assert row is not None  # locked: it cannot have gone
            return kind, row[0], row[1], row[2]
    raise Rejection(
        Code.NOT_FOUND, f"meeting {item.values['id']} is not in the calendar of {item.resource}"
    )


def _at(moment: datetime, ctx: Context) -> str:
    return f"{moment.astimezone(ctx.device.timezone):%H:%M}"


class MeetingCheckin:
    """Payload ``{meeting_id, person_id?}``; clear ``resource`` is the panel's room and
    ``created_at`` the check-in time. Checking in twice changes nothing."""

    type: ClassVar[str] = EventType.MEETING_CHECKIN

    def check(self, item: Item, ctx: Context) -> None:
        _check(item, ctx)
        item.values = {
            "id": id_field(item.payload, "meeting_id"),
            "person": id_field(item.payload, "person_id", required=False),
        }
        item.actor = item.values["person"]

    async def apply(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> dict[int, Rejection]:
        return await each_alone(conn, ctx, items, self._one)

    async def _one(self, conn: psycopg.AsyncConnection, ctx: Context, item: Item) -> None:
        kind, released_at, _, checked_in_at = await _target(conn, item)
        if released_at is not None:
            raise Rejection(
                Code.STATE,
                f"meeting {item.values['id']} was released at {_at(released_at, ctx)}"
                " because nobody checked in",
                {"why": StateReason.RELEASED, "at": released_at.isoformat()},
            )
        if checked_in_at is not None:
            return
        column = "meeting_id" if kind == "meeting" else "booking_id"
        await conn.execute(
            f"INSERT INTO checkins (room_id, {column}, person_id, device_id, checked_in_at)"
            " VALUES (%s, %s, (SELECT id FROM people WHERE id = %s AND site_id = %s), %s, %s)",
            [
                item.rid,
                item.values["id"],
                item.values["person"],
                ctx.device.site_id,
                ctx.device.id,
                item.created,
            ],
        )


class MeetingRelease:
    """Payload ``{meeting_id, reason?}`` (one of ``RELEASE_REASONS``, ``no_show`` by default);
    ``created_at`` is the release time. The room must allow auto-release."""

    type: ClassVar[str] = EventType.MEETING_RELEASE

    def check(self, item: Item, ctx: Context) -> None:
        _check(item, ctx)
        reason = text_field(item.payload, "reason", 20, required=False) or "no_show"
        if reason not in RELEASE_REASONS:
            raise Rejection(Code.INVALID, f"reason must be one of {', '.join(RELEASE_REASONS)}")
        item.values = {"id": id_field(item.payload, "meeting_id"), "reason": reason}

    async def apply(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> dict[int, Rejection]:
        return await each_alone(conn, ctx, items, self._one)

    async def _one(self, conn: psycopg.AsyncConnection, ctx: Context, item: Item) -> None:
        kind, released_at, auto_release, checked_in_at = await _target(conn, item)
        if released_at is not None:
            return
        if checked_in_at is not None:
            raise Rejection(
                Code.STATE,
                f"someone checked in to meeting {item.values['id']} at "
                f"{_at(checked_in_at, ctx)}; it stays booked",
                {"why": StateReason.CHECKED_IN, "at": checked_in_at.isoformat()},
            )
        if not auto_release and item.values["reason"] == "no_show":
            raise Rejection(
                Code.STATE,
                f"{item.resource} does not release meetings automatically",
                {"why": StateReason.NO_AUTO_RELEASE},
            )
        column = "meeting_id" if kind == "meeting" else "booking_id"
        params = {"room": item.rid, "id": item.values["id"], "at": item.created}
        await conn.execute(
            f"INSERT INTO releases (room_id, {column}, reason, device_id, released_at)"
            " VALUES (%(room)s, %(id)s, %(reason)s, %(device)s, %(at)s)",
            {**params, "reason": item.values["reason"], "device": ctx.device.id},
        )
        if kind == "meeting":
            sql = "UPDATE meetings SET released_at = %(at)s WHERE id = %(id)s"
        else:
            sql = "UPDATE bookings SET status = 'released', ended_at = %(at)s WHERE id = %(id)s"
        await conn.execute(sql, params)
        if kind == "booking":
            await enqueue_writebacks(conn, [item.values["id"]])  # out of the room's calendar
