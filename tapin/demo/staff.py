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
