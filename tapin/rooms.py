"""Which other rooms are free right now, and what a screen says about them.

Used by the panel's "find a free room" screen and the kiosk's room finder, with the
"book now" choices both offer (:func:`book_now_choices`). It reads only the site's rooms
and today's busy intervals (central's ``availability`` snapshot, or the demo's): no
subjects, no people. Times are UTC instants; "today" is the site's day
(:func:`tapin.calendar.day_bounds`), so midnight and DST need no special cases. No Kivy
here: the screen shows the strings as they are, already in the language of the moment
(:mod:`tapin.i18n`; translated each time a view is built, never at import).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tapin import timefmt
from tapin.calendar import day_bounds, site_day
from tapin.domain import Meeting, Room, Site
from tapin.i18n import _, ngettext

__all__ = [
    "BOOK_NOW_CHOICES",
    "MAX_ROWS",
    "MIN_FREE",
    "NONE_FREE",
    "UNKNOWN",
    "FreeRoom",
    "FreeRoomRow",
    "FreeRoomsView",
    "book_now_choices",
    "free_rooms",
    "free_rooms_view",
    "next_start",
]

Availability = Mapping[str, Sequence[tuple[datetime, datetime]]]

MIN_FREE = timedelta(minutes=10)
"""A room free for less than this is not worth walking to: it is left out."""
SHORT = timedelta(hours=1)
"""Under this, a row says "Free for 45 min" rather than "Free until 10:45"."""
MAX_ROWS = 5
UNKNOWN = "Free rooms are not known right now (no connection)"
"""English source of the message; the view carries its translation."""
NONE_FREE = "No other room is free right now"


@dataclass(frozen=True, slots=True)
class FreeRoom:
    room: Room
    free_until: datetime | None
    """When its next busy interval starts (UTC); ``None``: free for the rest of the day."""
    free_for: timedelta | None
    """``free_until - now``; ``None`` with ``free_until``."""


def _free_until(
    busy: Sequence[tuple[datetime, datetime]], now: datetime, day_end: datetime
) -> tuple[bool, datetime | None]:
    """``(free now, until)`` from busy intervals in any order."""
    until: datetime | None = None
    for start, end in busy:
        if start <= now < end:
            return False, None
        if now < start < day_end and (until is None or start < until):
            until = start
    return True, until


def _sort_key(free: FreeRoom, here: Room | None) -> tuple[bool, bool, float, str, str]:
    longest_first = -free.free_for.total_seconds() if free.free_for is not None else 0.0
    return (
        here is not None and free.room.floor != here.floor,
        free.free_until is not None,  # rest of the day first
        longest_first,
        free.room.name.casefold(),
        free.room.id,
    )


def free_rooms(
    site: Site,
    availability: Availability,
    here: Room | None,
    now: datetime,
    *,
    min_free: timedelta = MIN_FREE,
) -> list[FreeRoom]:
    """The site's rooms other than ``here`` (the panel's room; ``None`` at a kiosk) that
    are free at ``now``.

    Sorted: same floor as ``here`` first, then the longest free (rest of the day
    first), then by name. Rooms whose availability is unknown are not listed, nor
    rooms free for less than ``min_free``. Raises ``ValueError`` for a naive ``now``.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    _, day_end = day_bounds(site_day(now, site.timezone), site.timezone)
    found: list[FreeRoom] = []
    for room in site.rooms:
        if (here is not None and room.id == here.id) or room.id not in availability:
            continue
        free, until = _free_until(availability[room.id], now, day_end)
        if not free:
            continue
        free_for = None if until is None else until - now
        if free_for is not None and free_for < min_free:
            continue
        found.append(FreeRoom(room, until, free_for))
    found.sort(key=lambda f: _sort_key(f, here))
    return found


@dataclass(frozen=True, slots=True)
class FreeRoomRow:
    room_id: str
    name: str
    floor: str
    """``Floor 3``"""
    seats: str
    """``8 seats``; empty when the capacity is not known."""
    equipment: str
    """``display, video``; may be empty."""
    free: str
    """``Free until 14:00``, ``Free for 45 min`` or ``Free for the rest of the day``."""
    detail: str
    """The other half: ``for 2 h 15 min`` or ``until 10:45``; empty for the rest of the day."""
    same_floor: bool


