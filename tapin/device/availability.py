"""Today's free/busy on disk, so that a panel restarted while central is unreachable
still shows when its room (and the others) are busy — times only, never who or what.

The calendar itself (subjects, organisers, attendees) stays in runtime memory, as the
privacy policy says. What this module keeps in ``<state_dir>/availability.json``
(written with :func:`sync.files.write_private`: mode 0600, atomic, fsync'd) is:

* the day it is for and the site's zone, and when it was saved;
* per room id, today's busy intervals (start, end) in the site's zone: the
  ``availability`` snapshot, and for the panel's own room its ``calendar`` snapshot
  reduced to the times of its meetings;
* the site's room list (names, floors, seats, equipment, check-in rules) from the
  ``rooms`` snapshot, so the restarted panel can name its room and list free rooms.

Never: subjects, organisers, attendees, meeting or booking ids, private flags, check-in
state. :func:`encode_copy` writes an allowlist of keys and :func:`decode_copy` refuses a
file with any other key.

:class:`AvailabilityKeeper` is the wiring: it wraps the runtime's snapshot handler,
writes the copy off the UI loop (``asyncio.to_thread``) whenever one of those snapshots
arrives, and at start puts a copy of today back into the runtime: the own room's
calendar then holds time-only meetings whose ids start with :data:`OFFLINE_PREFIX`
(see :func:`is_offline_copy`); central's calendar replaces them when it arrives. A copy
for another day, malformed or too large is logged in one line and deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync.files import write_private
from tapin.calendar import day_bounds, site_day
from tapin.device.snapshots import SnapshotError, parse_rooms
from tapin.domain import Meeting, Room, Site
from tapin.i18n import _

if TYPE_CHECKING:
    from tapin.device.runtime import Runtime

__all__ = [
    "AVAILABILITY_FILE",
    "MAX_BYTES",
    "OFFLINE_PREFIX",
    "AvailabilityKeeper",
    "CopyError",
    "OfflineCopy",
    "decode_copy",
    "encode_copy",
    "is_offline_copy",
    "offline_details",
    "offline_meetings",
    "read_copy",
]

log = logging.getLogger(__name__)

AVAILABILITY_FILE = "availability.json"
FORMAT = 1
MAX_BYTES = 512 * 1024
"""A copy larger than this is neither written nor read (a site of ~1,000 rooms fits)."""
MAX_ROOMS = 2000
MAX_SPANS = 300
"""Busy intervals per room and day."""
OFFLINE_PREFIX = "offline:"
"""Id prefix of the time-only meetings restored from the copy (no real id is kept)."""
KEPT_KINDS = ("rooms", "calendar", "availability")

Span = tuple[datetime, datetime]
_TOP_KEYS = {"format", "about", "day", "timezone", "saved_at", "site", "rooms", "busy"}
_SITE_KEYS = ("id", "name", "timezone")
_ROOM_KEYS = {
    "id",
    "name",
    "building",
    "floor",
    "capacity",
    "equipment",
    "auto_release",
    "checkin_before_minutes",
    "checkin_after_minutes",
    "ask_booker",
    "presence_checkin",
    "empty_offer_minutes",
    "empty_release_minutes",
}
_ABOUT = "Tapin: today's busy times per room (no subjects, no people). Safe to delete."


class CopyError(ValueError):
    """The copy is not in the expected shape or over its bounds (the message names the
    field, never a value)."""


@dataclass(frozen=True, slots=True)
class OfflineCopy:
    day: date
    """The site's day the intervals are for."""
    zone: ZoneInfo
    saved_at: datetime
    busy: Mapping[str, tuple[Span, ...]]
    """Busy intervals (UTC instants) per room id."""
    site: Site | None = None
    """The site's rooms (no people, no desks) when the rooms snapshot was known."""


def is_offline_copy(meeting: Meeting) -> bool:
    """Whether ``meeting`` is a time-only one restored from the copy: it has no subject,
    organiser or id central knows, so nothing can be shown or done with it but its times."""
    return meeting.id.startswith(OFFLINE_PREFIX)


def offline_details() -> str:
    """What the meeting card says instead of a subject for :func:`is_offline_copy`."""
    return _("Details unavailable while offline")


def offline_meetings(room_id: str, spans: Sequence[Span]) -> list[Meeting]:
    """Time-only meetings for the calendar store. They count as checked in so that no
    check-in is asked for and no no-show release happens from a copy that cannot know."""
    return [
        Meeting(
            id=f"{OFFLINE_PREFIX}{index}",
            room_id=room_id,
            start=start,
            end=end,
            checked_in=True,
        )
        for index, (start, end) in enumerate(sorted(spans))
    ]


