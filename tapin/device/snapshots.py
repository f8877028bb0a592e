"""Turn central's snapshots (parsed JSON) into domain values, refusing bad shapes.

A malformed snapshot raises :class:`SnapshotError` naming the field (and nothing else,
whatever the JSON holds); the caller keeps the data it had. Nothing parsed here is
written anywhere: calendars and the directory go to memory only. Invisible people are
never sent by central, and the :class:`~tapin.calendar.Directory` drops any that slip
through.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tapin.domain import Meeting, Person, Role, Room, Site, Visibility

__all__ = [
    "MAX_TERMS",
    "MAX_VISITOR_TYPES",
    "NOTIFIED",
    "VISITOR_STEPS",
    "WITHDRAWN_REASONS",
    "Invite",
    "KioskSettings",
    "OnSite",
    "SnapshotError",
    "Terms",
    "VisitorType",
    "VisitorsToday",
    "Withdrawn",
    "mentioned_ids",
    "parse_availability",
    "parse_calendar",
    "parse_directory",
    "parse_kiosk",
    "parse_rooms",
    "parse_visitors",
    "parse_withdrawn",
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


def mentioned_ids(data: Any) -> frozenset[str]:
    """Every meeting id a ``calendar`` snapshot names, those it does not show (released,
    ended) too: what central has decided about them is in it. Call after
    :func:`parse_calendar` (which checks the snapshot)."""
    return frozenset(
        item["id"]
        for item in _items(data, "meetings")
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    )


_CODE = frozenset("abcdefghijklmnopqrstuvwxyz_")
WITHDRAWN_REASONS = ("calendar_conflict",)
"""Why central withdraws a booking: ``calendar_conflict``, the room's calendar has an event
at the same time (it wins). Other codes may come from a newer central."""


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """A device booking central withdrew (status ``released``), and why, as a code only."""

    booking_id: str
    start: datetime
    end: datetime
    reason: str


def parse_withdrawn(data: Any, room_id: str) -> list[Withdrawn]:
    """The withdrawn bookings of a room's ``calendar`` snapshot: its released items with a
    ``withdrawn`` code (a short lowercase word). Raises :class:`SnapshotError` for a code
    of another shape or on an item that is not released."""
    parse_calendar(data, room_id)  # the same snapshot, checked the same way
    found = []
    for item in _items(data, "meetings"):
        code = item.get("withdrawn")
        if code is None:
            continue
        if not (isinstance(code, str) and 0 < len(code) <= 40 and set(code) <= _CODE):
            raise SnapshotError("meeting field 'withdrawn' must be a short code (a-z, _)")
        if item.get("status") != "released" or item.get("source", "device") != "device":
            raise SnapshotError("meeting field 'withdrawn' is only for a released booking")
        try:
            start, end = _time(item, "start"), _time(item, "end")
            found.append(Withdrawn(_str(item, "id", limit=100), start, end, code))
        except ValueError as exc:
            raise SnapshotError(str(exc)) from None
    return found


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


# the lobby kiosk's snapshots: ``kiosk`` (settings) and ``visitors`` (today) -------------
#
# Stricter than the others: every text is refused when it holds control characters or
# lone surrogates (the terms text may have line breaks and tabs), every id is ASCII, and
# a visitor type may only ask for the steps of :data:`VISITOR_STEPS`. Bidi controls and
# zero-width characters in a visitor's name or company are dropped, not refused, so that
# one odd invite cannot keep the whole list from the kiosk, and a name can never turn
# itself around on the screen.

VISITOR_STEPS = ("company", "email", "host", "terms", "photo")
"""The steps a visitor type may ask for (name first, the type second, done last)."""
NOTIFIED = ("pending", "delivered", "failed", "reception")
"""Whether the host was told: ``pending`` (not yet), ``delivered``, ``failed`` (gave up:
reception was told instead), ``reception`` (no host given: reception was told)."""
MAX_TERMS = 100_000
"""Characters of the terms text, per language."""
MAX_VISITOR_TYPES = 20
_MAX_LANGUAGES = 20
_LANGUAGE = 8
_INVISIBLE = frozenset(
    "\u061c\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
)
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@")
_HEX = frozenset("0123456789abcdef")


def _text(
    item: Any, key: str, *, optional: bool = False, limit: int = 200, lines: bool = False
) -> Any:
    """A string of printable characters (``lines``: line breaks and tabs too)."""
    value = _str(item, key, optional=optional, limit=limit)
    if value is None:
        return None
    allowed = "\n\r\t" if lines else ""
    for char in value:
        if char in allowed:
            continue
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise SnapshotError(f"field {key!r} holds a control character")
    return value


def _shown(item: Any, key: str, *, optional: bool = False, limit: int = 200) -> str:
    """A person's or company's name as shown: printable, bidi controls dropped."""
    value = _text(item, key, optional=optional, limit=limit)
    return "".join(c for c in value or "" if c not in _INVISIBLE).strip()


def _ident(item: Any, key: str, *, optional: bool = False, limit: int = 100) -> Any:
    """An id: ASCII letters, digits and ``-_.:@``."""
    value = _str(item, key, optional=optional, limit=limit)
    if value is not None and (not value or not set(value) <= _ID_CHARS):
        raise SnapshotError(f"field {key!r} must be an id of ASCII letters, digits, '-' or '_'")
    return value


def _type_id(item: Any, key: str, *, optional: bool = False) -> Any:
    value = _ident(item, key, optional=optional, limit=32)
    if value is not None and not set(value) <= _ID_CHARS - set(".:@"):
        raise SnapshotError(f"field {key!r} must be an id of letters, digits, '-' or '_'")
    return value


def _names(item: dict[str, Any], key: str, *, limit: int, lines: bool = False) -> dict[str, str]:
    """A ``{"en": "...", "sv": "..."}`` object of at least one language."""
    value = item.get(key)
    if not isinstance(value, dict) or not value or len(value) > _MAX_LANGUAGES:
        raise SnapshotError(f"field {key!r} must be an object of texts by language")
    texts: dict[str, str] = {}
    for language in value:
        if (
            not isinstance(language, str)
            or not 0 < len(language) <= _LANGUAGE
            or not all(c.isascii() and (c.isalpha() or c in "_-") for c in language)
        ):
            raise SnapshotError(f"field {key!r} has a bad language code")
        texts[language] = _text(value, language, limit=limit, lines=lines)
    return texts


def _in(texts: dict[str, str], language: str) -> str:
    """The text in ``language`` (``sv`` or ``sv_SE``), else English, else any."""
    short = language.split("_")[0].lower()
    for wanted in (language, short, "en"):
        if texts.get(wanted):
            return texts[wanted]
    return next((t for t in texts.values() if t), "")


@dataclass(frozen=True, slots=True)
class VisitorType:
    """A kind of visitor (guest, contractor, ...) and the steps its sign-in asks for."""

    id: str
    names: dict[str, str]
    steps: tuple[str, ...]
    """Of :data:`VISITOR_STEPS`, in the order asked."""
    signature: bool = False
    """The terms step also asks for a signature drawn on the screen."""

    def name(self, language: str) -> str:
        return _in(self.names, language) or self.id


@dataclass(frozen=True, slots=True)
class Terms:
    """The site's current visitor terms (or NDA): shown in full, accepted by version."""

    version: str
    titles: dict[str, str]
    texts: dict[str, str]

    def title(self, language: str) -> str:
        return _in(self.titles, language)

    def text(self, language: str) -> str:
        return _in(self.texts, language)


