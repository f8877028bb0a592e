"""The staff side's snapshots of a lobby kiosk: ``desks`` (with each desk's
neighbourhood), ``floors`` (the site's floor plans) and ``desk_bookings`` (today's),
checked as strictly as the others (:mod:`tapin.device.snapshots`): a malformed one
raises :class:`SnapshotError` naming the field and nothing else.

Memory only, like every snapshot. ``desk_bookings`` names who booked (a person id, or
null for a private booking, an invisible or unknown booker); the kiosk shows a name
only for a person its visible directory has.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tapin.device.snapshots import (
    _MAX_ITEMS,
    SnapshotError,
    _ident,
    _int,
    _items,
    _sha256,
    _str,
    _text,
    _time,
)
from tapin.domain import Desk

__all__ = [
    "MAX_FLOOR_IMAGE",
    "DeskBooking",
    "DeskBookings",
    "Floor",
    "FloorPlans",
    "Placed",
    "parse_desk_bookings",
    "parse_desks",
    "parse_floors",
]

MAX_FLOOR_IMAGE = 2 * 1024 * 1024
"""Bytes of a floor's background PNG (decoded)."""
_MAX_COORD = 1_000_000.0


@dataclass(frozen=True, slots=True)
class Placed:
    """A desk or room drawn on a floor: its box in the floor's own units (origin top
    left, y down) and its rotation in degrees."""

    id: str
    x: float
    y: float
    w: float
    h: float
    rotation: float = 0.0


@dataclass(frozen=True, slots=True)
class Floor:
    floor: int
    name: str
    width: float
    height: float
    outline: tuple[tuple[float, float], ...]
    desks: tuple[Placed, ...]
    rooms: tuple[Placed, ...]
    image: bytes | None = field(default=None, repr=False)
    """The floor's background PNG, when central has one."""
    image_sha256: str = ""


@dataclass(frozen=True, slots=True)
class FloorPlans:
    site_id: str
    floors: tuple[Floor, ...]

    def floor(self, number: int) -> Floor | None:
        return next((f for f in self.floors if f.floor == number), None)


@dataclass(frozen=True, slots=True)
class DeskBooking:
    booking_id: str
    desk_id: str
    start: datetime
    end: datetime
    person_id: str | None = field(repr=False)
    """``None``: private, an invisible or an unknown booker (shown booked, no name)."""
    checked_in: bool = False


@dataclass(frozen=True, slots=True)
class DeskBookings:
    """Today's desk bookings at the kiosk's site (memory only)."""

    day: date
    bookings: tuple[DeskBooking, ...]
    unavailable: frozenset[str]

    def __repr__(self) -> str:
        return f"DeskBookings(day={self.day}, bookings={len(self.bookings)})"


def _number(item: Any, key: str, *, default: float | None = None) -> float:
    value = item.get(key, default) if isinstance(item, dict) else None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not -_MAX_COORD <= value <= _MAX_COORD
    ):
        raise SnapshotError(f"field {key!r} must be a number")
    return float(value)


def _placed(item: Any, width: float, height: float) -> Placed:
    if not isinstance(item, dict):
        raise SnapshotError("each placed desk or room must be an object")
    placed = Placed(
        id=_ident(item, "id", limit=64),
        x=_number(item, "x"),
        y=_number(item, "y"),
        w=_number(item, "w"),
        h=_number(item, "h"),
        rotation=_number(item, "rotation", default=0),
    )
    if placed.w <= 0 or placed.h <= 0:
        raise SnapshotError("a placed desk or room must have a positive size")
    if placed.x < 0 or placed.y < 0 or placed.x + placed.w > width or placed.y + placed.h > height:
        raise SnapshotError("a placed desk or room lies outside its floor")
    return placed