@dataclass(frozen=True, slots=True)
class FreeRoomsView:
    rows: tuple[FreeRoomRow, ...]
    more: str
    """``+2 more`` when more rooms are free than rows shown; else empty."""
    message: str
    """Shown instead of rows: :data:`UNKNOWN` or :data:`NONE_FREE`; else empty."""


def _row(free: FreeRoom, here: Room | None, zone: ZoneInfo, h24: bool) -> FreeRoomRow:
    room = free.room
    if free.free_until is None or free.free_for is None:
        text, detail = _("Free for the rest of the day"), ""
    elif free.free_for < SHORT:
        text = _("Free for {duration}").format(duration=timefmt.duration(free.free_for))
        detail = _("until {time}").format(time=timefmt.clock(free.free_until, zone, h24=h24))
    else:
        text = _("Free until {time}").format(time=timefmt.clock(free.free_until, zone, h24=h24))
        detail = _("for {duration}").format(duration=timefmt.duration(free.free_for))
    seats = ""
    if room.capacity > 0:
        seats = ngettext("{n} seat", "{n} seats", room.capacity).format(n=room.capacity)
    return FreeRoomRow(
        room_id=room.id,
        name=room.name,
        floor=_("Floor {n}").format(n=room.floor),
        seats=seats,
        equipment=", ".join(_(item) for item in room.equipment),
        free=text,
        detail=detail,
        same_floor=here is not None and room.floor == here.floor,
    )


def free_rooms_view(
    site: Site,
    availability: Availability | None,
    here: Room | None,
    now: datetime,
    *,
    h24: bool = True,
    limit: int = MAX_ROWS,
) -> FreeRoomsView:
    """What the "find a free room" screen shows at ``now``: at most ``limit`` rows.

    Never guesses: when the availability of no other room is known (no snapshot yet,
    no connection), it says so instead of calling the rooms free or busy.
    """
    others = [room for room in site.rooms if here is None or room.id != here.id]
    if availability is None or not any(room.id in availability for room in others):
        return FreeRoomsView(rows=(), more="", message=_(UNKNOWN))
    found = free_rooms(site, availability, here, now)
    if not found:
        return FreeRoomsView(rows=(), more="", message=_(NONE_FREE))
    rows = tuple(_row(f, here, site.timezone, h24) for f in found[:limit])
    hidden = len(found) - len(rows)
    more = _("+{n} more").format(n=hidden) if hidden > 0 else ""
    return FreeRoomsView(rows=rows, more=more, message="")


# Book now: the panel's and the kiosk's room finder's choices -------------------------

BOOK_NOW_CHOICES = (15, 30, 45, 60)
MIN_BOOKING = timedelta(minutes=5)
"""Book now is offered only when at least this much time is free."""


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def next_start(meetings: Sequence[Meeting], now: datetime) -> datetime | None:
    now = _utc(now)
    starts = [m.start for m in meetings if m.start > now]
    return min(starts) if starts else None


def book_now_choices(
    meetings: Sequence[Meeting], now: datetime, *, day_end: datetime | None = None
) -> list[int]:
    """Minutes offered by "Book now" at ``now``: 15, 30, 45, 60, none past the next
    meeting (or the end of the day). Empty when the room is in use or less than 5
    minutes are free. When the gap is shorter than 15 minutes but at least 5, the one
    choice is the gap itself, rounded down to the minute."""
    now = _utc(now)
    if any(m.covers(now) for m in meetings):
        return []
    limit = next_start(meetings, now)
    if day_end is not None:
        limit = min(limit, _utc(day_end)) if limit else _utc(day_end)
    if limit is None:
        return list(BOOK_NOW_CHOICES)
    free = limit - now
    if free < MIN_BOOKING:
        return []
    choices = [m for m in BOOK_NOW_CHOICES if timedelta(minutes=m) <= free]
    return choices or [int(free.total_seconds() // 60)]
