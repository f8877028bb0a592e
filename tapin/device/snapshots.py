"""Turn central's snapshots (parsed JSON) into domain values, refusing bad shapes.

A malformed snapshot raises :class:`SnapshotError` naming the field (and nothing else,
whatever the JSON holds); the caller keeps the data it had. Nothing parsed here is
written anywhere: calendars and the directory go to memory only. Invisible people are
never sent by central, and the :class:`~tapin.calendar.Directory` drops any that slip
through.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tapin.domain import Meeting, Person, Role, Room, Site, Visibility

__all__ = [
    "SnapshotError",
    "parse_availability",
    "parse_calendar",
    "parse_directory",
    "parse_rooms",
]

_MAX_ITEMS = 5000


class SnapshotError(ValueError):
    """A snapshot from central is not in the expected shape."""


def _items(data: Any, key: str) -> list[Any]:
    if not isinstance(data, dict):
        raise SnapshotError("snapshot must be a JSON object")
    items = data.get(key)
    if not isinstance(items, list):
        raise SnapshotError(f"snapshot field {key!r} must be a list")
    if len(items) > _MAX_ITEMS:
        raise SnapshotError(f"snapshot field {key!r} has more than {_MAX_ITEMS} items")
    return items


def _str(item: Any, key: str, *, optional: bool = False, limit: int = 500) -> Any:
    value = item.get(key) if isinstance(item, dict) else None
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise SnapshotError(f"field {key!r} must be a string of at most {limit} characters")
    return value


def _int(item: dict[str, Any], key: str, default: int = 0) -> int:
    value = item.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not -1000 < value < 100_000:
        raise SnapshotError(f"field {key!r} must be a small integer")
    return value


def _empty_timing(item: dict[str, Any]) -> tuple[timedelta, timedelta]:
    """``empty_offer_minutes`` and ``empty_release_minutes``: ``0 < offer < release``."""
    offer = _int(item, "empty_offer_minutes", 10)
    release = _int(item, "empty_release_minutes", 20)
    if offer <= 0:
        raise SnapshotError("field 'empty_offer_minutes' must be positive")
    if release <= offer:
        raise SnapshotError("field 'empty_release_minutes' must exceed 'empty_offer_minutes'")
    return timedelta(minutes=offer), timedelta(minutes=release)


def _time(item: dict[str, Any], key: str) -> datetime:
    text = _str(item, key, limit=40)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SnapshotError(f"field {key!r} is not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise SnapshotError(f"field {key!r} has no UTC offset: {text!r}")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before datetime.min in UTC
        raise SnapshotError(f"field {key!r} is out of range: {text!r}") from None


def _zone(site: dict[str, Any]) -> ZoneInfo:
    name = _str(site, "timezone", limit=64)
    try:
        return ZoneInfo(name)
    # not found, a malformed key, or a path the zone database cannot read (a directory)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise SnapshotError("site timezone is not a known IANA zone") from None


def parse_rooms(data: Any) -> Site:
    """The ``rooms`` snapshot: the site, its zone, rooms and lobbies."""
    site = data.get("site") if isinstance(data, dict) else None
    if not isinstance(site, dict):
        raise SnapshotError("rooms snapshot lacks 'site'")
    zone = _zone(site)
    rooms = []
    for item in _items(data, "rooms"):
        if not isinstance(item, dict):
            raise SnapshotError("each room must be an object")
        equipment = item.get("equipment") or []
        if not isinstance(equipment, list) or not all(isinstance(e, str) for e in equipment):
            raise SnapshotError("room field 'equipment' must be a list of strings")
        empty_offer, empty_release = _empty_timing(item)
        try:
            rooms.append(
                Room(
                    id=_str(item, "id", limit=64),
                    name=_str(item, "name", limit=100),
                    floor=_int(item, "floor"),
                    capacity=_int(item, "capacity"),
                    equipment=tuple(equipment),
                    building=_str(item, "building", optional=True, limit=100) or "",
                    auto_release=bool(item.get("auto_release", True)),
                    checkin_before=timedelta(minutes=_int(item, "checkin_before_minutes", 10)),
                    checkin_after=timedelta(minutes=_int(item, "checkin_after_minutes", 10)),
                    ask_booker=item.get("ask_booker") is True,
                    presence_checkin=item.get("presence_checkin") is True,
                    empty_offer=empty_offer,
                    empty_release=empty_release,
                )
            )
        except ValueError as exc:
            raise SnapshotError(str(exc)) from None
    listed = _items(data, "lobbies") if data.get("lobbies") is not None else []
    lobbies = tuple(_str(item, "id", limit=64) for item in listed if isinstance(item, dict))
    return Site(
        id=_str(site, "id", limit=64),
        name=_str(site, "name", limit=200),
        timezone=zone,
        rooms=tuple(rooms),
        lobbies=lobbies,
    )


def parse_directory(data: Any) -> list[Person]:
    """The ``directory`` snapshot: visible people only (central filters; so do we).

    Anything but ``"visibility": "visible"`` (or no visibility at all, as central sends
    only visible people) is invisible, and an id listed once as invisible stays so."""
    people = []
    for item in _items(data, "people"):
        if not isinstance(item, dict):
            raise SnapshotError("each person must be an object")
        visibility = item.get("visibility", "visible")
        role = item.get("role", "staff")
        if not isinstance(role, str):  # an unknown role is a plain member of staff
            role = "staff"
        people.append(
            Person(
                id=_str(item, "id", limit=64),
                name=_str(item, "name", limit=200),
                email=_str(item, "email", optional=True, limit=320) or "",
                title=_str(item, "title", optional=True, limit=200) or "",
                department=_str(item, "department", optional=True, limit=200) or "",
                phone=_str(item, "phone", optional=True, limit=64) or "",
                photo=_str(item, "photo", optional=True, limit=500),
                badge_id=_str(item, "badge_id", optional=True, limit=64),
                role=Role(role) if role in Role._value2member_map_ else Role.STAFF,
                visibility=Visibility.VISIBLE if visibility == "visible" else Visibility.INVISIBLE,
            )
        )
    # a person listed twice, once hidden: hidden wins (never show someone by mistake)
    hidden = {p.id for p in people if not p.visible}
    return [p for p in people if not (p.visible and p.id in hidden)]


def parse_calendar(data: Any, room_id: str) -> list[Meeting]:
    """A room's ``calendar`` snapshot. Private meetings arrive without subject/organiser
    and stay that way."""
    other = data.get("room_id") if isinstance(data, dict) else None
    if other is not None and other != room_id:
        shown = repr(other[:64]) if isinstance(other, str) else f"a {type(other).__name__}"
        raise SnapshotError(f"calendar snapshot is for room {shown}, not {room_id!r}")
    meetings = []
    for item in _items(data, "meetings"):
        if not isinstance(item, dict):
            raise SnapshotError("each meeting must be an object")
        if item.get("status") not in (None, "confirmed", "booked", "active", "checked_in"):
            continue  # released, cancelled or ended early: the room is free again
        private = bool(item.get("private", False))
        attendees = item.get("attendee_ids") or []
        if not isinstance(attendees, list):
            raise SnapshotError("meeting field 'attendee_ids' must be a list")
        try:
            meetings.append(
                Meeting(
                    id=_str(item, "id", limit=100),
                    room_id=room_id,
                    start=_time(item, "start"),
                    end=_time(item, "end"),
                    subject="" if private else (_str(item, "subject", optional=True) or ""),
                    organiser_id=None
                    if private
                    else _str(item, "organiser_id", optional=True, limit=64),
                    attendee_ids=tuple(a for a in attendees if isinstance(a, str)),
                    private=private,
                    checked_in=item.get("status") == "checked_in",
                )
            )
        except ValueError as exc:
            raise SnapshotError(str(exc)) from None
    return meetings


def parse_availability(data: Any) -> dict[str, tuple[tuple[datetime, datetime], ...]]:
    """The ``availability`` snapshot: busy intervals per room today (no subjects)."""
    busy: dict[str, tuple[tuple[datetime, datetime], ...]] = {}
    for item in _items(data, "rooms"):
        if not isinstance(item, dict):
            raise SnapshotError("each room must be an object")
        spans = item.get("busy")
        if not isinstance(spans, list) or len(spans) > _MAX_ITEMS:
            raise SnapshotError("room field 'busy' must be a list")
        intervals = []
        for span in spans:
            if not isinstance(span, dict):
                raise SnapshotError("each busy interval must be an object")
            start, end = _time(span, "start"), _time(span, "end")
            if end <= start:
                raise SnapshotError("a busy interval ends before it starts")
            intervals.append((start, end))
        busy[_str(item, "id", limit=64)] = tuple(sorted(intervals))
    return busy
