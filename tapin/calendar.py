"""Today's calendar, in runtime memory only, and what it means for a room right now.

The :class:`CalendarStore` is the one place a device keeps meetings. It never writes
them anywhere: no file, no SQLite, no log line carries a subject or an organiser.
Observers (the UI) subscribe and are called on every change.

:func:`room_status` turns a room's meetings and a moment into what a panel shows:
free, starting soon or busy, and until when. All arithmetic is done on aware
datetimes (absolute instants), so DST changes and midnight need no special cases;
"today" is the site's day, computed in the site's zone.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tapin.domain import Meeting, Person

__all__ = [
    "STARTING_SOON",
    "CalendarStore",
    "Directory",
    "MeetingView",
    "RoomState",
    "RoomStatus",
    "day_bounds",
    "meeting_view",
    "room_status",
    "site_day",
]

STARTING_SOON = timedelta(minutes=10)
"""A free room whose next meeting starts within this is shown as "starting soon"."""

PRIVATE_SUBJECT = "Private meeting"


class RoomState(enum.StrEnum):
    FREE = "free"
    STARTING_SOON = "starting_soon"
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class RoomStatus:
    state: RoomState
    until: datetime | None
    """Free until (next meeting's start) or busy until (end of back-to-back meetings).
    ``None`` when free for the rest of the site's day."""
    current: Meeting | None
    next: Meeting | None

    def remaining(self, now: datetime) -> timedelta | None:
        return None if self.until is None else self.until - now.astimezone(UTC)


def site_day(moment: datetime, zone: ZoneInfo) -> date:
    """The site's calendar day at ``moment``."""
    return moment.astimezone(zone).date()


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of ``day`` in ``zone``, as UTC instants: 23, 24 or 25
    hours apart."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def room_status(
    meetings: Iterable[Meeting],
    now: datetime,
    zone: ZoneInfo,
    *,
    soon: timedelta = STARTING_SOON,
) -> RoomStatus:
    """What a room is doing at ``now``, from its meetings (any order).

    Busy lasts to the end of the chain of back-to-back or overlapping meetings that
    covers ``now``. Free lasts until the next meeting today; ``until`` is ``None``
    when nothing else starts before the end of the site's day.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)  # instants, not wall clocks (see tapin.domain._to_utc)
    ordered = sorted(meetings, key=lambda m: (m.start, m.end))
    current = next((m for m in ordered if m.covers(now)), None)
    if current is not None:
        busy_until = current.end
        for meeting in ordered:  # sorted by start: one pass follows the whole chain
            if meeting.start <= busy_until < meeting.end:
                busy_until = meeting.end
        upcoming = next((m for m in ordered if m.start >= busy_until), None)
        return RoomStatus(RoomState.BUSY, busy_until, current, upcoming)

    _, day_end = day_bounds(site_day(now, zone), zone)
    upcoming = next((m for m in ordered if m.start > now), None)
    if upcoming is None or upcoming.start >= day_end:
        return RoomStatus(RoomState.FREE, None, None, upcoming)
    state = RoomState.STARTING_SOON if upcoming.start - now <= soon else RoomState.FREE
    return RoomStatus(state, upcoming.start, None, upcoming)


class Directory:
    """People a device may show. Invisible people are dropped on the way in.

    Holding only visible entries means no code path can display a hidden person, not
    even by mistake: lookups of an invisible id answer ``None``.
    """

    def __init__(self, people: Iterable[Person] = ()) -> None:
        self._people: dict[str, Person] = {}
        self.replace(people)

    def replace(self, people: Iterable[Person]) -> None:
        self._people = {p.id: p for p in people if p.visible}

    def forget(self, person_id: str) -> None:
        self._people.pop(person_id, None)

    def get(self, person_id: str | None) -> Person | None:
        return None if person_id is None else self._people.get(person_id)

    def by_badge(self, badge: str) -> Person | None:
        """The visible person whose badge the reader typed (case and spaces ignored)."""
        wanted = "".join(badge.split()).upper()
        if not wanted:
            return None
        return next(
            (p for p in self._people.values() if p.badge_id and p.badge_id.upper() == wanted),
            None,
        )

    def search(self, query: str, limit: int = 6) -> list[Person]:
        """Visible people whose first or last name starts with what was typed."""
        words = query.casefold().split()
        if not words or len(query) > 100:
            return []
        found = [
            p
            for p in self._people.values()
            if all(any(part.startswith(w) for part in p.name.casefold().split()) for w in words)
        ]
        return sorted(found, key=lambda p: p.name.casefold())[:limit]

    def __len__(self) -> int:
        return len(self._people)

    def __iter__(self) -> Iterator[Person]:
        return iter(self._people.values())


@dataclass(frozen=True, slots=True)
class MeetingView:
    """What a screen may show of a meeting."""

    subject: str
    organiser: str | None
    start: datetime
    end: datetime
    private: bool


def meeting_view(meeting: Meeting, directory: Directory) -> MeetingView:
    """The displayable form of a meeting: private ones show no subject and no organiser;
    an organiser is named only when the directory lists them as visible."""
    if meeting.private:
        return MeetingView(PRIVATE_SUBJECT, None, meeting.start, meeting.end, True)
    organiser = directory.get(meeting.organiser_id)
    return MeetingView(
        subject=meeting.subject.strip() or "Meeting",
        organiser=organiser.name if organiser else None,
        start=meeting.start,
        end=meeting.end,
        private=False,
    )


Listener = Callable[[str], None]


_REBASED = -1
"""A settled local copy that is central's version plus a check-in made here: central's
next times are taken at once (they cannot be older than ours)."""


class CalendarStore:
    """Today's meetings per room, in memory, observable.

    ``loaded`` tells whether the calendar of a room is known at all: a panel restarted
    while offline has no calendar and must say so instead of showing "free".
    Thread-safe: the sync layer may replace a room's day from a worker thread;
    listeners are called on that thread with the room id (the UI marshals to its loop).
    """

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._lock = threading.Lock()
        self._meetings: dict[str, tuple[Meeting, ...]] = {}
        self._local: dict[str, dict[str, Meeting | None]] = {}
        self._settled: dict[str, dict[str, int]] = {}
        """Per room, the local changes central confirmed, and how many snapshots since
        named them without agreeing (see :meth:`settle_local`)."""
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(room_id)`` on every change; returns the unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def replace_room(
        self,
        room_id: str,
        meetings: Iterable[Meeting],
        mentioned: Collection[str] | None = None,
    ) -> None:
        """Set a room's meetings (a fresh snapshot from central or the demo).

        ``mentioned``: every id the snapshot names, those it does not show (released,
        ended) included. A local change central has confirmed gives way to central's
        version once a snapshot names it with the same times, names it as gone, or names
        it a second time (the first may have been read before central applied the
        change): central's later changes (a release from elsewhere, a booking moved in
        the room's calendar) then show here too. A check-in made here is kept over
        central's version (a booking made at the door counts as checked in) while the
        meeting still starts when it did."""
        ordered = tuple(sorted(meetings, key=lambda m: (m.start, m.end, m.id)))
        for meeting in ordered:
            if meeting.room_id != room_id:
                raise ValueError(
                    f"meeting {meeting.id} belongs to {meeting.room_id}, not {room_id}"
                )
        with self._lock:
            self._meetings[room_id] = ordered
            if mentioned is not None:
                self._give_way(room_id, {m.id: m for m in ordered}, mentioned)
        self._notify(room_id)

    def _give_way(
        self, room_id: str, shown: dict[str, Meeting], mentioned: Collection[str]
    ) -> None:
        settled = self._settled.get(room_id, {})
        local = self._local.get(room_id, {})
        for meeting_id in [m for m in settled if m in mentioned]:
            mine, theirs = local.get(meeting_id), shown.get(meeting_id)
            if theirs is None:  # central named it and does not show it: released, ended
                local.pop(meeting_id, None)
                del settled[meeting_id]
                continue
            moved = mine is not None and (mine.start, mine.end) != (theirs.start, theirs.end)
            if moved and settled[meeting_id] != _REBASED:
                settled[meeting_id] += 1  # maybe read before central applied ours...
                if settled[meeting_id] < 2:
                    continue  # ... not twice: then central's times are the times
            # a check-in made here stays (booked at the door: central may not record one),
            # unless central moved the start: the people at the door came for the old one
            kept = mine is not None and mine.checked_in and mine.start == theirs.start
            merged = replace(theirs, checked_in=theirs.checked_in or kept)
            if merged == theirs:
                local.pop(meeting_id, None)
                del settled[meeting_id]
            else:  # central's version from now on, with the check-in made here
                local[meeting_id] = merged
                settled[meeting_id] = _REBASED

    def forget_person(self, person_id: str) -> None:
        """Erase a person's traces: meetings they organise lose subject and organiser,
        and they leave every attendee list."""
        changed: list[str] = []
        with self._lock:
            for room_id, meetings in self._meetings.items():
                updated = tuple(
                    replace(
                        m,
                        subject="" if m.organiser_id == person_id else m.subject,
                        organiser_id=None if m.organiser_id == person_id else m.organiser_id,
                        attendee_ids=tuple(a for a in m.attendee_ids if a != person_id),
                    )
                    for m in meetings
                )
                if updated != meetings:
                    self._meetings[room_id] = updated
                    changed.append(room_id)
            for room_id, edits in self._local.items():
                for meeting_id, m in list(edits.items()):
                    mentioned = m is not None and (
                        m.organiser_id == person_id or person_id in m.attendee_ids
                    )
                    if m is not None and mentioned:
                        edits[meeting_id] = replace(
                            m,
                            organiser_id=None if m.organiser_id == person_id else m.organiser_id,
                            attendee_ids=tuple(a for a in m.attendee_ids if a != person_id),
                        )
                        changed.append(room_id)
        for room_id in changed:
            self._notify(room_id)

    def put_local(self, room_id: str, meeting: Meeting) -> None:
        """Show a change made on this device (a booking, a check-in, an extension)
        over central's snapshot until it is undone or central's version takes over
        (:meth:`settle_local`); same id replaces the snapshot's."""
        if meeting.room_id != room_id:
            raise ValueError(f"meeting {meeting.id} belongs to {meeting.room_id}, not {room_id}")
        with self._lock:
            self._local.setdefault(room_id, {})[meeting.id] = meeting
            self._settled.get(room_id, {}).pop(meeting.id, None)  # a new change pends
        self._notify(room_id)

    def hide_local(self, room_id: str, meeting_id: str) -> None:
        """Hide a meeting released or cancelled on this device."""
        with self._lock:
            self._local.setdefault(room_id, {})[meeting_id] = None
            self._settled.get(room_id, {}).pop(meeting_id, None)
        self._notify(room_id)

    def settle_local(self, room_id: str, meeting_id: str) -> None:
        """Central applied this device's change: no longer pending, and from now on
        central's snapshots decide (see :meth:`replace_room`)."""
        with self._lock:
            local = self._local.get(room_id, {})
            if meeting_id not in local:
                return
            mine = local[meeting_id]
            if mine is not None and mine.pending:
                local[meeting_id] = replace(mine, pending=False)
            self._settled.setdefault(room_id, {})[meeting_id] = 0
        self._notify(room_id)

    def undo_local(self, room_id: str, meeting_id: str) -> None:
        """Drop this device's change to a meeting: central's version shows again."""
        with self._lock:
            changed = self._local.get(room_id, {}).pop(meeting_id, 0) != 0
            self._settled.get(room_id, {}).pop(meeting_id, None)
        if changed:
            self._notify(room_id)

    def local(self, room_id: str, meeting_id: str) -> Meeting | None:
        with self._lock:
            return self._local.get(room_id, {}).get(meeting_id)

    def loaded(self, room_id: str) -> bool:
        with self._lock:
            return room_id in self._meetings

    def meetings(self, room_id: str, day: date | None = None) -> Sequence[Meeting]:
        """A room's meetings, those overlapping ``day`` (site time) when given."""
        with self._lock:
            meetings = self._meetings.get(room_id, ())
            local = dict(self._local.get(room_id, {}))
        if local:
            merged = [local.pop(m.id, m) for m in meetings]
            merged += local.values()
            meetings = tuple(
                sorted((m for m in merged if m is not None), key=lambda m: (m.start, m.end, m.id))
            )
        if day is None:
            return meetings
        start, end = day_bounds(day, self.zone)
        return tuple(m for m in meetings if m.start < end and m.end > start)

    def status(self, room_id: str, now: datetime) -> RoomStatus:
        return room_status(self.meetings(room_id), now, self.zone)

    def clear(self) -> None:
        with self._lock:
            rooms = list(self._meetings)
            self._meetings.clear()
            self._local.clear()
            self._settled.clear()
        for room_id in rooms:
            self._notify(room_id)

    def _notify(self, room_id: str) -> None:
        for listener in list(self._listeners):
            listener(room_id)
