"""What staff do at the lobby kiosk: say who they are, book a desk for today, check in,
release it, find a free room and book it, find a colleague. No Kivy.

Every action is a sealed event in the queue (:class:`tapin.pending.PendingActions`),
shown at once as pending and confirmed or undone by central:

* a desk: ``booking.create`` for ``desk:<id>`` over a part of the day
  (:data:`sync.events.DESK_PARTS`, site-local; a part already begun starts now, rounded
  down to the minute), ``booked_by`` the person identified, ``private`` when asked;
  release is ``booking.end`` (ends now); check-in is ``desk.checkin``;
* a room (:mod:`kiosk.staff_rooms`): ``booking.create`` for ``room:<id>`` from now,
  for 15/30/45/60 minutes and never past the room's next busy interval (the panel's "book now",
  :func:`tapin.rooms.book_now_choices`).

Who someone is comes from the visible directory only (:class:`tapin.calendar.Directory`
holds no one else): a badge id typed by the USB reader, a phone's QR code
``TAPIN-STAFF:<badge_id>``, or a name picked from a search. An invisible person can
be identified by none of them, is in no result and no count, and their desk booking
shows as booked with no name (central already sends ``person_id`` null for them).

Everything is read from the runtime's memory (``desks``, ``floors``,
``desk_bookings``, ``availability``, ``rooms``, ``directory``): offline the map and
today's desks stay usable and bookings wait in the queue. Nothing here logs personal
data: ids, kinds and counts only.
"""

from __future__ import annotations

import logging
import unicodedata
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from kiosk.staff_rooms import FreeRoom, StaffRooms
from sync.events import DESK_PARTS, STAFF_QR_PREFIX, BookingCreate, BookingEnd, DeskCheckin
from tapin.calendar import day_bounds, site_day
from tapin.device.staff_snapshots import DeskBooking, Floor, Placed
from tapin.domain import Desk, Person
from tapin.i18n import _
from tapin.pending import ActionError

if TYPE_CHECKING:
    from sync.queue import EventSink
    from tapin.device.runtime import Runtime

__all__ = [
    "DESK_STATES",
    "MAX_BADGE",
    "PARTS",
    "FreeRoom",
    "PersonFound",
    "StaffController",
    "floor_dict",
]

log = logging.getLogger(__name__)

PARTS = ("morning", "afternoon", "day")
"""The parts of today a desk is booked for (:data:`sync.events.DESK_PARTS`)."""
DESK_STATES = ("free", "booked", "yours", "unavailable")
MAX_BADGE = 64
"""Characters of a badge id (what the reader types, or what follows the QR prefix)."""
MAX_RESULTS = 6


@dataclass(frozen=True, slots=True)
class PersonFound:
    """A visible colleague and where they sit today (``None``: no desk booked, or booked
    privately)."""

    person: Person
    desk: Desk | None

    def __repr__(self) -> str:
        return f"PersonFound(person={self.person.id!r})"


@dataclass
class _Local:
    """A booking made at this kiosk that central's snapshot may not show yet."""

    booking: DeskBooking
    confirmed: bool = False
    private: bool = False


@dataclass
class _Tweaks:
    ended: dict[str, datetime] = field(default_factory=dict)
    """Booking id -> when it was released here."""
    checked_in: set[str] = field(default_factory=set)


def _clean_badge(text: object) -> str | None:
    """What a badge reader (or a QR code) gave, without spaces and controls; ``None``
    when it cannot be a badge id."""
    if not isinstance(text, str) or len(text) > MAX_BADGE * 2:
        return None
    kept = "".join(c for c in text if unicodedata.category(c)[0] not in ("C", "Z"))
    if not kept or len(kept) > MAX_BADGE:
        return None
    return kept


