"""Floor plans: where each desk and room of a site is drawn, per floor.

Imported by ``tapin central floor-import`` from one of three formats (see
docs/central.md, "Staff: desks and floor plans"):

JSON
    One element of the ``floors`` snapshot without ``floor``: ``{name?, width, height,
    image?, outline?, desks: [{id, x, y, w, h, rotation?, neighbourhood?}], rooms: [{id,
    x, y, w, h}]}``; ``image`` is ``{"png_b64", "sha256"?}`` (a PNG of at most 2 MiB).
CSV
    Lines ``kind,id,x,y,w,h[,rotation[,neighbourhood]]`` (kind ``desk`` or ``room``; an
    optional header line starting with ``kind``; ``#`` comments); the size comes from
    ``--width``/``--height``.
SVG
    ``<rect id="desk:<id>">`` / ``<rect id="room:<id>">`` elements (anywhere, also in
    groups without a transform) with plain-number ``x``, ``y``, ``width``, ``height``, a
    desk's ``transform="rotate(a)"`` as its rotation, ``data-neighbourhood``; an optional
    ``<polygon id="outline" points="...">``; the size from ``viewBox`` (origin 0 0) or
    ``width``/``height``. Everything else is ignored (no image is made from it). DTDs and
    entities are refused (``defusedxml``).

The parsers are in :mod:`central.floor_formats` (re-exported here). Every parser raises
:class:`FloorError` with a one-line reason; :func:`import_floor`
checks the ids against the site's directory and stores the floor in one transaction,
replacing the floor's previous plan (nothing is stored when anything is wrong).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import psycopg

from central.errors import NotFound
from central.floor_formats import (
    MAX_FILE_BYTES,
    MAX_IMAGE_BYTES,
    FloorError,
    FloorPlan,
    Place,
    parse_floor,
)
from central.floor_formats import out_number as _out

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_IMAGE_BYTES",
    "FloorError",
    "FloorPlan",
    "Place",
    "floors_document",
    "import_floor",
    "parse_floor",
]


@dataclass(frozen=True, slots=True)
class ImportReport:
    site_id: str
    floor: int
    desks: int
    rooms: int


async def import_floor(
    conn: psycopg.AsyncConnection, site_id: str, floor: int, plan: FloorPlan
) -> ImportReport:
    """Store ``plan`` as floor ``floor`` of ``site_id``, replacing it, in one transaction.

    Raises :class:`NotFound` for an unknown site and :class:`FloorError` for a desk or
    room that is not at the site or not on that floor (nothing is stored then).
    """
    async with conn.transaction():
        cur = await conn.execute("SELECT 1 FROM sites WHERE id = %s", [site_id])
        if await cur.fetchone() is None:
            raise NotFound(f"there is no site {site_id!r}")
        for kind in ("desk", "room"):
            ids = [p.id for p in plan.places if p.kind == kind]
            cur = await conn.execute(
                f"SELECT id, floor FROM {kind}s WHERE site_id = %s AND id = ANY(%s)",
                [site_id, ids],
            )
            floors: dict[str, int] = dict(await cur.fetchall())
            for pid in ids:
                if pid not in floors:
                    raise FloorError(f"{kind} {pid} is not a {kind} of site {site_id}")
                if floors[pid] != floor:
                    raise FloorError(f"{kind} {pid} is on floor {floors[pid]}, not {floor}")
        await conn.execute("DELETE FROM floors WHERE site_id = %s AND floor = %s", [site_id, floor])
        await conn.execute(
            "INSERT INTO floors (site_id, floor, name, width, height, outline, image_png)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                site_id,
                floor,
                plan.name or f"Floor {floor}",
                plan.width,
                plan.height,
                json.dumps(plan.outline),
                plan.image_png,
            ],
        )
        desks = [p for p in plan.places if p.kind == "desk"]
        rooms = [p for p in plan.places if p.kind == "room"]
        async with conn.cursor() as c:
            await c.executemany(
                "INSERT INTO floor_desks (desk_id, site_id, floor, x, y, w, h, rotation)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [(p.id, site_id, floor, p.x, p.y, p.w, p.h, p.rotation) for p in desks],
            )
            await c.executemany(
                "INSERT INTO floor_rooms (room_id, site_id, floor, x, y, w, h)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(p.id, site_id, floor, p.x, p.y, p.w, p.h) for p in rooms],
            )
            await c.executemany(
                "UPDATE desks SET neighbourhood = %s WHERE id = %s",
                [(p.neighbourhood, p.id) for p in desks if p.neighbourhood is not None],
            )
    return ImportReport(site_id, floor, len(desks), len(rooms))


async def floors_document(conn: psycopg.AsyncConnection, site_id: str) -> dict[str, Any]:
    """The ``floors`` snapshot's document: every floor plan of the site, by floor."""
    cur = await conn.execute(
        "SELECT floor, name, width, height, image_png, outline FROM floors"
        " WHERE site_id = %s ORDER BY floor",
        [site_id],
    )
    floors = await cur.fetchall()
    places: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for kind, sql in (
        ("desk", "SELECT floor, desk_id, x, y, w, h, rotation FROM floor_desks"),
        ("room", "SELECT floor, room_id, x, y, w, h FROM floor_rooms"),
    ):
        cur = await conn.execute(f"{sql} WHERE site_id = %s ORDER BY 2", [site_id])
        keys = ("id", "x", "y", "w", "h", "rotation")
        for floor, pid, *numbers in await cur.fetchall():
            entry = {"id": pid} | {k: _out(v) for k, v in zip(keys[1:], numbers, strict=False)}
            places.setdefault((kind, floor), []).append(entry)
    return {
        "site_id": site_id,
        "floors": [
            {
                "floor": floor,
                "name": name,
                "width": _out(width),
                "height": _out(height),
                "image": None
                if png is None
                else {
                    "png_b64": base64.b64encode(png).decode("ascii"),
                    "sha256": hashlib.sha256(png).hexdigest(),
                },
                "outline": [[_out(x), _out(y)] for x, y in outline],
                "desks": places.get(("desk", floor), []),
                "rooms": places.get(("room", floor), []),
            }
            for floor, name, width, height, png, outline in floors
        ],
    }
