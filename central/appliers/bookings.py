"""``booking.create``, ``booking.extend``, ``booking.end``: room and desk bookings.

Races between devices are decided by the ``bookings_no_overlap`` exclusion constraint.
Calendar meetings live in their own table; a room booking also must not overlap a
meeting that was not released. To make that check safe against a concurrent calendar
import, booking writers lock the room row ``FOR SHARE`` (bookings do not block each
other) and meeting writers lock it ``FOR UPDATE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

import psycopg
from psycopg import errors

from central.appliers.base import (
    MAX_DURATION,
    Context,
    Item,
    Rejection,
    bool_field,
    each_alone,
    first_of_each,
    id_field,
    require_kind,
    require_own_scope,
    span,
    text_field,
)
from central.calendars.outbox import enqueue_writebacks
from sync.events import MAX_SUBJECT, Code, ConflictWith, EventType, StateReason

__all__ = ["BookingCreate", "BookingEnd", "BookingExtend"]

_KINDS = ("room", "desk")


def _check_scope(item: Item, ctx: Context) -> None:
    require_kind(item, _KINDS)
    if ctx.device.role == "panel":
        require_own_scope(item, ctx)


async def lock_rooms(conn: psycopg.AsyncConnection, ctx: Context, room_ids: Sequence[str]) -> None:
    """Hold the rooms ``FOR SHARE`` until commit, so no meeting lands under a booking."""
    todo = sorted(set(room_ids) - ctx.locked_rooms)
    if todo:
        await conn.execute("SELECT 1 FROM rooms WHERE id = ANY(%s) ORDER BY id FOR SHARE", [todo])
        ctx.locked_rooms.update(todo)


async def conflict(
    conn: psycopg.AsyncConnection,
    ctx: Context,
    item: Item,
    start: datetime,
    end: datetime,
    booking_id: str | None = None,
) -> Rejection:
    """A ``conflict`` naming what occupies ``item``'s resource between ``start`` and
    ``end``, with its times in ``detail`` for the device's own words."""
    noun = "room" if item.kind == "room" else "desk"
    if item.kind == "room":
        cur = await conn.execute(
            "SELECT lower(during), upper(during) FROM meetings WHERE room_id = %s"
            " AND released_at IS NULL AND during && tstzrange(%s, %s) ORDER BY 1 LIMIT 1",
            [item.rid, start, end],
        )
        row = await cur.fetchone()
        if row is not None:
            return Rejection(
                Code.CONFLICT,
                f"the {noun} is booked in the calendar from {span(row[0], row[1], ctx)}",
                _times(ConflictWith.CALENDAR, row[0], row[1]),
            )
    cur = await conn.execute(
        "SELECT lower(during), upper(during) FROM bookings WHERE resource = %s"
        " AND status <> 'released' AND during && tstzrange(%s, %s) AND id IS DISTINCT FROM %s"
        " ORDER BY 1 LIMIT 1",
        [item.resource, start, end, booking_id],
    )
    row = await cur.fetchone()
    if row is not None:
        return Rejection(
            Code.CONFLICT,
            f"the {noun} is already booked from {span(row[0], row[1], ctx)}",
            _times(ConflictWith.BOOKING, row[0], row[1]),
        )
    return Rejection(
        Code.CONFLICT,
        f"the {noun} was booked by someone else for an overlapping time",
        {"with": ConflictWith.BOOKING},
    )


def _times(what: ConflictWith, start: datetime, end: datetime) -> dict[str, str]:
    return {"with": what.value, "start": start.isoformat(), "end": end.isoformat()}


_INSERT = """
INSERT INTO bookings (id, site_id, resource, during, booked_by, subject, device_id)
SELECT i.id, %(site)s, i.resource, tstzrange(i.s, i.e),
       (SELECT p.id FROM people p WHERE p.id = i.by AND p.site_id = %(site)s), i.subject, %(device)s
FROM unnest(%(ids)b::text[], %(res)b::text[], %(rooms)b::text[], %(s)b::timestamptz[],
            %(e)b::timestamptz[], %(by)b::text[], %(subj)b::text[])
     WITH ORDINALITY AS i(id, resource, room, s, e, by, subject, ord)
WHERE NOT EXISTS (
    SELECT 1 FROM meetings m
    WHERE m.room_id = i.room AND m.released_at IS NULL AND m.during && tstzrange(i.s, i.e))
ORDER BY i.ord
ON CONFLICT DO NOTHING
RETURNING id
"""