class StaffController(StaffRooms):
    """The staff side of one lobby kiosk, over the runtime's memory."""

    def __init__(self, runtime: Runtime, sink: EventSink) -> None:
        super().__init__(
            sink,
            clock=lambda: runtime.clock(),
            zone=lambda: runtime.site.timezone,
            h24=lambda: runtime.h24,
        )
        self.runtime = runtime
        self.who: Person | None = None
        """The member of staff identified at the kiosk now (forgotten on the way home)."""
        self._local: dict[str, _Local] = {}
        self._tweaks = _Tweaks()
        self._rooms: dict[str, tuple[str, datetime, datetime]] = {}
        """Room bookings made here today: booking id -> (room, start, end)."""

    # who -------------------------------------------------------------------------------

    def identify_badge(self, text: object) -> Person | None:
        """The visible person whose badge the reader typed (``None``: nobody visible)."""
        badge = _clean_badge(text)
        person = self.runtime.directory.by_badge(badge) if badge is not None else None
        self.who = person
        return person

    def identify_qr(self, text: object) -> Person | None:
        """A phone's ``TAPIN-STAFF:<badge_id>`` code: its visible person, else ``None``
        (anything else is not a staff code)."""
        if not isinstance(text, str) or not text.startswith(STAFF_QR_PREFIX):
            return None
        return self.identify_badge(text[len(STAFF_QR_PREFIX) :])

    def search_people(self, query: str, limit: int = MAX_RESULTS) -> list[Person]:
        """Visible people whose first or last name starts with each typed word (case and
        accents aside: "bjorn" finds Björn)."""
        from kiosk.flow import search_people

        return search_people(query[:100], self.runtime.directory, limit)

    def identify_person(self, person_id: str) -> Person | None:
        """A person picked by name (``None``: not in the visible directory)."""
        person = self.runtime.directory.get(person_id)
        self.who = person
        return person

    def forget(self) -> None:
        """Nobody is identified any more (idle, home)."""
        self.who = None

    # today's desks -----------------------------------------------------------------------

    def part_bounds(self, part: str) -> tuple[datetime, datetime] | None:
        """Today's ``part`` (UTC); begun: from now, rounded down to the minute; ``None``
        when it is over. Raises :class:`ValueError` for a part not in :data:`PARTS`."""
        if part not in DESK_PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        zone = self.runtime.site.timezone
        day = site_day(self.now(), zone)
        start_text, end_text = DESK_PARTS[part]
        start = datetime.combine(day, time.fromisoformat(start_text), tzinfo=zone)
        end = datetime.combine(day, time.fromisoformat(end_text), tzinfo=zone)
        now = self.now().replace(second=0, microsecond=0)
        start = max(start.astimezone(UTC), now)
        end = end.astimezone(UTC)
        if end - start < timedelta(minutes=5):
            return None
        return start, end

    def parts_open(self) -> list[str]:
        """The parts of today that can still be booked."""
        return [p for p in PARTS if self.part_bounds(p) is not None]

    def floors(self) -> list[int]:
        """Floors with desks or a floor plan, in order."""
        numbers = {d.floor for d in self.runtime.site.desks}
        if self.runtime.floors is not None:
            numbers |= {f.floor for f in self.runtime.floors.floors}
        return sorted(numbers)

    def floor_plan(self, floor: int) -> Floor | None:
        plans = self.runtime.floors
        return plans.floor(floor) if plans is not None else None

    def desks(self, floor: int | None = None) -> list[Desk]:
        desks = self.runtime.site.desks
        return sorted((d for d in desks if floor is None or d.floor == floor), key=lambda d: d.name)

    def desk(self, desk_id: str) -> Desk | None:
        return next((d for d in self.runtime.site.desks if d.id == desk_id), None)

    def bookings(self) -> list[DeskBooking]:
        """Today's desk bookings: central's, those made here it does not show yet, less
        those released here (ended now)."""
        zone = self.runtime.site.timezone
        day = site_day(self.now(), zone)
        snapshot = self.runtime.desk_bookings
        found: dict[str, DeskBooking] = {}
        if snapshot is not None and snapshot.day == day:
            found = {b.booking_id: b for b in snapshot.bookings}
        start, end = day_bounds(day, zone)
        for booking_id, local in self._local.items():
            mine = local.private and booking_id in found  # central hides the booker
            if (booking_id not in found or mine) and start <= local.booking.start < end:
                found[booking_id] = local.booking
        shown = []
        now = self.now()
        for booking in found.values():
            ended = self._tweaks.ended.get(booking.booking_id)
            if ended is not None:
                if ended <= booking.start:
                    continue
                booking = DeskBooking(
                    booking.booking_id,
                    booking.desk_id,
                    booking.start,
                    min(booking.end, ended),
                    booking.person_id,
                    booking.checked_in,
                )
            if booking.booking_id in self._tweaks.checked_in and not booking.checked_in:
                booking = DeskBooking(
                    booking.booking_id,
                    booking.desk_id,
                    booking.start,
                    booking.end,
                    booking.person_id,
                    True,
                )
            if booking.end > now:
                shown.append(booking)
        return sorted(shown, key=lambda b: (b.desk_id, b.start))

    def unavailable(self) -> frozenset[str]:
        snapshot = self.runtime.desk_bookings
        if snapshot is None or snapshot.day != site_day(self.now(), self.runtime.site.timezone):
            return frozenset()
        return snapshot.unavailable

    def desk_states(self, part: str, person_id: str | None = None) -> dict[str, str]:
        """Every desk of the site: ``free``, ``booked``, ``yours`` (booked by
        ``person_id``) or ``unavailable``, for today's ``part`` (a part that is over:
        nothing is free)."""
        bounds = self.part_bounds(part)
        out = self.unavailable()
        bookings = self.bookings()
        states: dict[str, str] = {}
        for desk in self.runtime.site.desks:
            if desk.id in out:
                states[desk.id] = "unavailable"
                continue
            overlapping = [
                b
                for b in bookings
                if b.desk_id == desk.id
                and (bounds is None or (b.start < bounds[1] and b.end > bounds[0]))
            ]
            if any(person_id is not None and b.person_id == person_id for b in overlapping):
                states[desk.id] = "yours"
            elif overlapping:
                states[desk.id] = "booked"
            else:
                states[desk.id] = "free" if bounds is not None else "booked"
        return states

    def mine(self, person_id: str | None = None) -> list[DeskBooking]:
        """Today's desk bookings of the person identified (or ``person_id``)."""
        who = person_id or (self.who.id if self.who is not None else None)
        if who is None:
            return []
        return [b for b in self.bookings() if b.person_id == who]

    def near_my_team(self, part: str, person: Person | None = None) -> Desk | None:
        """ "Book me any free desk near my team": a free desk whose neighbourhood is the
        person's department, else on the floor of most of that department's desks,
        else any free desk (``None``: none free)."""
        person = person or self.who
        states = self.desk_states(part)
        free = [d for d in self.desks() if states.get(d.id) == "free"]
        if not free:
            return None
        team = person.department.casefold() if person is not None else ""
        hoods = self.runtime.neighbourhoods
        if team:
            ours = [d for d in free if hoods.get(d.id, "").casefold() == team]
            if ours:
                return ours[0]
            floors = Counter(
                d.floor for d in self.desks() if hoods.get(d.id, "").casefold() == team
            )
            if floors:
                floor = floors.most_common(1)[0][0]
                same = [d for d in free if d.floor == floor]
                if same:
                    return same[0]
        return free[0]

    async def book_desk(
        self, desk_id: str, part: str, *, private: bool = False, person: Person | None = None
    ) -> DeskBooking:
        """Book ``desk_id`` for today's ``part`` for the person identified; shown at
        once, confirmed or undone by central (a refusal is said in :attr:`rejected`).
        Raises :class:`ActionError` when nobody is identified, the person already has a
        desk then, the desk is unknown, out of use or not free then, the part is over, or
        the event cannot be saved."""
        person = person or self.who
        if person is None or self.runtime.directory.get(person.id) is None:
            raise ActionError(_("Please say who you are first"))
        if self.desk(desk_id) is None:
            raise ActionError(_("This desk is not known here"))
        if part not in DESK_PARTS:
            raise ActionError(_("Please choose morning, afternoon or all day"))
        bounds = self.part_bounds(part)
        if bounds is None:
            raise ActionError(_("That part of the day is over"))
        for other in self.mine(person.id):
            if other.start < bounds[1] and other.end > bounds[0]:
                had = self.desk(other.desk_id)
                raise ActionError(
                    _("You already have desk {desk} then; release it first").format(
                        desk=had.name if had is not None else other.desk_id
                    )
                )
        state = self.desk_states(part, person.id).get(desk_id)
        if state == "unavailable":
            raise ActionError(_("This desk is out of use today"))
        if state != "free":
            raise ActionError(_("This desk is already booked then"))
        booking_id = f"b-{uuid.uuid4()}"
        booking = DeskBooking(booking_id, desk_id, bounds[0], bounds[1], person.id, False)
        self._local[booking_id] = _Local(booking, private=private)

        def confirm() -> None:
            local = self._local.get(booking_id)
            if local is not None:
                local.confirmed = True

        def undo() -> None:
            self._local.pop(booking_id, None)

        event = BookingCreate(booking_id=booking_id, booked_by=person.id, private=private or None)
        await self.send(
            event,
            f"desk:{desk_id}",
            undo=undo,
            confirm=confirm,
            starts_at=bounds[0],
            ends_at=bounds[1],
        )
        log.info("desk %s booked (%s)", desk_id, part)
        return booking

    def pending(self, booking_id: str) -> bool:
        """A booking made here that central has not confirmed yet."""
        local = self._local.get(booking_id)
        return local is not None and not local.confirmed

    def _booking(self, booking_id: str) -> DeskBooking:
        booking = next((b for b in self.bookings() if b.booking_id == booking_id), None)
        if booking is None:
            raise ActionError(_("This booking is no longer here"))
        return booking

    async def check_in(self, booking_id: str) -> None:
        """``desk.checkin`` for one of today's bookings. Raises :class:`ActionError`
        when it is not known, has not begun, or cannot be saved."""
        booking = self._booking(booking_id)
        if booking.start > self.now() + timedelta(minutes=15):
            raise ActionError(_("You can check in from a quarter of an hour before it starts"))
        self._tweaks.checked_in.add(booking_id)
        await self.send(
            DeskCheckin(booking_id=booking_id, person_id=booking.person_id),
            f"desk:{booking.desk_id}",
            undo=lambda: self._tweaks.checked_in.discard(booking_id),
        )
        log.info("desk %s checked in", booking.desk_id)

    async def release(self, booking_id: str) -> None:
        """``booking.end``: the desk is free again from now. Raises
        :class:`ActionError` when the booking is not known or cannot be saved."""
        booking = self._booking(booking_id)
        now = self.now().replace(second=0, microsecond=0)
        self._tweaks.ended[booking_id] = now
        await self.send(
            BookingEnd(booking_id=booking_id),
            f"desk:{booking.desk_id}",
            undo=lambda: self._unrelease(booking_id),
            ends_at=max(now, booking.start),
        )
        log.info("desk %s released", booking.desk_id)

    def _unrelease(self, booking_id: str) -> None:
        self._tweaks.ended.pop(booking_id, None)

    # people ------------------------------------------------------------------------------

    def desk_of(self, person_id: str) -> Desk | None:
        """Where a visible person sits today (now, else their next booking today);
        ``None`` for a private booking (no person id), no booking or an invisible one."""
        if self.runtime.directory.get(person_id) is None:
            return None
        now = self.now()
        theirs = [b for b in self.bookings() if b.person_id == person_id and not self._private(b)]
        theirs.sort(key=lambda b: (not (b.start <= now < b.end), b.start))
        return self.desk(theirs[0].desk_id) if theirs else None

    def _private(self, booking: DeskBooking) -> bool:
        local = self._local.get(booking.booking_id)
        return local is not None and local.private

    def find_people(self, query: str, limit: int = MAX_RESULTS) -> list[PersonFound]:
        """Visible colleagues by name, each with their desk today."""
        return [PersonFound(p, self.desk_of(p.id)) for p in self.search_people(query, limit)]

    # results -----------------------------------------------------------------------------

    def on_results(self, results: Sequence[Mapping[str, Any]]) -> None:
        """Central's outcomes; local bookings central now lists are dropped."""
        super().on_results(results)
        snapshot = self.runtime.desk_bookings
        if snapshot is not None:
            listed = {b.booking_id for b in snapshot.bookings}
            for booking_id in [
                b for b, local in self._local.items() if local.confirmed and b in listed
            ]:
                if not self._local[booking_id].private:
                    del self._local[booking_id]


def floor_dict(floor: Floor) -> dict[str, Any]:
    """A parsed floor plan as the floor map widget takes it (one element of the
    contract's ``floors`` list, with ``image`` the PNG's bytes, or ``None``)."""

    def box(p: Placed) -> dict[str, Any]:
        return {"id": p.id, "x": p.x, "y": p.y, "w": p.w, "h": p.h, "rotation": p.rotation}

    return {
        "floor": floor.floor,
        "name": floor.name,
        "width": floor.width,
        "height": floor.height,
        "image": floor.image,
        "outline": [list(point) for point in floor.outline],
        "desks": [box(d) for d in floor.desks],
        "rooms": [box(r) for r in floor.rooms],
    }