def _image(item: dict[str, Any]) -> tuple[bytes | None, str]:
    image = item.get("image")
    if image is None:
        return None, ""
    if not isinstance(image, dict):
        raise SnapshotError("field 'image' must be an object or null")
    encoded = _str(image, "png_b64", limit=MAX_FLOOR_IMAGE * 4 // 3 + 8)
    try:
        png = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SnapshotError("field 'png_b64' is not base64") from None
    if not png.startswith(b"\x89PNG\r\n\x1a\n") or len(png) > MAX_FLOOR_IMAGE:
        raise SnapshotError("a floor image must be a PNG of at most 2 MiB")
    digest = _sha256(image, "sha256")
    if hashlib.sha256(png).hexdigest() != digest:
        raise SnapshotError("a floor image does not match its sha256")
    return png, digest


def _floor(item: Any) -> Floor:
    if not isinstance(item, dict):
        raise SnapshotError("each floor must be an object")
    width, height = _number(item, "width"), _number(item, "height")
    if width <= 0 or height <= 0:
        raise SnapshotError("a floor must have a positive width and height")
    outline = item.get("outline") or []
    if not isinstance(outline, list) or len(outline) > _MAX_ITEMS:
        raise SnapshotError("field 'outline' must be a list of points")
    points = []
    for point in outline:
        if not isinstance(point, list) or len(point) != 2:
            raise SnapshotError("each outline point must be [x, y]")
        points.append((_number({"v": point[0]}, "v"), _number({"v": point[1]}, "v")))
    image, digest = _image(item)
    desks = tuple(_placed(d, width, height) for d in _items(item, "desks"))
    rooms = tuple(_placed(r, width, height) for r in _items(item, "rooms"))
    if len({d.id for d in desks}) != len(desks) or len({r.id for r in rooms}) != len(rooms):
        raise SnapshotError("a desk or room is placed twice on a floor")
    return Floor(
        floor=_int(item, "floor"),
        name=_text(item, "name", limit=100),
        width=width,
        height=height,
        outline=tuple(points),
        desks=desks,
        rooms=rooms,
        image=image,
        image_sha256=digest,
    )


def parse_floors(data: Any) -> FloorPlans:
    """The ``floors`` snapshot: every floor plan of the site. Raises
    :class:`SnapshotError` for a bad shape (a desk outside its floor, a floor twice, an
    image that is not a PNG of at most :data:`MAX_FLOOR_IMAGE` or not its sha256)."""
    if not isinstance(data, dict):
        raise SnapshotError("snapshot must be a JSON object")
    floors = tuple(_floor(item) for item in _items(data, "floors"))
    if len({f.floor for f in floors}) != len(floors):
        raise SnapshotError("a floor is listed twice")
    return FloorPlans(
        site_id=_ident(data, "site_id", limit=64),
        floors=tuple(sorted(floors, key=lambda f: f.floor)),
    )


def parse_desk_bookings(data: Any) -> DeskBookings:
    """The ``desk_bookings`` snapshot: today's desk bookings and the desks out of use.
    Raises :class:`SnapshotError` for a bad shape (a booking id twice, an end not after
    its start, a bad id)."""
    if not isinstance(data, dict):
        raise SnapshotError("snapshot must be a JSON object")
    text = _str(data, "day", limit=10)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise SnapshotError("field 'day' must be a date like 2026-12-01") from None
    bookings = []
    for item in _items(data, "bookings"):
        if not isinstance(item, dict):
            raise SnapshotError("each desk booking must be an object")
        start, end = _time(item, "start"), _time(item, "end")
        if end <= start:
            raise SnapshotError("a desk booking ends before it starts")
        bookings.append(
            DeskBooking(
                booking_id=_ident(item, "booking_id"),
                desk_id=_ident(item, "desk_id", limit=64),
                start=start,
                end=end,
                person_id=_ident(item, "person_id", optional=True, limit=64),
                checked_in=item.get("checked_in") is True,
            )
        )
    if len({b.booking_id for b in bookings}) != len(bookings):
        raise SnapshotError("a desk booking id is listed twice")
    listed = data.get("unavailable") or []
    if not isinstance(listed, list) or len(listed) > _MAX_ITEMS:
        raise SnapshotError("field 'unavailable' must be a list of desk ids")
    unavailable = frozenset(_ident({"id": d}, "id", limit=64) for d in listed)
    return DeskBookings(day=day, bookings=tuple(bookings), unavailable=unavailable)


def parse_desks(data: Any) -> tuple[tuple[Desk, ...], dict[str, str]]:
    """The ``desks`` snapshot: the site's desks and each desk's neighbourhood (the team
    that sits there, ``""`` for none)."""
    desks, neighbourhoods = [], {}
    for item in _items(data, "desks"):
        if not isinstance(item, dict):
            raise SnapshotError("each desk must be an object")
        equipment = item.get("equipment") or []
        if not isinstance(equipment, list) or not all(isinstance(e, str) for e in equipment):
            raise SnapshotError("desk field 'equipment' must be a list of strings")
        desk = Desk(
            id=_ident(item, "id", limit=64),
            name=_text(item, "name", limit=100),
            floor=_int(item, "floor"),
            zone=_text(item, "zone", optional=True, limit=100) or "",
            equipment=tuple(equipment),
        )
        desks.append(desk)
        neighbourhoods[desk.id] = _text(item, "neighbourhood", optional=True, limit=200) or ""
    return tuple(desks), neighbourhoods