@dataclass(frozen=True, slots=True)
class KioskSettings:
    """The ``kiosk`` snapshot: the lobby's settings (no personal data)."""

    site_name: str
    lobby_id: str
    lobby_name: str
    end_of_day: time
    """Visitors still signed in then are signed out (by central)."""
    idle_seconds: int
    visitor_types: tuple[VisitorType, ...]
    terms: Terms | None
    site_id: str = ""
    timezone: ZoneInfo | None = None

    def visitor_type(self, type_id: str | None) -> VisitorType | None:
        return next((t for t in self.visitor_types if t.id == type_id), None)


@dataclass(frozen=True, slots=True)
class Invite:
    """Someone expected today (from the ``visitors`` snapshot; memory only)."""

    id: str
    name: str
    email_masked: str
    company: str
    host_id: str | None
    visitor_type: str
    qr_sha256: str
    """Hex SHA-256 of the secret in the invite's QR code (lower case)."""

    def __repr__(self) -> str:  # names are personal data: keep them out of reprs
        return f"Invite(id={self.id!r})"


@dataclass(frozen=True, slots=True)
class OnSite:
    """A visitor signed in now, anywhere at the site (the ``visitors`` snapshot)."""

    visitor_id: str
    name: str
    company: str
    host_id: str | None
    visitor_type: str
    signed_in_at: datetime
    notified: str
    """One of :data:`NOTIFIED`."""

    def __repr__(self) -> str:
        return f"OnSite(visitor_id={self.visitor_id!r}, notified={self.notified!r})"


