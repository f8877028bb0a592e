"""The rooms part of the kiosk's staff side (:class:`kiosk.staff.StaffController` is a
:class:`StaffRooms`): which rooms are free now or for the next hour, with seats and
equipment as filters, and booking one from now for 15/30/45/60 minutes, never past its
next busy interval (the panel's "book now", :func:`tapin.rooms.book_now_choices`). A
booking is ``booking.create`` for ``room:<id>``, shown busy at once and undone if central
refuses it. No Kivy; read from the runtime's memory (``availability``, ``rooms``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sync.events import BookingCreate
from tapin.calendar import day_bounds, site_day
from tapin.domain import Meeting, Person, Room
from tapin.i18n import _
from tapin.pending import ActionError, PendingActions

if TYPE_CHECKING:
    from tapin.device.runtime import Runtime

__all__ = ["FreeRoom", "StaffRooms"]

log = logging.getLogger("kiosk.staff")


@dataclass(frozen=True, slots=True)
class FreeRoom:
    room: Room
    free_until: datetime | None
    """When the room's next busy interval starts (``None``: free for the rest of the day)."""
    choices: tuple[int, ...]
    """Minutes "book now" offers (the panel's rule)."""


class StaffRooms(PendingActions):
    """Free rooms and "book now" at the kiosk, over the runtime's memory."""

    runtime: Runtime
    who: Person | None
    _rooms: dict[str, tuple[str, datetime, datetime]]
    """Room bookings made here today: booking id -> (room, start, end)."""

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def _unbook_room(self, booking_id: str) -> None:
        self._rooms.pop(booking_id, None)

    # rooms -------------------------------------------------------------------------------

    def _busy(self, room_id: str) -> list[tuple[datetime, datetime]]:
        spans = list((self.runtime.availability or {}).get(room_id, ()))
        spans += [(s, e) for r, s, e in self._rooms.values() if r == room_id]
        return sorted(spans)

    def room_state(self, room_id: str) -> str:
        """``free`` or ``busy`` now (``unknown`` without free/busy for it)."""
        if self.runtime.availability is None or room_id not in self.runtime.availability:
            return "unknown"
        now = self.now()
        return "busy" if any(s <= now < e for s, e in self._busy(room_id)) else "free"

    def room_states(self) -> dict[str, str]:
        return {room.id: self.room_state(room.id) for room in self.runtime.site.rooms}

    def book_choices(self, room_id: str) -> list[int]:
        """The panel's "book now" minutes for ``room_id`` from now."""
        from tapin.rooms import book_now_choices

        now = self.now()
        zone = self.runtime.site.timezone
        _start, day_end = day_bounds(site_day(now, zone), zone)
        meetings = [
            Meeting(id=f"busy-{i}", room_id=room_id, start=s, end=e)
            for i, (s, e) in enumerate(self._busy(room_id))
        ]
        return book_now_choices(meetings, now, day_end=day_end)

    def free_rooms(
        self,
        *,
        minutes: int = 0,
        capacity: int = 0,
        equipment: Iterable[str] = (),
        floor: int | None = None,
    ) -> list[FreeRoom]:
        """Rooms free now (``minutes`` 60: for the next hour), seating at least
        ``capacity``, with all of ``equipment``; by floor and name. Rooms without
        free/busy are left out (the kiosk cannot say they are free)."""
        wanted = set(equipment)
        now = self.now()
        found = []
        for room in self.runtime.site.rooms:
            if room.capacity < capacity or not wanted <= set(room.equipment):
                continue
            if floor is not None and room.floor != floor:
                continue
            if self.room_state(room.id) != "free":
                continue
            choices = self.book_choices(room.id)
            if not choices or (minutes and max(choices) < minutes):
                continue
            upcoming = [s for s, _e in self._busy(room.id) if s > now]
            found.append(FreeRoom(room, min(upcoming) if upcoming else None, tuple(choices)))
        return sorted(found, key=lambda f: (f.room.floor, f.room.name.casefold()))

    def equipment(self) -> list[str]:
        """Every kind of equipment the site's rooms have (for the filters)."""
        return sorted({e for r in self.runtime.site.rooms for e in r.equipment})

    async def book_room(self, room_id: str, minutes: int) -> str:
        """Book ``room_id`` from now for ``minutes`` (one of :meth:`book_choices`), for
        the person identified when there is one. Returns the booking id. Raises
        :class:`ActionError` when the room is not free that long or it cannot be saved."""
        if minutes not in self.book_choices(room_id):
            raise ActionError(_("The room is not free for that long"))
        start = self.now().replace(second=0, microsecond=0)
        end = start + timedelta(minutes=minutes)
        booking_id = f"b-{uuid.uuid4()}"
        self._rooms[booking_id] = (room_id, start, end)
        who = self.who.id if self.who is not None else None
        await self.send(
            BookingCreate(booking_id=booking_id, booked_by=who),
            f"room:{room_id}",
            undo=lambda: self._unbook_room(booking_id),
            starts_at=start,
            ends_at=end,
        )
        log.info("room %s booked at the kiosk (%d min)", room_id, minutes)
        return booking_id
