"""Rooms, desks, floor maps and the visitor setup of a site, for site admins and global
admins: a room's capacity, equipment and policies (check-in window, auto-release, ask
for the booker, presence check-in, the empty-room timings); a desk out of use (with
:mod:`central.desk_state`); floor plans uploaded through the importer of ``tapin central
floor-import`` (:mod:`central.floors`); the visitor types and terms versions (shown;
changed with ``tapin central visitors``).

Devices follow at their next sync: a room's row is what the rooms snapshot is built
from. Every change is audited with the room, desk or floor as its target.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from central.desk_state import DeskStateError, set_in_use, set_out_of_use
from central.errors import BadRequest, NotFound
from central.floors import FloorError, import_floor, parse_floor
from central.portal import store
from central.portal.authz import Ctx, guard
from central.portal.pages_site import _site, _site_page
from central.visitor_setup import current_terms, terms_versions, visitor_types

__all__ = ["desk_state", "floor_upload", "room_edit", "room_save", "rooms"]

ROOM_ROLES = ("global", "site_admin")
_ROOM_SQL = (
    "SELECT id, name, floor, capacity, equipment, auto_release,"
    " extract(epoch FROM checkin_before)::int / 60, extract(epoch FROM checkin_after)::int / 60,"
    " ask_booker, presence_checkin, extract(epoch FROM empty_offer)::int / 60,"
    " extract(epoch FROM empty_release)::int / 60 FROM rooms WHERE site_id = %s"
)
_ROOM_KEYS = (
    "id",
    "name",
    "floor",
    "capacity",
    "equipment",
    "auto_release",
    "checkin_before",
    "checkin_after",
    "ask_booker",
    "presence_checkin",
    "empty_offer",
    "empty_release",
)


async def _rooms_page(ctx: Ctx, status: int = 200, **extra: Any) -> Response:
    async with ctx.pool.connection() as conn:
        site, sites = await _site(conn, ctx)
        cur = await conn.execute(_ROOM_SQL + " ORDER BY floor, name, id", [site.id])
        rooms = await store.dicts(cur, _ROOM_KEYS)
        cur = await conn.execute(
            "SELECT id, name, floor, out_of_use, out_of_use_reason FROM desks"
            " WHERE site_id = %s ORDER BY floor, name, id",
            [site.id],
        )
        desks = await store.dicts(cur, ("id", "name", "floor", "out", "reason"))
        cur = await conn.execute(
            "SELECT f.floor, f.name, f.imported_at,"
            " (SELECT count(*) FROM floor_desks d"
            "   WHERE d.site_id = f.site_id AND d.floor = f.floor),"
            " (SELECT count(*) FROM floor_rooms r"
            "   WHERE r.site_id = f.site_id AND r.floor = f.floor)"
            " FROM floors f WHERE f.site_id = %s ORDER BY f.floor",
            [site.id],
        )
        floors = [
            {
                "floor": r[0],
                "name": r[1],
                "at": r[2].astimezone(site.zone).strftime("%Y-%m-%d %H:%M"),
                "desks": r[3],
                "rooms": r[4],
            }
            for r in await cur.fetchall()
        ]
        types = [
            (t.id, t.names.get(ctx.language) or t.names["en"], len(t.steps))
            for t in await visitor_types(conn, site.id)
        ]
        terms = await current_terms(conn, site.id)
        versions = sorted(await terms_versions(conn, site.id))
    return ctx.page(
        "rooms.html",
        status,
        site=site,
        sites=sites,
        nav="rooms",
        rooms=rooms,
        desks=desks,
        floors=floors,
        types=types,
        terms=terms,
        versions=versions,
        error=extra.pop("error", None),
        done=ctx.request.query_params.get("done"),
        **extra,
    )


@guard("site", *ROOM_ROLES)
async def rooms(ctx: Ctx) -> Response:
    """The site's rooms with their policies, desks, floor plans and visitor setup."""
    return await _rooms_page(ctx)


async def _room(ctx: Ctx, room_id: str) -> dict[str, Any]:
    """Raises :class:`NotFound` unless the room is at the URL's site."""
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(_ROOM_SQL + " AND id = %s", [ctx.site_id, room_id])
        row = await cur.fetchone()
    if row is None:
        raise NotFound(ctx._("There is no such room at this site."))
    return dict(zip(_ROOM_KEYS, row, strict=True))


async def _edit_page(ctx: Ctx, room: dict[str, Any], status: int = 200, **extra: Any) -> Response:
    return await _site_page(
        ctx,
        "room_edit.html",
        status,
        "rooms",
        room=room,
        error=extra.pop("error", None),
        **extra,
    )


@guard("site", *ROOM_ROLES)
async def room_edit(ctx: Ctx) -> Response:
    """The form for one room (``?room=ID``)."""
    room = await _room(ctx, ctx.request.query_params.get("room", ""))
    room["equipment"] = ", ".join(room["equipment"])
    return await _edit_page(ctx, room)


def _minutes(ctx: Ctx, name: str, label: str, low: int, high: int) -> int:
    text = ctx.form.get(name, "").strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest(
            ctx._("{field} must be a whole number from {low} to {high}.").format(
                field=label, low=low, high=high
            )
        )
    return int(text)


