"""Typed domain values shared by the panel, the kiosk and the sync layer.

Every value is immutable (frozen dataclass). Times are timezone-aware ``datetime``
values; the site's zone is applied only when something is shown to a person.

Personal data lives in :class:`Person`, :class:`Meeting` (subject, organiser,
attendees) and :class:`Visitor`. Their ``__repr__`` hides those fields so that a stray
``log.debug("%r", meeting)`` cannot leak them into a log.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sync.events import IssueCategory

__all__ = [
    "Booking",
    "Desk",
    "IssueCategory",
    "IssueReport",
    "Meeting",
    "Person",
    "Role",
    "Room",
    "Site",
    "Visibility",
    "Visitor",
]


class Visibility(enum.StrEnum):
    """Who may see a person on shared screens (from the directory)."""

    VISIBLE = "visible"
    """Shown on panels and kiosks: name, title, department, photo."""
    INVISIBLE = "invisible"
    """Never shown anywhere on a device, not even as a meeting organiser."""


class Role(enum.StrEnum):
    STAFF = "staff"
    ADMIN = "admin"
    RECEPTION = "reception"
    TECHNICIAN = "technician"


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def _to_utc(obj: object, *names: str) -> None:
    """Store instants in UTC: Python compares and subtracts two datetimes that share a
    ``ZoneInfo`` by wall clock, which is wrong across a DST change."""
    for name in names:
        value = getattr(obj, name)
        _require_aware(name, value)
        object.__setattr__(obj, name, value.astimezone(UTC))


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    name: str
    floor: int
    capacity: int
    equipment: tuple[str, ...] = ()
    building: str = ""
    auto_release: bool = True
    """Release a meeting nobody checked in to when the check-in window closes."""
    checkin_before: timedelta = timedelta(minutes=10)
    checkin_after: timedelta = timedelta(minutes=10)
    ask_booker: bool = False
    """Book now asks who is booking (badge or name) before it books."""
    presence_checkin: bool = False
    """Presence sensed in the check-in window checks the meeting in by itself."""
    empty_offer: timedelta = timedelta(minutes=10)
    """A checked-in meeting in a room empty this long is offered for release…"""
    empty_release: timedelta = timedelta(minutes=20)
    """…and released when the room has stayed empty this long (nobody tapped Keep)."""

    def __post_init__(self) -> None:
        if self.capacity < 0:
            raise ValueError(f"room {self.id}: capacity must be >= 0, got {self.capacity}")


@dataclass(frozen=True, slots=True)
class Desk:
    id: str
    name: str
    floor: int
    zone: str = ""
    equipment: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    email: str = field(repr=False)
    title: str = field(default="", repr=False)
    department: str = field(default="", repr=False)
    phone: str = field(default="", repr=False)
    photo: str | None = field(default=None, repr=False)
    """A reference (file name or URL path) to the photo, never the bytes."""
    role: Role = Role.STAFF
    visibility: Visibility = Visibility.VISIBLE
    badge_id: str | None = field(default=None, repr=False)
    """What the USB badge reader types for this person's badge (memory only)."""

    @property
    def visible(self) -> bool:
        return self.visibility is Visibility.VISIBLE

    def __repr__(self) -> str:  # names are personal data: keep them out of reprs
        return f"Person(id={self.id!r}, visibility={self.visibility.value})"


@dataclass(frozen=True, slots=True)
class Meeting:
    """One meeting in a room, as today's calendar knows it. Memory only.

    ``start`` and ``end`` are stored in UTC whatever zone they were given in.
    """

    id: str
    room_id: str
    start: datetime
    end: datetime
    subject: str = ""
    organiser_id: str | None = None
    attendee_ids: tuple[str, ...] = ()
    private: bool = False
    checked_in: bool = False
    pending: bool = False
    """Made or changed on this device and not yet confirmed by central."""

    def __post_init__(self) -> None:
        _to_utc(self, "start", "end")
        if self.end <= self.start:
            raise ValueError(
                f"meeting {self.id}: end {self.end.isoformat()} is not after "
                f"start {self.start.isoformat()}"
            )

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def __repr__(self) -> str:
        return (
            f"Meeting(id={self.id!r}, room_id={self.room_id!r}, "
            f"start={self.start.isoformat()}, end={self.end.isoformat()}, "
            f"private={self.private})"
        )


@dataclass(frozen=True, slots=True)
class Booking:
    """A room or desk booking made on a device (book now, desk for today)."""

    id: str
    resource_id: str
    start: datetime
    end: datetime
    booked_by: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _to_utc(self, "start", "end")
        if self.end <= self.start:
            raise ValueError(f"booking {self.id}: end is not after start")


@dataclass(frozen=True, slots=True)
class Visitor:
    id: str
    name: str = field(repr=False)
    company: str = field(repr=False)
    email: str = field(repr=False)
    host_id: str = field(repr=False)
    accepted_terms: bool = False
    signed_in_at: datetime | None = None
    signed_out_at: datetime | None = None

    def __repr__(self) -> str:
        return f"Visitor(id={self.id!r})"


@dataclass(frozen=True, slots=True)
class IssueReport:
    id: str
    resource_id: str
    category: IssueCategory
    text: str = field(default="", repr=False)
    photo: bytes | None = field(default=None, repr=False)
    reported_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Site:
    """An organisation's office: its zone decides what "today" means on every device."""

    id: str
    name: str
    timezone: ZoneInfo
    rooms: tuple[Room, ...] = ()
    desks: tuple[Desk, ...] = ()
    people: tuple[Person, ...] = ()
    lobbies: tuple[str, ...] = ()

    def room(self, room_id: str) -> Room:
        """The room with this id. Raises ``KeyError`` naming the id and the known ones."""
        for room in self.rooms:
            if room.id == room_id:
                return room
        known = ", ".join(r.id for r in self.rooms) or "none"
        raise KeyError(f"no room {room_id!r} at site {self.id!r} (known: {known})")

    def person(self, person_id: str | None) -> Person | None:
        if person_id is None:
            return None
        return next((p for p in self.people if p.id == person_id), None)