def _room_dict(room: Room) -> dict[str, Any]:
    return {
        "id": room.id,
        "name": room.name,
        "building": room.building,
        "floor": room.floor,
        "capacity": room.capacity,
        "equipment": list(room.equipment),
        "auto_release": room.auto_release,
        "checkin_before_minutes": int(room.checkin_before.total_seconds() // 60),
        "checkin_after_minutes": int(room.checkin_after.total_seconds() // 60),
        "ask_booker": room.ask_booker,
        "presence_checkin": room.presence_checkin,
        "empty_offer_minutes": int(room.empty_offer.total_seconds() // 60),
        "empty_release_minutes": int(room.empty_release.total_seconds() // 60),
    }


def encode_copy(copy: OfflineCopy) -> bytes:
    """The file's bytes. Raises :class:`CopyError` over :data:`MAX_ROOMS`,
    :data:`MAX_SPANS` or :data:`MAX_BYTES`."""
    if len(copy.busy) > MAX_ROOMS:
        raise CopyError(f"more than {MAX_ROOMS} rooms")
    zone = copy.zone
    busy: dict[str, list[list[str]]] = {}
    for room_id, spans in copy.busy.items():
        if len(spans) > MAX_SPANS:
            raise CopyError(f"more than {MAX_SPANS} busy intervals in a room")
        busy[room_id] = [
            [start.astimezone(zone).isoformat(), end.astimezone(zone).isoformat()]
            for start, end in sorted(spans)
        ]
    data: dict[str, Any] = {
        "format": FORMAT,
        "about": _ABOUT,
        "day": copy.day.isoformat(),
        "timezone": zone.key,
        "saved_at": copy.saved_at.astimezone(zone).isoformat(timespec="seconds"),
    }
    if copy.site is not None:
        data["site"] = {
            "id": copy.site.id,
            "name": copy.site.name,
            "timezone": copy.site.timezone.key,
            "lobbies": list(copy.site.lobbies),
        }
        data["rooms"] = [_room_dict(room) for room in copy.site.rooms]
    data["busy"] = busy
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(raw) > MAX_BYTES:
        raise CopyError(f"larger than {MAX_BYTES} bytes")
    return raw


def _zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise CopyError("field 'timezone' must be a zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CopyError("field 'timezone' is not a known zone") from None


def _instant(text: Any, field: str) -> datetime:
    if not isinstance(text, str) or len(text) > 40:
        raise CopyError(f"field {field!r} must be an ISO 8601 time")
    try:
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            raise ValueError
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise CopyError(f"field {field!r} must be an ISO 8601 time with an offset") from None


def _busy(data: Any, bounds: tuple[datetime, datetime]) -> dict[str, tuple[Span, ...]]:
    if not isinstance(data, dict) or len(data) > MAX_ROOMS:
        raise CopyError(f"field 'busy' must map at most {MAX_ROOMS} room ids to intervals")
    busy: dict[str, tuple[Span, ...]] = {}
    for room_id, spans in data.items():
        if not 0 < len(room_id) <= 64:
            raise CopyError("a room id in 'busy' is empty or too long")
        if not isinstance(spans, list) or len(spans) > MAX_SPANS:
            raise CopyError(f"a room in 'busy' must list at most {MAX_SPANS} intervals")
        kept = []
        for span in spans:
            if not isinstance(span, list) or len(span) != 2:
                raise CopyError("each busy interval must be [start, end]")
            start, end = _instant(span[0], "busy start"), _instant(span[1], "busy end")
            if end <= start:
                raise CopyError("a busy interval ends before it starts")
            if start < bounds[1] and end > bounds[0]:  # only what touches the day
                kept.append((start, end))
        busy[room_id] = tuple(sorted(kept))
    return busy


def _site(data: dict[str, Any]) -> Site | None:
    if "site" not in data and "rooms" not in data:
        return None
    site, rooms = data.get("site"), data.get("rooms")
    if not isinstance(site, dict) or not isinstance(rooms, list):
        raise CopyError("fields 'site' and 'rooms' go together")
    if set(site) - {*_SITE_KEYS, "lobbies"}:
        raise CopyError("field 'site' has keys a copy never holds")
    if any(not isinstance(room, dict) or set(room) - _ROOM_KEYS for room in rooms):
        raise CopyError("field 'rooms' has entries or keys a copy never holds")
    lobbies = site.get("lobbies") or []
    try:
        return parse_rooms(
            {
                "site": {k: site.get(k) for k in _SITE_KEYS},
                "rooms": rooms,
                "lobbies": [{"id": lobby} for lobby in lobbies if isinstance(lobby, str)],
            }
        )
    except SnapshotError as exc:
        raise CopyError(f"rooms: {exc}") from None


def decode_copy(raw: bytes) -> OfflineCopy:
    """A copy from the file's bytes. Raises :class:`CopyError` when it is too large,
    not JSON, of another format, or holds any key a copy never has."""
    if len(raw) > MAX_BYTES:
        raise CopyError(f"larger than {MAX_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise CopyError("not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CopyError(f"not a format {FORMAT} availability copy")
    if set(data) - _TOP_KEYS:
        raise CopyError("it has keys a copy never holds")
    zone = _zone(data.get("timezone"))
    day_text = data.get("day")
    try:
        day = date.fromisoformat(day_text) if isinstance(day_text, str) else None
    except ValueError:
        day = None
    if day is None:
        raise CopyError("field 'day' must be an ISO 8601 date")
    return OfflineCopy(
        day=day,
        zone=zone,
        saved_at=_instant(data.get("saved_at"), "saved_at"),
        busy=_busy(data.get("busy"), day_bounds(day, zone)),
        site=_site(data),
    )


def _delete(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def read_copy(path: Path, now: datetime) -> OfflineCopy | None:
    """Today's copy at ``path``, or ``None``. A copy for another day (in its site's
    zone), malformed or too large is deleted, with one log line and no traceback;
    nothing else is touched. Blocking: call it off the UI loop. Never raises."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("offline availability copy %s not read: %s", path, exc.strerror or exc)
        return None
    try:
        copy = decode_copy(raw)
    except CopyError as exc:
        log.warning("offline availability copy %s ignored and deleted: %s", path, exc)
        _delete(path)
        return None
    today = site_day(now, copy.zone)
    if copy.day != today:
        log.info("offline availability copy is for %s, not today (%s): deleted", copy.day, today)
        _delete(path)
        return None
    return copy


class AvailabilityKeeper:
    """Keeps the runtime's free/busy in ``<state_dir>/availability.json`` and puts
    today's back at start. Used on the runtime's loop: :meth:`restore` once, then
    :meth:`on_snapshot` as the sync agent's snapshot handler."""

    def __init__(self, runtime: Runtime, state_dir: Path | None = None) -> None:
        self.runtime = runtime
        self.path = (state_dir or runtime.config.state_dir) / AVAILABILITY_FILE
        self.restored: OfflineCopy | None = None
        """The copy put back at start, if any (for a "saved at" on screen)."""
        self._busy: dict[str, tuple[Span, ...]] = {}
        self._site: Site | None = None
        self._own_from_calendar = False
        self._dirty = False
        self._lock = asyncio.Lock()
        runtime.on_applied = self._took

    async def restore(self) -> OfflineCopy | None:
        """Read today's copy (in a worker thread) and put into the runtime whatever it
        does not know yet: the site's rooms, every room's free/busy, and the own room's
        calendar as time-only meetings (see :func:`offline_meetings`)."""
        copy = await asyncio.to_thread(read_copy, self.path, self.runtime.clock())
        if copy is None:
            return None
        rt = self.runtime
        self._busy, self._site = dict(copy.busy), copy.site
        if copy.site is not None and not rt.site.rooms:
            rt.site = copy.site
            rt.calendar.zone = copy.site.timezone
        if rt.availability is None:
            rt.availability = dict(copy.busy)
        room = rt.config.room
        if room is not None and room in copy.busy and not rt.calendar.loaded(room):
            rt.calendar.replace_room(room, offline_meetings(room, copy.busy[room]))
        self.restored = copy
        log.info(
            "offline availability copy of %s restored (%d rooms, saved %s); central's "
            "snapshots replace it when they arrive",
            copy.day,
            len(copy.busy),
            copy.saved_at.astimezone(copy.zone).strftime("%H:%M"),
        )
        return copy

    async def on_snapshot(self, kind: str, data: Any) -> None:
        """The sync agent's snapshot handler: into the runtime's memory, then, when the
        runtime took a rooms, calendar or availability snapshot, into the copy."""
        self.runtime.apply_snapshot(kind, data)
        if self._dirty:
            self._dirty = False
            await self.flush()

    def _took(self, kind: str) -> None:
        """The runtime took a snapshot (a malformed one never gets here)."""
        rt, own = self.runtime, self.runtime.config.room
        if kind == "rooms":
            self._site = rt.site
        elif kind == "availability":
            kept = self._busy.get(own) if own is not None else None
            self._busy = dict(rt.availability or {})
            if own is not None and kept is not None and self._own_from_calendar:
                self._busy[own] = kept  # the own calendar's times are finer
        elif kind == "calendar" and own is not None:
            self._busy[own] = tuple(
                (m.start, m.end) for m in rt.calendar.meetings(own) if not is_offline_copy(m)
            )
            self._own_from_calendar = True
        else:
            return
        self._dirty = True

    async def flush(self) -> bool:
        """Write the copy in a worker thread; ``True`` when written. An oversize copy is
        refused and the older one deleted (a stale copy is worse than none); a failed
        write keeps the older one. Both are logged; neither raises."""
        rt = self.runtime
        now = rt.clock()
        zone = rt.site.timezone if rt.site.rooms else rt.calendar.zone
        day = site_day(now, zone)
        start, end = day_bounds(day, zone)
        busy = {
            room: tuple(s for s in spans if s[0] < end and s[1] > start)
            for room, spans in self._busy.items()
        }
        copy = OfflineCopy(day=day, zone=zone, saved_at=now, busy=busy, site=self._site)
        async with self._lock:  # one writer at a time (refresh and "Sync now" may overlap)
            try:
                raw = encode_copy(copy)
            except CopyError as exc:
                log.warning("offline availability copy not written (%s); old copy deleted", exc)
                await asyncio.to_thread(_delete, self.path)
                return False
            try:
                await asyncio.to_thread(write_private, self.path, raw)
            except OSError as exc:
                log.warning("offline availability copy not written: %s", exc.strerror or exc)
                return False
        return True