def _read_room(ctx: Ctx) -> dict[str, Any]:
    """The room form's values, checked. Raises :class:`BadRequest` naming the field."""
    equipment = [e.strip() for e in ctx.form.get("equipment", "").split(",") if e.strip()]
    if len(equipment) > 20 or any(len(e) > 40 or not e.isprintable() for e in equipment):
        raise BadRequest(ctx._("Equipment: at most 20 items of at most 40 characters each."))
    values: dict[str, Any] = {
        "capacity": _minutes(ctx, "capacity", ctx._("Seats"), 0, 1000),
        "equipment": equipment,
        "auto_release": ctx.form.get("auto_release") == "on",
        "checkin_before": _minutes(ctx, "checkin_before", ctx._("Check-in opens"), 0, 120),
        "checkin_after": _minutes(ctx, "checkin_after", ctx._("Check-in closes"), 1, 120),
        "ask_booker": ctx.form.get("ask_booker") == "on",
        "presence_checkin": ctx.form.get("presence_checkin") == "on",
        "empty_offer": _minutes(ctx, "empty_offer", ctx._("Offer to release after"), 1, 1439),
        "empty_release": _minutes(ctx, "empty_release", ctx._("Release after"), 2, 1440),
    }
    if values["empty_release"] <= values["empty_offer"]:
        raise BadRequest(ctx._("An empty room is released later than it is offered."))
    return values


@guard("site", *ROOM_ROLES)
async def room_save(ctx: Ctx) -> Response:
    """Store one room's capacity, equipment and policies (audited: ``room.update``)."""
    room = await _room(ctx, ctx.form.get("room_id", ""))
    try:
        values = _read_room(ctx)
    except BadRequest as exc:
        shown = {**room, **{k: v for k, v in ctx.form.items() if k in _ROOM_KEYS}}
        for flag in ("auto_release", "ask_booker", "presence_checkin"):
            shown[flag] = ctx.form.get(flag) == "on"
        return await _edit_page(ctx, shown, 400, error=exc.detail)
    async with ctx.pool.connection() as conn:
        await conn.execute(
            "UPDATE rooms SET capacity = %(capacity)s, equipment = %(equipment)s,"
            " auto_release = %(auto_release)s,"
            " checkin_before = make_interval(mins => %(checkin_before)s),"
            " checkin_after = make_interval(mins => %(checkin_after)s),"
            " ask_booker = %(ask_booker)s, presence_checkin = %(presence_checkin)s,"
            " empty_offer = make_interval(mins => %(empty_offer)s),"
            " empty_release = make_interval(mins => %(empty_release)s)"
            " WHERE id = %(id)s AND site_id = %(site)s",
            {**values, "id": room["id"], "site": ctx.site_id},
        )
    await ctx.audit("room.update", room["id"])
    return ctx.redirect(f"/sites/{ctx.site_id}/rooms?done=room")


@guard("site", *ROOM_ROLES)
async def desk_state(ctx: Ctx) -> Response:
    """Take a desk out of use (with a reason) or put it back (audited)."""
    assert ctx.site_id is not None
    desk_id = ctx.form.get("desk_id", "")
    out = ctx.form.get("out_of_use") == "yes"
    try:
        async with ctx.pool.connection() as conn:
            if out:
                await set_out_of_use(
                    conn, desk_id, ctx.form.get("reason", "").strip(), site_id=ctx.site_id
                )
            else:
                await set_in_use(conn, desk_id, site_id=ctx.site_id)
    except NotFound:
        raise NotFound(ctx._("There is no such desk at this site.")) from None
    except DeskStateError as exc:
        return await _rooms_page(ctx, 400, error=str(exc))
    await ctx.audit("desk.out_of_use" if out else "desk.in_use", desk_id)
    return ctx.redirect(f"/sites/{ctx.site_id}/rooms?done=desk")


@guard("site", *ROOM_ROLES, upload=True)
async def floor_upload(ctx: Ctx) -> Response:
    """Import a floor plan file (.json, .svg, .csv with width and height), replacing that
    floor, as ``tapin central floor-import`` does (audited: ``floor.import``)."""
    assert ctx.site_id is not None
    upload = ctx.files.get("file")
    try:
        floor_text = ctx.form.get("floor", "").strip()
        if not floor_text.lstrip("-").isdigit() or not -20 <= int(floor_text) <= 300:
            raise FloorError(ctx._("The floor must be a whole number from -20 to 300."))
        if upload is None or not upload[1]:
            raise FloorError(ctx._("Choose the floor plan file."))
        sizes = [ctx.form.get(k, "").strip() for k in ("width", "height")]
        try:
            width, height = (float(s) if s else None for s in sizes)
        except ValueError:
            raise FloorError(ctx._("Width and height are numbers.")) from None
        plan = parse_floor(
            upload[1], upload[0], width=width, height=height, name=ctx.form.get("name") or None
        )
        async with ctx.pool.connection() as conn:
            report = await import_floor(conn, ctx.site_id, int(floor_text), plan)
    except FloorError as exc:
        return await _rooms_page(ctx, 400, error=ctx._("Floor plan refused: {why}").format(why=exc))
    await ctx.audit("floor.import", str(report.floor))
    return ctx.redirect(f"/sites/{ctx.site_id}/rooms?done=floor")