def _id_used(item: Item) -> Rejection:
    return Rejection(Code.INVALID, f"booking id {item.values['id']} is already used")


async def _refuse_out_of_use(
    conn: psycopg.AsyncConnection, items: list[Item], rejected: dict[int, Rejection]
) -> list[Item]:
    """Desks an admin marked out of use (``tapin central desk out-of-use``) are refused,
    ``state`` with ``detail`` ``{"why": "out_of_use", "reason"}``; the others go on."""
    desks = sorted({i.rid for i in items if i.kind == "desk"})
    if not desks:
        return items
    cur = await conn.execute(
        "SELECT id, out_of_use_reason FROM desks WHERE id = ANY(%s) AND out_of_use", [desks]
    )
    out: dict[str, str] = dict(await cur.fetchall())
    kept = []
    for item in items:
        if item.kind == "desk" and item.rid in out:
            reason = out[item.rid]
            rejected[item.index] = Rejection(
                Code.STATE,
                f"desk {item.rid} is out of use" + (f": {reason}" if reason else ""),
                {"why": StateReason.OUT_OF_USE.value, "reason": reason},
            )
        else:
            kept.append(item)
    return kept


class BookingCreate:
    """Payload ``{booking_id, booked_by?, subject?, private?}``; clear ``resource``, ``starts_at``,
    ``ends_at``. Panels book their own room; kiosks any room or desk of their site."""

    type: ClassVar[str] = EventType.BOOKING_CREATE

    def check(self, item: Item, ctx: Context) -> None:
        _check_scope(item, ctx)
        start, end = item.time_range()
        item.values = {
            "id": id_field(item.payload, "booking_id"),
            "by": id_field(item.payload, "booked_by", required=False),
            "subject": text_field(item.payload, "subject", MAX_SUBJECT, required=False),
            "start": start,
            "end": end,
            # a desk booked privately never shows who sits there
            "private": "private" in item.payload and bool_field(item.payload, "private"),
        }
        item.actor = item.values["by"]

    async def apply(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> dict[int, Rejection]:
        items, rejected = first_of_each(items, _id_used)
        items = await _refuse_out_of_use(conn, items, rejected)
        await lock_rooms(conn, ctx, [i.rid for i in items if i.kind == "room"])
        vals = [i.values for i in items]
        cur = await conn.execute(
            _INSERT,
            {
                "site": ctx.device.site_id,
                "device": ctx.device.id,
                "ids": [v["id"] for v in vals],
                "res": [i.resource for i in items],
                "rooms": [i.rid if i.kind == "room" else None for i in items],
                "s": [v["start"] for v in vals],
                "e": [v["end"] for v in vals],
                "by": [v["by"] for v in vals],
                "subj": [v["subject"] for v in vals],
            },
        )
        made = {row[0] for row in await cur.fetchall()}
        await enqueue_writebacks(conn, made)  # into the room's calendar, if it has one
        private = [i.values["id"] for i in items if i.values["private"]]
        if made.intersection(private):
            await conn.execute(
                "UPDATE bookings SET private = true WHERE id = ANY(%s)", [sorted(made & {*private})]
            )
        for item in items:
            if item.values["id"] not in made:
                rejected[item.index] = await self._why_not(conn, ctx, item)
        return rejected

    async def _why_not(self, conn: psycopg.AsyncConnection, ctx: Context, item: Item) -> Rejection:
        cur = await conn.execute("SELECT 1 FROM bookings WHERE id = %s", [item.values["id"]])
        if await cur.fetchone() is not None:
            return _id_used(item)
        return await conflict(conn, ctx, item, item.values["start"], item.values["end"])


async def _load(
    conn: psycopg.AsyncConnection, ctx: Context, item: Item
) -> tuple[datetime, datetime, str]:
    """Lock the booking an extend/end event names; check it is the event's resource."""
    booking_id = item.values["id"]
    cur = await conn.execute(
        "SELECT resource, lower(during), upper(during), status FROM bookings"
        " WHERE id = %s AND site_id = %s FOR UPDATE",
        [booking_id, ctx.device.site_id],
    )
    row = await cur.fetchone()
    if row is None:
        raise Rejection(Code.NOT_FOUND, f"booking {booking_id} is unknown at this site")
    if row[0] != item.resource:
        raise Rejection(Code.INVALID, f"booking {booking_id} is for {row[0]}, not {item.resource}")
    return row[1], row[2], row[3]


class BookingExtend:
    """Payload ``{booking_id}``; clear ``ends_at`` is the new end (``starts_at`` ignored)."""

    type: ClassVar[str] = EventType.BOOKING_EXTEND

    def check(self, item: Item, ctx: Context) -> None:
        _check_scope(item, ctx)
        if item.ends is None:
            raise Rejection(Code.INVALID, "booking.extend needs ends_at (the new end)")
        item.values = {"id": id_field(item.payload, "booking_id"), "end": item.ends}

    async def apply(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> dict[int, Rejection]:
        return await each_alone(conn, ctx, items, self._one)

    async def _one(self, conn: psycopg.AsyncConnection, ctx: Context, item: Item) -> None:
        start, end, status = await _load(conn, ctx, item)
        new_end: datetime = item.values["end"]
        if status != "active":
            raise Rejection(Code.STATE, f"booking {item.values['id']} has already {status}")
        if new_end <= end:
            return  # already at least that long: nothing to do
        if new_end - start > MAX_DURATION:
            raise Rejection(Code.INVALID, "a booking cannot be longer than 24 hours")
        if item.kind == "room":
            await lock_rooms(conn, ctx, [item.rid])
            cur = await conn.execute(
                "SELECT 1 FROM meetings WHERE room_id = %s AND released_at IS NULL"
                " AND during && tstzrange(%s, %s)",
                [item.rid, end, new_end],
            )
            if await cur.fetchone() is not None:
                raise await conflict(conn, ctx, item, end, new_end)
        try:
            async with conn.transaction():
                await conn.execute(
                    "UPDATE bookings SET during = tstzrange(lower(during), %s) WHERE id = %s",
                    [new_end, item.values["id"]],
                )
                await enqueue_writebacks(conn, [item.values["id"]])
        except errors.ExclusionViolation:
            raise await conflict(conn, ctx, item, end, new_end, item.values["id"]) from None


class BookingEnd:
    """Payload ``{booking_id}``; clear ``ends_at`` (else ``created_at``) is when it ended.

    Ending before the start cancels the booking (status ``released``); ending an ended
    booking changes nothing.
    """

    type: ClassVar[str] = EventType.BOOKING_END

    def check(self, item: Item, ctx: Context) -> None:
        _check_scope(item, ctx)
        item.values = {"id": id_field(item.payload, "booking_id"), "at": item.ends or item.created}

    async def apply(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> dict[int, Rejection]:
        rejected: dict[int, Rejection] = {}
        for item in items:
            try:
                start, end, status = await _load(conn, ctx, item)
            except Rejection as rejection:
                rejected[item.index] = rejection
                continue
            if status != "active":
                continue
            at: datetime = item.values["at"]
            if at <= start:
                sql = "UPDATE bookings SET status = 'released', ended_at = %(at)s WHERE id = %(id)s"
            elif at >= end:
                sql = "UPDATE bookings SET status = 'ended', ended_at = %(at)s WHERE id = %(id)s"
            else:
                sql = (
                    "UPDATE bookings SET status = 'ended', ended_at = %(at)s,"
                    " during = tstzrange(lower(during), %(at)s) WHERE id = %(id)s"
                )
            await conn.execute(sql, {"at": at, "id": item.values["id"]})
            await enqueue_writebacks(conn, [item.values["id"]])
        return rejected
