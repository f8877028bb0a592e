"""The demo site's staff side: floor plans, desks' neighbourhoods, today's desk bookings,
and the demo central's answers to desk bookings and check-ins.

:func:`floors_snapshot` is the ``floors`` snapshot central would send (from
``assets/demo/floors.json`` when that file exists, else laid out here: every demo desk
and room placed on floors 2, 3 and 4); :meth:`DemoDesks.snapshot` today's bookings
(one private, one by an invisible person: both shown booked with no name; one desk out
of use). :class:`DemoDesks` answers ``booking.create`` / ``booking.end`` for
``desk:<id>`` and ``desk.checkin`` as central would: a desk already booked for an
overlapping time is refused with ``conflict`` (central's EXCLUDE constraint), and it
publishes the new ``desk_bookings`` snapshot to every runtime it serves (two demo
kiosks can share one).

Made-up data, memory only. Shapes: ``/work/helpers/staff-contract.md``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import assets
from sync.events import DESK_PARTS, Code, EventType

if TYPE_CHECKING:
    from tapin.device.runtime import Runtime
    from tapin.domain import Site

__all__ = [
    "DemoDesks",
    "demo_floor_image",
    "desks_snapshot",
    "floors_data",
    "floors_snapshot",
]

log = logging.getLogger(__name__)

FLOOR_WIDTH, FLOOR_HEIGHT = 1200, 700


@functools.cache
def floors_data() -> dict[str, Any]:
    """``assets/demo/floors.json`` (floors, neighbourhoods, today's bookings), or ``{}``
    when it is missing or unreadable (then the floors are laid out here)."""
    try:
        data: dict[str, Any] = json.loads(assets.path("demo", "floors.json").read_text("utf-8"))
    except (OSError, ValueError):
        log.warning("assets/demo/floors.json is missing or unreadable; laying floors out")
        return {}
    return data


def _neighbourhood(desk: Any) -> str:
    known = floors_data().get("neighbourhoods")
    if isinstance(known, dict):
        return str(known.get(desk.id, ""))
    return {2: "Product", 3: "Platform", 4: "Sales"}.get(desk.floor, "")


def _bookings() -> list[dict[str, Any]]:
    listed = floors_data().get("bookings")
    if isinstance(listed, list):
        return listed
    return [
        {"booking_id": "b-demo-1", "desk_id": "d-201", "part": "day", "booked_by": "p-anna",
         "private": False, "checked_in": True},
        {"booking_id": "b-demo-2", "desk_id": "d-202", "part": "day", "booked_by": "p-carla",
         "private": True, "checked_in": False},
        {"booking_id": "b-demo-3", "desk_id": "d-206", "part": "day", "booked_by": "p-farid",
         "private": False, "checked_in": False},
    ]  # fmt: skip


def _unavailable() -> tuple[str, ...]:
    listed = floors_data().get("unavailable")
    return tuple(str(d) for d in listed) if isinstance(listed, list) else ("d-207",)


def desks_snapshot(site: Site) -> dict[str, Any]:
    """The ``desks`` snapshot of the demo site, with each desk's neighbourhood."""
    return {
        "site_id": site.id,
        "desks": [
            {
                "id": d.id,
                "name": d.name,
                "floor": d.floor,
                "zone": d.zone,
                "equipment": list(d.equipment),
                "neighbourhood": _neighbourhood(d),
            }
            for d in site.desks
        ],
    }


def _laid_out(site: Site) -> dict[str, Any]:
    floors = sorted({d.floor for d in site.desks} | {r.floor for r in site.rooms})
    plans = []
    for number in floors:
        desks = [d for d in site.desks if d.floor == number]
        rooms = [r for r in site.rooms if r.floor == number]
        placed_rooms, x = [], 60
        for room in rooms:
            width = 160 + 10 * min(room.capacity, 20)
            placed_rooms.append({"id": room.id, "x": x, "y": 50, "w": width, "h": 200})
            x += width + 30
        placed_desks = []
        for index, desk in enumerate(desks):
            row, col = divmod(index, 4)
            placed_desks.append(
                {
                    "id": desk.id,
                    "x": 80 + col * 140,
                    "y": 360 + row * 90,
                    "w": 120,
                    "h": 70,
                    "rotation": 0,
                }
            )
        plans.append(
            {
                "floor": number,
                "name": f"Floor {number}",
                "width": FLOOR_WIDTH,
                "height": FLOOR_HEIGHT,
                "image": None,
                "outline": [
                    [20, 20],
                    [FLOOR_WIDTH - 20, 20],
                    [FLOOR_WIDTH - 20, FLOOR_HEIGHT - 20],
                    [20, FLOOR_HEIGHT - 20],
                ],
                "desks": placed_desks,
                "rooms": placed_rooms,
            }
        )
    return {"site_id": site.id, "floors": plans}


def floors_snapshot(site: Site) -> dict[str, Any]:
    """The ``floors`` snapshot: the floors of ``assets/demo/floors.json`` (central's
    demo seed reads the same file), else every demo desk and room laid out here."""
    floors = floors_data().get("floors")
    if isinstance(floors, list):
        return {"site_id": site.id, "floors": floors}
    return _laid_out(site)


def demo_floor_image(plan: Mapping[str, Any], per_unit: float = 2.0) -> bytes:
    """A simple architect's plan of a floor (``floors`` snapshot shape) as a PNG: black
    lines on white, ``per_unit`` pixels a floor unit: the outer walls with windows, a
    wall round each room with a door, a stair and lift core and a kitchen counter where
    nothing is placed. ``assets/demo/floors.json`` holds these (``image``); the floor
    map draws them under the desks and rooms. Raises ``KeyError``/``ValueError`` for a
    plan without ``width``/``height``."""
    import io

    from PIL import Image, ImageDraw

    width, height = float(plan["width"]), float(plan["height"])
    image = Image.new("L", (round(width * per_unit), round(height * per_unit)), 255)
    draw = ImageDraw.Draw(image)

    def px(x: float, y: float) -> tuple[float, float]:
        return (x * per_unit, y * per_unit)

    def line(a: tuple[float, float], b: tuple[float, float], w: float, ink: int = 20) -> None:
        draw.line([px(*a), px(*b)], fill=ink, width=max(1, round(w * per_unit)))

    outline = [tuple(p) for p in plan.get("outline") or []] or [
        (0, 0), (width, 0), (width, height), (0, height)
    ]  # fmt: skip
    for n, a in enumerate(outline):
        b = outline[(n + 1) % len(outline)]
        line(a, b, 10)
        # windows: pale breaks in the wall, every 120 units
        length = ((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5
        for k in range(1, int(length // 120)):
            t0, t1 = (k * 120 - 35) / length, (k * 120 + 35) / length
            p0 = (a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0)
            p1 = (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)
            line(p0, p1, 4, ink=170)
    taken = [
        (float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"]))
        for r in [*plan.get("rooms", []), *plan.get("desks", [])]
    ]
    for room in plan.get("rooms", []):
        x, y, w, h = (float(room[k]) for k in ("x", "y", "w", "h"))
        x0, y0, x1, y1 = x - 10, y - 10, x + w + 10, y + h + 10
        door = min(60.0, w / 3)
        line((x0, y0), (x1, y0), 5)
        line((x1, y0), (x1, y1), 5)
        line((x0, y1), (x0, y0), 5)
        line((x0, y1), (x0 + 20, y1), 5)  # the door, in the wall towards the corridor
        line((x0 + 20 + door, y1), (x1, y1), 5)
        draw.arc([px(x0 + 20 - door, y1 - door), px(x0 + 20 + door, y1 + door)], 270, 360, fill=90)

    def free(x: float, y: float, w: float, h: float) -> bool:
        inside = x >= 0 and y >= 0 and x + w <= width and y + h <= height
        return inside and all(
            x + w + 20 < ox or ox + ow + 20 < x or y + h + 20 < oy or oy + oh + 20 < y
            for ox, oy, ow, oh in taken
        )

    spots = [
        (x, y) for y in range(40, int(height) - 150, 20) for x in range(40, int(width) - 220, 20)
    ]
    core = next(((x, y) for x, y in reversed(spots) if free(x, y, 200, 130)), None)
    if core is not None:  # stairs (treads) and a lift (a box with a cross)
        cx, cy = core
        taken.append((cx, cy, 200, 130))
        for k in range(0, 111, 10):
            line((cx, cy + 10 + k), (cx + 100, cy + 10 + k), 1.5, ink=60)
        line((cx, cy), (cx + 200, cy), 5)
        line((cx + 200, cy), (cx + 200, cy + 130), 5)
        line((cx + 200, cy + 130), (cx, cy + 130), 5)
        line((cx, cy + 130), (cx, cy), 5)
        line((cx + 120, cy + 20), (cx + 180, cy + 110), 2, ink=60)
        line((cx + 180, cy + 20), (cx + 120, cy + 110), 2, ink=60)
        line((cx + 120, cy + 20), (cx + 180, cy + 20), 2, ink=60)
        line((cx + 120, cy + 110), (cx + 180, cy + 110), 2, ink=60)
    kitchen = next(((x, y) for x, y in spots if free(x, y, 200, 100)), None)
    if kitchen is not None:  # a counter along two sides
        kx, ky = kitchen
        line((kx, ky + 100), (kx, ky), 14, ink=120)
        line((kx, ky), (kx + 200, ky), 14, ink=120)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _part(day: date, part: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start, end = DESK_PARTS[part]
    return (
        datetime.combine(day, time.fromisoformat(start), tzinfo=zone),
        datetime.combine(day, time.fromisoformat(end), tzinfo=zone),
    )


class DemoDesks:
    """Today's desk bookings as the demo central holds them, answering desk events.

    ``runtimes``: the demo kiosks it publishes the ``desk_bookings`` snapshot to."""

    def __init__(self, *runtimes: Runtime) -> None:
        self.runtimes = list(runtimes)
        self._day: date | None = None
        self._bookings: dict[str, dict[str, Any]] = {}
        self._private: set[str] = set()
        self._invisible: set[str] = set()

    @property
    def _runtime(self) -> Runtime:
        return self.runtimes[0]

    def _today(self) -> date:
        runtime = self._runtime
        zone = runtime.site.timezone
        day = runtime.clock().astimezone(zone).date()
        if day != self._day:
            self._day = day
            self._bookings = {}
            self._private = set()
            hidden = {p.id for p in runtime.site.people if not p.visible}
            for entry in _bookings():
                start, end = _part(day, str(entry["part"]), zone)
                booking_id = str(entry["booking_id"])
                self._bookings[booking_id] = {
                    "booking_id": booking_id,
                    "desk_id": entry["desk_id"],
                    "start": start,
                    "end": end,
                    "person_id": entry.get("booked_by"),
                    "checked_in": entry.get("checked_in") is True,
                }
                if entry.get("private") or entry.get("booked_by") in hidden:
                    self._private.add(booking_id)
        return day

    def snapshot(self) -> dict[str, Any]:
        """The ``desk_bookings`` snapshot of today (private and invisible bookers: null)."""
        day = self._today()
        hidden = {p.id for p in self._runtime.site.people if not p.visible}
        return {
            "day": day.isoformat(),
            "bookings": [
                {
                    "booking_id": b["booking_id"],
                    "desk_id": b["desk_id"],
                    "start": b["start"].isoformat(),
                    "end": b["end"].isoformat(),
                    "person_id": None
                    if b["booking_id"] in self._private or b["person_id"] in hidden
                    else b["person_id"],
                    "checked_in": b["checked_in"],
                }
                for b in sorted(self._bookings.values(), key=lambda b: (b["desk_id"], b["start"]))
                if b["end"] > b["start"]
            ],
            "unavailable": list(_unavailable()),
        }

    def publish(self) -> None:
        """Every served kiosk's ``desk_bookings`` refreshed, as its snapshot job would."""
        data = self.snapshot()
        for runtime in self.runtimes:
            runtime.apply_snapshot("desk_bookings", data)

    def take(
        self,
        kind: str,
        resource: str,
        payload: Mapping[str, Any],
        starts_at: str | None,
        ends_at: str | None,
        created_at: str,
    ) -> dict[str, Any] | None:
        """Apply a desk event; returns a refusal (``code``, ``detail``) or ``None``."""
        self._today()
        booking_id = str(payload.get("booking_id"))
        if kind == EventType.BOOKING_CREATE:
            if booking_id in self._bookings:
                return None  # a repeat: applied once
            if not starts_at or not ends_at:
                return {"code": Code.INVALID}
            desk = resource.removeprefix("desk:")
            start, end = datetime.fromisoformat(starts_at), datetime.fromisoformat(ends_at)
            if desk in _unavailable():
                return {"code": Code.STATE}
            for other in self._bookings.values():
                if other["desk_id"] == desk and other["start"] < end and other["end"] > start:
                    return {
                        "code": Code.CONFLICT,
                        "detail": {
                            "with": "booking",
                            "start": other["start"].isoformat(),
                            "end": other["end"].isoformat(),
                        },
                    }
            self._bookings[booking_id] = {
                "booking_id": booking_id,
                "desk_id": desk,
                "start": start,
                "end": end,
                "person_id": payload.get("booked_by"),
                "checked_in": False,
            }
            if payload.get("private"):
                self._private.add(booking_id)
            return None
        booking = self._bookings.get(booking_id)
        if booking is None:
            return {"code": Code.NOT_FOUND}
        if kind == EventType.BOOKING_END:
            now = datetime.fromisoformat(ends_at) if ends_at else datetime.fromisoformat(created_at)
            if now <= booking["start"]:
                del self._bookings[booking_id]
            else:
                booking["end"] = min(booking["end"], now)
            return None
        if kind == EventType.DESK_CHECKIN:
            booking["checked_in"] = True
            return None
        return {"code": Code.INVALID}