@dataclass(frozen=True, slots=True)
class VisitorsToday:
    """The ``visitors`` snapshot: today's invites and who is signed in (memory only)."""

    day: date
    invites: tuple[Invite, ...]
    signed_in: tuple[OnSite, ...]
    received_at: datetime | None = None
    """When this device took it (set by the runtime; older than a local sign-in's
    confirmation means the snapshot may not show it yet)."""

    def on_site(self, visitor_id: str) -> OnSite | None:
        return next((v for v in self.signed_in if v.visitor_id == visitor_id), None)

    def __repr__(self) -> str:
        return (
            f"VisitorsToday(day={self.day}, invites={len(self.invites)}, "
            f"signed_in={len(self.signed_in)})"
        )


def _visitor_type(item: Any) -> VisitorType:
    if not isinstance(item, dict):
        raise SnapshotError("each visitor type must be an object")
    steps = item.get("steps")
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise SnapshotError("visitor type field 'steps' must be a list of step names")
    unknown = [s for s in steps if s not in VISITOR_STEPS]
    if unknown:
        raise SnapshotError("a visitor type asks for an unknown step")
    if len(set(steps)) != len(steps):
        raise SnapshotError("a visitor type lists a step twice")
    signature = item.get("signature", False)
    if not isinstance(signature, bool):
        raise SnapshotError("visitor type field 'signature' must be true or false")
    return VisitorType(
        id=_type_id(item, "id"),
        names=_names(item, "names", limit=60),
        steps=tuple(steps),
        signature=signature,
    )


def _terms(data: Any) -> Terms | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise SnapshotError("field 'terms' must be an object or null")
    version = _text(data, "version", limit=64).strip()
    if not version:
        raise SnapshotError("field 'version' of the terms must not be empty")
    return Terms(
        version=version,
        titles=_names(data, "title", limit=200),
        texts=_names(data, "text", limit=MAX_TERMS, lines=True),
    )


def _clock_time(data: dict[str, Any], key: str) -> time:
    text = _str(data, key, limit=5)
    if len(text) != 5 or text[2] != ":" or not (text[:2] + text[3:]).isdigit():
        raise SnapshotError(f"field {key!r} must be a time like 18:00")
    try:
        return time(int(text[:2]), int(text[3:]))
    except ValueError:
        raise SnapshotError(f"field {key!r} must be a time like 18:00") from None


def parse_kiosk(data: Any) -> KioskSettings:
    """The ``kiosk`` snapshot. Raises :class:`SnapshotError` for a bad shape, an unknown
    step, a repeated or missing visitor type, ``idle_seconds`` outside 15..3600, a text
    with control characters or longer than its limit."""
    if not isinstance(data, dict):
        raise SnapshotError("snapshot must be a JSON object")
    site, lobby = data.get("site"), data.get("lobby")
    if not isinstance(site, dict) or not isinstance(lobby, dict):
        raise SnapshotError("kiosk snapshot lacks 'site' or 'lobby'")
    idle = _int(data, "idle_seconds", 60)
    if not 15 <= idle <= 3600:
        raise SnapshotError("field 'idle_seconds' must be from 15 to 3600")
    listed = _items(data, "visitor_types")
    if not 0 < len(listed) <= MAX_VISITOR_TYPES:
        raise SnapshotError(f"a kiosk needs 1 to {MAX_VISITOR_TYPES} visitor types")
    types = tuple(_visitor_type(item) for item in listed)
    if len({t.id for t in types}) != len(types):
        raise SnapshotError("a visitor type id is listed twice")
    return KioskSettings(
        site_name=_text(site, "name", limit=200),
        lobby_id=_ident(lobby, "id", limit=64),
        lobby_name=_text(lobby, "name", limit=200),
        end_of_day=_clock_time(data, "end_of_day"),
        idle_seconds=idle,
        visitor_types=types,
        terms=_terms(data.get("terms")),
        site_id=_ident(site, "id", limit=64),
        timezone=_zone(site) if site.get("timezone") is not None else None,
    )


def _sha256(item: dict[str, Any], key: str) -> str:
    digest = _str(item, key, limit=64).lower()
    if len(digest) != 64 or not set(digest) <= _HEX:
        raise SnapshotError(f"field {key!r} must be 64 hex digits")
    return str(digest)


def _invite(item: Any) -> Invite:
    if not isinstance(item, dict):
        raise SnapshotError("each invite must be an object")
    name = _shown(item, "name")
    if not name:
        raise SnapshotError("an invite has no name")
    return Invite(
        id=_ident(item, "id"),
        name=name,
        email_masked=_shown(item, "email_masked", optional=True, limit=254),
        company=_shown(item, "company", optional=True),
        host_id=_ident(item, "host_id", optional=True, limit=64),
        visitor_type=_type_id(item, "visitor_type"),
        qr_sha256=_sha256(item, "qr_sha256"),
    )


def _on_site(item: Any) -> OnSite:
    if not isinstance(item, dict):
        raise SnapshotError("each signed-in visitor must be an object")
    notified = item.get("notified", "pending")
    if notified not in NOTIFIED:
        raise SnapshotError(f"field 'notified' must be one of {', '.join(NOTIFIED)}")
    return OnSite(
        visitor_id=_ident(item, "visitor_id"),
        name=_shown(item, "name"),
        company=_shown(item, "company", optional=True),
        host_id=_ident(item, "host_id", optional=True, limit=64),
        visitor_type=_type_id(item, "visitor_type"),
        signed_in_at=_time(item, "signed_in_at"),
        notified=notified,
    )


def parse_visitors(data: Any) -> VisitorsToday:
    """The ``visitors`` snapshot: today's invites and who is signed in. Raises
    :class:`SnapshotError` for a bad shape (an unknown ``notified``, a bad digest, an
    id twice, a text with control characters or past its limit)."""
    if not isinstance(data, dict):
        raise SnapshotError("snapshot must be a JSON object")
    text = _str(data, "day", limit=10)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise SnapshotError("field 'day' must be a date like 2026-12-01") from None
    invites = tuple(_invite(item) for item in _items(data, "invites"))
    signed_in = tuple(_on_site(item) for item in _items(data, "signed_in"))
    if len({i.id for i in invites}) != len(invites):
        raise SnapshotError("an invite id is listed twice")
    if len({v.visitor_id for v in signed_in}) != len(signed_in):
        raise SnapshotError("a visitor id is listed twice")
    return VisitorsToday(day=day, invites=invites, signed_in=signed_in)
